#!/bin/bash
# A real `rblfleet serve` whose disk fills, by hand (the in-process form is
# tests/tests/e2e/diskfull.rs). Needs root: the data directory is a small
# tmpfs, filled with a ballast file.
#
#   1. a controller (data_dir on a 32 MiB tmpfs, store.min_free_mib = 8) and
#      one `rblfleet-agent run` reporting every second;
#   2. the ballast leaves 4 MiB free: the controller refuses reports
#      (RESOURCE_EXHAUSTED naming store.min_free_mib, logged), reports_stored
#      stops growing, the agent's outbox holds the reports;
#   3. the ballast is removed: ingest resumes by itself and the outbox drains;
#   4. the controller is stopped and `rblfleet verify` checks the store.
#
# Usage: sudo tests/soak/diskfull.sh          (builds the binaries first)
#   RBLFLEET_BIN=DIR uses binaries already built in DIR.
#   Logs and configs stay in the printed work directory on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
    echo "diskfull.sh needs root to mount a tmpfs" >&2
    exit 1
fi
if [ -z "${RBLFLEET_BIN:-}" ]; then
    cargo build -p rblfleet-controller -p rblfleet-agent --bins
    RBLFLEET_BIN=target/debug
fi
rblfleet=$(realpath "$RBLFLEET_BIN/rblfleet")
agent_bin=$(realpath "$RBLFLEET_BIN/rblfleet-agent")

work=$(mktemp -d /tmp/rblfleet-diskfull.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
mount -t tmpfs -o size=32m tmpfs "$mnt"
echo "work directory: $work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
agent_port=$(free_port)
admin_port=$(free_port)
admin="http://127.0.0.1:$admin_port"

"$rblfleet" ca init --dir "$work/ca" >/dev/null
"$rblfleet" ca issue --dir "$work/ca" --controller localhost,127.0.0.1 >/dev/null
"$rblfleet" ca issue --dir "$work/ca" --agent web01.example >/dev/null

cat >"$work/controller.toml" <<EOF
data_dir = "$mnt/data"
[agent_api]
listen = "127.0.0.1:$agent_port"
[admin_api]
listen = "127.0.0.1:$admin_port"
[tls]
ca = "$work/ca/ca.crt"
cert = "$work/ca/controller.crt"
key = "$work/ca/controller.key"
[store]
cache_mib = 4
min_free_mib = 8
[dnsbl]
enabled = false
EOF
cat >"$work/agent.toml" <<EOF
host_id = "web01.example"
[controller]
url = "https://localhost:$agent_port"
ca = "$work/ca/ca.crt"
cert = "$work/ca/agents/web01.example.crt"
key = "$work/ca/agents/web01.example.key"
[report]
interval = "1s"
[outbox]
dir = "$work/outbox"
[retry]
initial = "100ms"
max = "1s"
[ips]
static = ["203.0.113.10"]
EOF

"$rblfleet" serve --config "$work/controller.toml" >"$work/controller.log" 2>&1 &
pids+=($!)
controller_pid=$!
"$agent_bin" run --config "$work/agent.toml" >"$work/agent.log" 2>&1 &
pids+=($!)

stored() {
    "$rblfleet" hosts --format json --controller "$admin" 2>/dev/null |
        python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["reports_stored"] if h else 0)' 2>/dev/null || echo 0
}
wait_for() { # DESCRIPTION SECONDS COMMAND...
    local what=$1 secs=$2
    shift 2
    for _ in $(seq "$secs"); do
        if "$@"; then return 0; fi
        sleep 1
    done
    echo "FAILED: $what within ${secs}s (logs in $work)" >&2
    trap - EXIT
    cleanup
    exit 1
}
at_least() { [ "$(stored)" -ge "$1" ]; }

wait_for "first reports stored" 60 at_least 3
echo "reports stored before the disk fills: $(stored)"

avail=$(df -B1 --output=avail "$mnt" | tail -1)
ballast=$((avail - 4 * 1024 * 1024))
head -c "$ballast" /dev/zero >"$mnt/ballast"
echo "ballast written; free now: $(df -h --output=avail "$mnt" | tail -1)"

wait_for "a refusal naming store.min_free_mib in the controller log" 30 grep -q "min_free_mib" "$work/controller.log"
frozen=$(stored)
sleep 5
if [ "$(stored)" != "$frozen" ]; then
    echo "FAILED: reports were stored below the reserve ($frozen -> $(stored))" >&2
    exit 1
fi
echo "ingest refused below the reserve; reports_stored stays at $frozen"
grep -m1 "min_free_mib" "$work/controller.log" || true

rm "$mnt/ballast"
wait_for "ingest to resume after space returned" 60 at_least $((frozen + 3))
echo "space returned; reports stored now: $(stored)"

kill "$controller_pid"
wait "$controller_pid" || true
"$rblfleet" verify --data-dir "$mnt/data"
echo "PASSED: refusal with a reason, nothing stored below the reserve, recovery, store consistent"
