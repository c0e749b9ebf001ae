#!/bin/sh
# Long form of the agent crash test: `rblfleet-agent run` processes follow a
# growing mail log rotated 50 times (rename and copytruncate alternately) and
# are killed with SIGKILL 20 times; their totals at the controller must equal
# an offline `rblfleet-agent scan` of every line. See README.md here.
#
# Usage: tests/soak/agent-kill.sh [extra test-harness args]
#   RBLFLEET_SOAK_SEED=N replays the kill and rotation schedule of an earlier run.
set -eu
cd "$(dirname "$0")/../.."
# The test runs the binaries next to its own executable: build them first.
cargo build --workspace --bins
RBLFLEET_SOAK=long exec cargo test -p rblfleet-tests --test soak agent_kill -- --nocapture "$@"
