#!/usr/bin/env bash
# Long fuzz runs of every fuzz target (the same targets `cargo test` runs for 2 s each).
#
#   scripts/fuzz.sh --minutes 30        # 30 minutes in all, shared between the targets
#   SWITCHYARD_FUZZ_SEED=7 scripts/fuzz.sh --minutes 5
#
# Findings (a panic, or one input slower than 2 s) fail the run and are written to
# $SWITCHYARD_FUZZ_FINDINGS (default ./target/fuzz-findings). The last lines are the summary to
# record in RELIABILITY.md: executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--minutes N]" >&2; exit 2 ;;
  esac
done

total=10 # fuzz targets: 4 in the gateway's unit tests, 5 in its tests/fuzz.rs, 1 in the store's
per_target=$(awk -v m="$minutes" -v n="$total" 'BEGIN { printf "%.0f", m * 60 / n }')
export SWITCHYARD_FUZZ_SECS="$per_target"
export SWITCHYARD_FUZZ_FINDINGS="${SWITCHYARD_FUZZ_FINDINGS:-$PWD/target/fuzz-findings}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "fuzzing $total targets for ${per_target}s each (release build), findings in $SWITCHYARD_FUZZ_FINDINGS"
# one build for both packages; one target at a time, so each gets a whole core for its time
status=0
cargo test --release --locked -p switchyard-gateway -p switchyard-store fuzz_ -- \
  --test-threads=1 --nocapture >"$log" 2>&1 || status=$?
grep -E "fuzz [a-z-]+: .*(panicked|took)|^error" "$log" || true
echo
echo "== summary ($(date -u +%FT%TZ), seed ${SWITCHYARD_FUZZ_SEED:-default}, ${per_target}s per target)"
grep -oE "fuzz [a-z-]+: [0-9]+ inputs in [0-9.]+ s" "$log" | sed 's/^fuzz /  /'
if ((status)); then
  echo "FAILED (exit $status): findings above and in $SWITCHYARD_FUZZ_FINDINGS" >&2
  tail -40 "$log" >&2
fi
exit "$status"
