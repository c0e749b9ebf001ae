#!/bin/sh
# Builds the Windows agent zip, target/windows/rblfleet-agent-VERSION-windows-x86_64.zip:
#
#   rblfleet-agent-VERSION-windows-x86_64/
#     rblfleet-agent.exe       the agent (x86_64-pc-windows-gnu, release, static C runtime)
#     agent.example.toml       copied to %ProgramData%\rblfleet\agent.toml by `service install`
#     README.md                install, upgrade and the service commands
#
# Cross-compiled here with MinGW (installed when missing, like check.sh).
# Not part of CI: a release build takes several minutes on two cores.
set -eu

cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
deploy/windows/check.sh --install-only

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name=rblfleet-agent-$version-windows-x86_64
start=$(date +%s)
# A static C runtime: the zip needs no MinGW DLLs on the host.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked -p rblfleet-agent --target "$target"

target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/windows
rm -rf "$out/$name" "$out/$name.zip"
mkdir -p "$out/$name"
cp "$target_dir/$target/release/rblfleet-agent.exe" "$out/$name/"
cp deploy/windows/agent.example.toml deploy/windows/README.md "$out/$name/"
(cd "$out" && zip -qr "$name.zip" "$name")
echo "built in $(( $(date +%s) - start )) s: $out/$name.zip"
