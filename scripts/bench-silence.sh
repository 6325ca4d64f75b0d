#!/usr/bin/env bash
# frontdesk's silence benchmark: the silence a caller hears after their last
# word, and the time to the real answer, with and without speculative turns,
# against a fake model with a set latency (see docs/performance.md).
#   scripts/bench-silence.sh                               # 8 callers x 3 rounds, model 0.8 s, endpointing 1 s
#   scripts/bench-silence.sh --model-ms 1200 --endpoint-ms 700 --calls 4 --rounds 5
#   PROFILE=dev scripts/bench-silence.sh                   # reuse a debug build instead of an optimised one
# Results go to results/silence.md and .json (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required" >&2; exit 1; }
# The real-time callers and the fake model are part of the bench itself
# (benches/silence.rs, the server runs in the same process).
exec cargo bench --locked --profile "${PROFILE:-bench}" --bench silence -- "$@"
