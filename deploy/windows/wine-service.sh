#!/bin/sh
# Smoke test of the Windows service under Wine's Service Control Manager:
# the real SCM calls (windows/system.rs), which no unit test can reach.
# The zip's layout under C:\Program Files\rblfleet, a bundle from
# `rblfleet ca issue`, then, as an administrator would:
#
#   service install                  the example config copied into %ProgramData%\rblfleet
#   check-config                     the example config, edited, with the bundle
#   service start / stop, twice      every stop clean: flushed, positions written
#   service uninstall
#
# and the service's own log must show two clean stops and no unclean one.
# Run after wine-test.sh (its toolchain and Wine); a fresh Wine prefix each
# time, so a service left by a failed run never starts elsewhere.
set -eu

cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$(pwd)/$target_dir ;; esac

cargo build --locked -q -p rblfleet-agent --target "$target" --bin rblfleet-agent
cargo build --locked -q -p rblfleet-controller --bin rblfleet

work=$target_dir/wine-service
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
export WINEPREFIX="$prefix" WINEDEBUG=-all
"$wine" cmd /c exit >/dev/null 2>&1 || true
x86_64-w64-mingw32-gcc -O2 -shared -o "$prefix/drive_c/windows/system32/bcryptprimitives.dll" \
    deploy/windows/wine/bcryptprimitives.c deploy/windows/wine/bcryptprimitives.def -lbcrypt
# Wine ends the services when a session's last program exits: one session
# at a time, each waited for.
session() {
    "$wine" cmd /c "$1" >"$work/$2.out" 2>&1 || { cat "$work/$2.out" >&2; echo "FAILED: $2" >&2; exit 1; }
    "$wineserver" -w
}

program="$prefix/drive_c/Program Files/rblfleet"
data="$prefix/drive_c/ProgramData/rblfleet"
mkdir -p "$program"
cp "$target_dir/$target/debug/rblfleet-agent.exe" deploy/windows/agent.example.toml deploy/windows/README.md \
    "$program/"
agent='"C:\Program Files\rblfleet\rblfleet-agent.exe"'

printf '@%s service install\n' "$agent" >"$prefix/drive_c/install.bat"
session 'C:\install.bat' install
grep -q "installed the service rblfleet-agent" "$work/install.out"
cmp deploy/windows/agent.example.toml "$data/agent.toml"

"$target_dir/debug/rblfleet" ca init --dir "$work/ca" >/dev/null
"$target_dir/debug/rblfleet" ca issue --dir "$work/ca" --agent win01.example.net >/dev/null
cp "$work/ca/bundles/win01.example.net/"* "$data/"
# Nothing listens on port 9: reports wait in the outbox, as with a
# controller that is down.
sed -i 's|^url = .*|url = "https://127.0.0.1:9"|' "$data/agent.toml"

# `a || b` runs b even when a succeeds in Wine 8's cmd: errorlevel instead.
cat >"$prefix/drive_c/lifecycle.bat" <<BAT
@echo off
$agent check-config
if errorlevel 1 exit /b 1
$agent service start
if errorlevel 1 exit /b 1
ping -n 3 127.0.0.1 >NUL
$agent service stop
if errorlevel 1 exit /b 1
$agent service start
if errorlevel 1 exit /b 1
$agent service stop
if errorlevel 1 exit /b 1
$agent service uninstall
if errorlevel 1 exit /b 1
BAT
session 'C:\lifecycle.bat' lifecycle
out=$work/lifecycle.out
grep -q "host id:     win01.example.net (from certificate" "$out"
[ "$(grep -c "the service runs" "$out")" -eq 2 ]
[ "$(grep -c "the service stopped" "$out")" -eq 2 ]
grep -q "removed the service" "$out"
log=$data/logs/agent.log
[ "$(grep -c "the agent runs as a service" "$log")" -eq 2 ] || { cat "$log" >&2; exit 1; }
[ "$(grep -c "agent stopped" "$log")" -eq 2 ] || { cat "$log" >&2; exit 1; }
if grep -q "did not stop cleanly" "$log"; then cat "$log" >&2; exit 1; fi
# No MailEnable in this prefix: its usual logs are waited for, not a journal.
grep -q 'following the mail log source=C:\\Program Files (x86)\\Mail Enable\\Logging\\SMTP\\SMTP-Activity-\*.log' "$log" ||
    { cat "$log" >&2; exit 1; }
if grep -q journalctl "$log"; then cat "$log" >&2; exit 1; fi
echo "wine service: install, check-config, start/stop twice (clean), uninstall: ok"
# Passed: its prefix (about 750 MB) is not needed again; a failure above
# exits first and leaves it for a look.
"$wineserver" -k 2>/dev/null || true
rm -rf "$work"
