#!/bin/sh
# Checks (clippy, -D warnings, every target: the library, the binary and the
# tests) the agent for Windows, cross-compiled with MinGW: the cfg(windows)
# code (the service, the registry, the event log) never builds on Linux
# otherwise. Installs what is missing first: the Rust target
# x86_64-pc-windows-gnu (rustup) and the MinGW-w64 toolchain (apt-get), which
# clippy needs for the C parts of dependencies (ring).
#
#   deploy/windows/check.sh                 # install if needed, then clippy
#   deploy/windows/check.sh --install-only  # only the toolchain (build-zip.sh, ci.sh)
#
# Exit status: clippy's; with --install-only, non-zero when the toolchain
# cannot be installed here (no network for rustup, not root and no sudo).
set -eu

cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu

if ! rustup target list --installed | grep -qx "$target"; then
    echo "installing the Rust target $target" >&2
    rustup target add "$target"
fi
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    echo "installing MinGW-w64 (apt-get)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "cannot install MinGW-w64: not root and no sudo" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mingw-w64 >/dev/null
fi
[ "${1:-}" = --install-only ] && exit 0

cargo clippy --locked -p rblfleet-agent --target "$target" --all-targets -- -D warnings
