#!/bin/sh
# Long form of the controller crash test: 100 in-process agents report to a
# real `rblfleet serve`, which is killed with SIGKILL 20 times and restarted
# on the same data directory and ports. See README.md in this directory.
#
# Usage: tests/soak/controller-kill.sh [extra test-harness args]
#   RBLFLEET_SOAK_SEED=N replays the kill schedule of an earlier run.
set -eu
cd "$(dirname "$0")/../.."
# The test runs the binaries next to its own executable: build them first.
cargo build --workspace --bins
RBLFLEET_SOAK=long exec cargo test -p rblfleet-tests --test soak controller_kill -- --nocapture "$@"
