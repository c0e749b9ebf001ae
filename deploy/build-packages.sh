#!/bin/sh
# Builds the Debian packages rblfleet-controller_*.deb and rblfleet-agent_*.deb
# into target/debian/. Not part of CI (.ci/run): a release build of both
# binaries takes several minutes on two cores.
#
#   deploy/build-packages.sh            # both packages
#   deploy/build-packages.sh agent      # only rblfleet-agent
#
# Needs cargo-deb in PATH (installed with `cargo install cargo-deb --locked`
# if missing) and gzip. The packages are for the architecture
# of the build machine and the glibc it has: build on the oldest Debian or
# Ubuntu release you deploy to.
set -eu

cd "$(dirname "$0")/.."
which=${1:-all}
case "$which" in all|controller|agent) ;; *) echo "usage: $0 [all|controller|agent]" >&2; exit 2 ;; esac

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "cargo-deb not found: running cargo install cargo-deb --locked" >&2
    cargo install cargo-deb --locked
fi

packages=""
[ "$which" != agent ] && packages="$packages controller"
[ "$which" != controller ] && packages="$packages agent"

start=$(date +%s)
for package in $packages; do
    cargo build --release --locked -p "rblfleet-$package"
done

# Man pages and completions come from the binaries just built, so they
# describe exactly these flags and RBLFLEET_* variables.
for package in $packages; do
    case "$package" in controller) bin=rblfleet ;; agent) bin=rblfleet-agent ;; esac
    out=target/package-assets/$package
    rm -rf "$out"
    mkdir -p "$out/completions"
    "target/release/$bin" man --dir "$out/man" >/dev/null
    gzip -9n "$out"/man/*.1
    "target/release/$bin" completions bash >"$out/completions/$bin.bash"
    "target/release/$bin" completions zsh >"$out/completions/_$bin"
    "target/release/$bin" completions fish >"$out/completions/$bin.fish"
done

for package in $packages; do
    cargo deb --no-build -p "rblfleet-$package"
done

echo "built in $(( $(date +%s) - start )) s:"
ls -l target/debian/*.deb
