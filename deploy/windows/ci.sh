#!/bin/sh
# The Windows steps of .ci/run (issue 19), in two parts so that .ci/run keeps
# its order (fmt, clippy, Windows clippy, tests, Windows tests):
#
#   deploy/windows/ci.sh clippy   the agent, every target, for x86_64-pc-windows-gnu (check.sh)
#   deploy/windows/ci.sh wine     the agent's unit tests for Windows under Wine (wine-test.sh),
#                                 then the service's install/start/stop/uninstall (wine-service.sh)
#
# A toolchain that cannot be installed here (rustup without network, apt-get
# not allowed, not root) is a loud WARNING naming what is skipped, and the
# step passes; a lint or a test that fails fails the step.
#
# Cost on the 2-core box (CARGO_TARGET_DIR fresh, toolchain installed, other
# builds running: load 4-10): clippy 1.9-4.5 min; wine 2.9-5 min for the unit
# tests (test build, new Wine prefix, ~160 tests in 6-11 s) plus about 1 min
# for the service smoke test once `cargo test --workspace` built the
# controller. After a change to the agent: 11 s, 11 s and 31-55 s.
set -eu

cd "$(dirname "$0")/../.."

warn() {
    {
        echo "################################################################"
        echo "WARNING: $1"
        echo "################################################################"
    } >&2
}

start=$(date +%s)
case "${1:-}" in
clippy)
    if ! deploy/windows/check.sh --install-only; then
        warn "the Rust target x86_64-pc-windows-gnu or MinGW-w64 cannot be installed here: \
the Windows clippy of the agent is SKIPPED (and so are its Windows unit tests)"
        exit 0
    fi
    deploy/windows/check.sh
    ;;
wine)
    if ! deploy/windows/wine-test.sh --install-only; then
        warn "MinGW-w64, the Rust target x86_64-pc-windows-gnu or Wine cannot be installed here: \
the agent's unit tests for Windows under Wine are SKIPPED"
        exit 0
    fi
    deploy/windows/wine-test.sh
    deploy/windows/wine-service.sh
    ;;
*)
    echo "usage: $0 clippy|wine" >&2
    exit 2
    ;;
esac
echo "windows $1: $(($(date +%s) - start)) s" >&2
