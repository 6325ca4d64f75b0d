#!/usr/bin/env bash
# frontdesk's benchmark: turns/s, latency, server CPU per turn and memory per
# live call, against the release server on loopback (see docs/performance.md).
#   scripts/bench.sh                       # the default runs (about 2 minutes)
#   scripts/bench.sh --soak-secs 600       # add a 10-minute soak
#   scripts/bench.sh --calls 1000 --secs 20 --single-secs 10 --conns 50 --memory-calls 10000
# Results go to results/ (not committed) as Markdown and JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required" >&2; exit 1; }
# The load generator and the fake LLM server are part of the bench itself
# (benches/turns.rs), built from crates.io like the rest: nothing else to install.
cargo build --release --locked --bin frontdesk
exec cargo bench --locked --bench turns -- "$@"
