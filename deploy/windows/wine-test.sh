#!/bin/sh
# Runs the agent's unit tests built for Windows (x86_64-pc-windows-gnu) under
# Wine: the discovery, the service install logic, the dated series and the
# parsers on the Windows standard library (paths with drive letters, no
# inodes). Installs what is missing first (check.sh --install-only, then the
# wine64 package), and a stand-in bcryptprimitives.dll that Wine 8 lacks
# (deploy/windows/wine/).
#
#   deploy/windows/wine-test.sh                 # install if needed, then test
#   deploy/windows/wine-test.sh --install-only  # only MinGW and Wine (ci.sh)
#
# Skipped: tests whose helpers write a temporary directory into a TOML basic
# string ("C:\users\..." is an invalid \u escape there) or expect '/' in
# paths; they are Linux-only until those helpers quote paths as TOML
# literals; and the test that the Linux example config equals the defaults
# (on Windows, an empty logs.paths becomes MailEnable's activity logs).
# Everything else must pass: the exit status is the tests'.
set -eu

cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
deploy/windows/check.sh --install-only
wine=/usr/lib/wine/wine64
if [ ! -x "$wine" ]; then
    echo "installing Wine (apt-get)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "cannot install Wine: not root and no sudo" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wine64 >/dev/null
fi
[ "${1:-}" = --install-only ] && exit 0

target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$(pwd)/$target_dir ;; esac
# A prefix of its own, with no MailEnable in its registry: discovery would
# change the configs the tests load.
prefix=$target_dir/wine-test-prefix
export WINEPREFIX="$prefix" WINEDEBUG=-all
if [ ! -d "$prefix/drive_c/windows/system32" ]; then
    "$wine" cmd /c exit >/dev/null 2>&1 || true
fi
if [ ! -f "$prefix/drive_c/windows/system32/bcryptprimitives.dll" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$prefix/drive_c/windows/system32/bcryptprimitives.dll" \
        deploy/windows/wine/bcryptprimitives.c deploy/windows/wine/bcryptprimitives.def -lbcrypt
fi

CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$wine" \
    cargo test --locked -p rblfleet-agent --target "$target" --lib -- --test-threads 2 \
    --skip run::tests --skip doctor::tests \
    --skip config::tests::relative_log_and_passwd_paths_follow_the_config_file \
    --skip config::tests::load_resolves_relative_paths_against_the_file \
    --skip config::tests::example_file_parses_and_matches_defaults
