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

# test binary · filter · number of fuzz targets in it
suites=(
  "-p switchyard-gateway --lib|fuzz_|4"
  "-p switchyard-gateway --test fuzz|fuzz_|5"
  "-p switchyard-store --lib|fuzz_|1"
)
total=10
per_target=$(awk -v m="$minutes" -v n="$total" 'BEGIN { printf "%.0f", m * 60 / n }')
export SWITCHYARD_FUZZ_SECS="$per_target"
export SWITCHYARD_FUZZ_FINDINGS="${SWITCHYARD_FUZZ_FINDINGS:-$PWD/target/fuzz-findings}"
log=$(mktemp)
echo "fuzzing $total targets for ${per_target}s each (release build), findings in $SWITCHYARD_FUZZ_FINDINGS"
status=0
for suite in "${suites[@]}"; do
  IFS='|' read -r args filter _ <<<"$suite"
  # one target at a time: each gets a whole core for its time
  # shellcheck disable=SC2086
  if ! cargo test --release --locked $args "$filter" -- --test-threads=1 --nocapture 2>&1 | tee -a "$log" | grep -E "^fuzz |panicked|FAILED"; then
    :
  fi
  if grep -q "FAILED\|panicked" "$log"; then status=1; fi
done
echo
echo "== summary ($(date -u +%FT%TZ), seed ${SWITCHYARD_FUZZ_SEED:-default}, ${per_target}s per target)"
grep -E "^fuzz [a-z-]+: [0-9]+ inputs" "$log" | sed 's/^fuzz /  /'
if ((status)); then
  echo "FINDINGS: see above and $SWITCHYARD_FUZZ_FINDINGS" >&2
fi
rm -f "$log"
exit "$status"
