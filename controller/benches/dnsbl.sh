#!/usr/bin/env bash
# Blocklist lookup benchmark: NSD on 127.0.0.1 serving a DNSBL-style zone,
# measured by dnsperf and by rblfleet's own lookups, in the same run.
#   controller/benches/dnsbl.sh [COUNT]
# Needs the Debian packages nsd and dnsperf (installed if missing, as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-200000}
port=15353
for pkg in nsd dnsperf; do
    command -v "$pkg" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nsd dnsperf; }
done
work=$(mktemp -d)
trap 'kill $(cat "$work/nsd.pid" 2>/dev/null) 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT

# Zone: the first 256 IPs of 10.0.0.0/8 listed, everything else NXDOMAIN.
{
    echo '$TTL 60'
    echo '@ IN SOA ns.bench.test. admin.bench.test. 1 3600 600 86400 60'
    echo '@ IN NS ns.bench.test.'
    echo 'ns IN A 127.0.0.1'
    echo '2.0.0.127 IN A 127.0.0.2'
    for d in $(seq 0 255); do echo "$d.0.0.10 IN A 127.0.0.2"; done
} > "$work/bench.test.zone"
cat > "$work/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$port
    port: $port
    username: ""
    chroot: ""
    zonesdir: "$work"
    database: ""
    pidfile: "$work/nsd.pid"
    xfrdfile: "$work/xfrd.state"
    zonelistfile: "$work/zone.list"
    logfile: "$work/nsd.log"
    server-count: 1
    verbosity: 0
    # Response rate limiting is on by default; a benchmark must turn it off.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
CONF
nsd -c "$work/nsd.conf"
sleep 1

# dnsperf: the same names rblfleet asks (reversed octets of 10.0.0.0 upwards).
python3 - "$count" > "$work/queries" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    a = 10 * 2**24 + i
    print(f"{a & 255}.{(a >> 8) & 255}.{(a >> 16) & 255}.{a >> 24}.bench.test A")
PY
echo "== dnsperf (${count} queries, 64 outstanding)"
dnsperf -s 127.0.0.1 -p $port -d "$work/queries" -n 1 -q 64 -c 1 2>&1 | grep -E "Queries completed|Queries lost|Queries per second"

echo "== rblfleet lookups"
for c in 64 256 1024; do
    cargo bench -q -p rblfleet-controller --bench dnsbl -- lookups --server 127.0.0.1:$port --zone bench.test --count "$count" --concurrency $c
done
