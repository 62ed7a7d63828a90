#!/usr/bin/env bash
# The soak: mixed traffic (chat, streams, embeddings, cache hits, errors, an alias over chaos
# upstreams) against the release binary, with its RSS, open files, metric series and log queue
# sampled throughout; fails unless they stay flat and no request hangs.
#
#   scripts/soak.sh                 # 30 minutes
#   scripts/soak.sh --minutes 10
#
# The table it prints (and the summary line) is what RELIABILITY.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: scripts/soak.sh [--minutes N]" >&2; exit 2 ;;
  esac
done
echo "soak: ${minutes} minutes against the release build ($(date -u +%FT%TZ))"
SOAK_MINUTES="$minutes" cargo test --release --locked -p switchyard --test soak -- \
  --ignored --nocapture --test-threads=1 2>&1 | grep -vE "^\s*(Compiling|Finished|Running|running|$)"
