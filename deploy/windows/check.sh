#!/bin/sh
# Checks (clippy, -D warnings) the agent for Windows, cross-compiled with
# MinGW: the cfg(windows) code (the service, the registry) never builds on
# Linux otherwise. Installs what is missing first: the Rust target
# x86_64-pc-windows-gnu (rustup) and the MinGW-w64 toolchain (apt-get),
# which clippy needs for the C parts of dependencies (ring).
#
#   deploy/windows/check.sh                 # install if needed, then clippy
#   deploy/windows/check.sh --install-only  # only the toolchain (build-zip.sh)
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
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mingw-w64 >/dev/null
fi
[ "${1:-}" = --install-only ] && exit 0

cargo clippy --locked -p rblfleet-agent --target "$target" -- -D warnings
