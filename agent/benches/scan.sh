#!/usr/bin/env bash
# Agent benchmarks, printed (never asserted):
#  1. `rblfleet-agent scan` throughput vs pflogsumm on the same generated
#     Postfix log, in the same run (best of RUNS for each), for two logs of
#     MB each: a quiet host's (`generate`) and the same host's during an
#     outbreak (`generate-outbreak`: a third of remote deliveries refused, in
#     hundreds of wordings), with the per-byte speed of each;
#  2. resident memory of `rblfleet-agent run` following a log that a writer
#     appends to at RATE lines/s for SECS seconds (controller unreachable:
#     reports keep spooling to the outbox).
#
#   agent/benches/scan.sh [MB] [RATE] [SECS] [INTERVAL]
#       defaults: 60 MB, 2000 lines/s, 60 s, report.interval 60 s (the agent's default)
#
# Needs the Debian package pflogsumm (installed if missing, as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
mb=${1:-60}
rate=${2:-2000}
secs=${3:-60}
interval=${4:-60}
runs=5

command -v pflogsumm >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pflogsumm
}
cargo build --release -q -p rblfleet-agent --bin rblfleet-agent
cargo bench -q -p rblfleet-agent --bench scan --no-run 2>/dev/null
gen() { cargo bench -q -p rblfleet-agent --bench scan -- "$@"; }
agent=target/release/rblfleet-agent

work=$(mktemp -d)
agent_pid=
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. scan throughput -----------------------------------------------------
quiet=$work/maillog.quiet
outbreak=$work/maillog.outbreak
gen generate "$quiet" "$mb"
gen generate-outbreak "$outbreak" "$mb"

# Best wall-clock seconds of $runs runs of "$@" (stdout discarded).
best() {
    local best_ns=
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null
        end=$(date +%s%N)
        local ns=$((end - start))
        if [ -z "$best_ns" ] || [ "$ns" -lt "$best_ns" ]; then best_ns=$ns; fi
    done
    awk -v ns="$best_ns" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

pfl_version=$(dpkg-query -W -f '${Version}' pflogsumm 2>/dev/null || echo '?')
declare -A speed
for kind in quiet outbreak; do
    log=${!kind}
    bytes=$(stat -c %s "$log")
    cat "$log" >/dev/null # both tools read from the page cache
    echo "== $kind log: $bytes bytes, $(wc -l <"$log") lines; best of $runs runs each"
    t_pfl=$(best pflogsumm "$log")
    t_scan=$(best "$agent" scan --format json "$log")
    t_table=$(best "$agent" scan --format table "$log")
    awk -v b="$bytes" -v p="$t_pfl" -v s="$t_scan" -v t="$t_table" -v v="$pfl_version" 'BEGIN {
        printf "pflogsumm %s                     %7.3f s  %7.1f MB/s\n", v, p, b / 1e6 / p
        printf "rblfleet-agent scan --format json     %7.3f s  %7.1f MB/s  (%.1fx pflogsumm)\n", s, b / 1e6 / s, p / s
        printf "rblfleet-agent scan --format table    %7.3f s  %7.1f MB/s  (%.1fx pflogsumm)\n", t, b / 1e6 / t, p / t
    }'
    speed[$kind]=$(awk -v b="$bytes" -v s="$t_scan" 'BEGIN { printf "%.1f", b / 1e6 / s }')
    /usr/bin/time -f "scan peak RSS: %M KB" "$agent" scan --format json "$log" >/dev/null
done
echo "scan --format json per byte: outbreak ${speed[outbreak]} MB/s, quiet ${speed[quiet]} MB/s" \
    "($(awk -v o="${speed[outbreak]}" -v q="${speed[quiet]}" 'BEGIN { printf "%.2f", o / q }')x)"
rm -f "$quiet" "$outbreak"

# --- 2. resident memory while following a busy log -------------------------
follow=$work/follow/mail.log
mkdir -p "$work/follow"
: >"$follow"
cat >"$work/agent.toml" <<TOML
host_id = "bench.example"
[controller]
url = "http://127.0.0.1:9"
[report]
interval = "${interval}s"
[outbox]
dir = "$work/outbox"
[logs]
paths = ["$follow"]
[queue]
mta = "none"
TOML
RUST_LOG=warn,rblfleet_agent::run=debug "$agent" run --insecure --config "$work/agent.toml" 2>"$work/agent.err" &
agent_pid=$!
sleep 1
gen append "$follow" "$rate" "$secs" >"$work/append.out" &
writer=$!
max=0
start_rss=$(awk '/VmRSS/ { print $2 }' "/proc/$agent_pid/status")
while kill -0 "$writer" 2>/dev/null; do
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$agent_pid/status" 2>/dev/null || echo 0)
    [ "$rss" -gt "$max" ] && max=$rss
    sleep 0.2
done
sleep $((interval + 1)) # one more report after the writer stopped
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$agent_pid/status")
[ "$rss" -gt "$max" ] && max=$rss
cat "$work/append.out"
echo "rblfleet-agent run: VmRSS at start ${start_rss} KB, max $max KB ($(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }') MiB), at end $rss KB"
echo "log bytes followed: $(stat -c %s "$follow"); outbox: $(du -sk "$work/outbox" | cut -f1) KB on disk"
echo "reports recorded (agent debug log):"
grep -o 'report recorded.*\|seq=.*report recorded' "$work/agent.err" | sed 's/\x1b\[[0-9;]*m//g' | head -5 || true
grep -v -e "controller unreachable" -e "insecure" "$work/agent.err" | grep -iE "error|warn" | head -5 || true
