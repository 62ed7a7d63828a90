#!/usr/bin/env bash
# Stable Diffusion 1.5, 512×512, seconds per image at 1 and 4 steps (DDIM, trailing
# timesteps, no guidance — SD-Turbo's way of sampling), f32 on the CPU, 2 threads: Switchyard's
# pipeline against diffusers (torch) and stable-diffusion.cpp on the same folder, each engine's
# model loaded once and not timed. The model is SD 1.5's architecture with seeded random
# weights (no trained checkpoint is packaged; a step costs the same whatever the weights),
# written by the image bench to ~/.cache/switchyard/sd15-random (4.3 GB) on first use.
#
# usage: scripts/bench-image.sh [--runs 3] [--sd-cli PATH]
# Needs: diffusers + torch importable by ${DIFFUSERS_PYTHON:-python3}; for stable-diffusion.cpp,
# its sd-cli built from PyPI's stable-diffusion-cpp-python sdist (vendor/stable-diffusion.cpp:
# cmake -B build -DGGML_NATIVE=ON && cmake --build build --target sd-cli).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 sd_cli=""
while (($#)); do case "$1" in
  --runs) runs=$2; shift 2;;
  --sd-cli) sd_cli=$2; shift 2;;
  *) echo "unknown argument $1" >&2; exit 2;;
esac; done
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
model="$cache/sd15-random"
py="${DIFFUSERS_PYTHON:-python3}"
bench() { cargo bench -q -p switchyard-runtime --bench image -- "$@" 2>/dev/null; }
[ -f "$model/unet/diffusion_pytorch_model.safetensors" ] || bench write "$model"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/diffusers_bench.py" <<'PY'
import statistics, sys, time
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
torch.set_num_threads(2)
folder, steps, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, safety_checker=None, requires_safety_checker=False)
pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
pipe.set_progress_bar_config(disable=True)
times = []
for _ in range(runs):
    t = time.perf_counter()
    with torch.inference_mode():
        pipe("a lighthouse at dusk", num_inference_steps=steps, guidance_scale=0.0, height=512, width=512,
             generator=torch.Generator().manual_seed(42))
    times.append(time.perf_counter() - t)
print(round(statistics.median(times), 2))
PY
echo "steps switchyard diffusers stable-diffusion.cpp (s per 512×512 image, median of $runs)"
for steps in 1 4; do
  ours=$(bench "$model" "$steps" "$runs" | sed -n 's/.*: \([0-9.]*\) s per image.*/\1/p')
  theirs=$("$py" "$work/diffusers_bench.py" "$model" "$steps" "$runs" 2>/dev/null | tail -1)
  cpp="-"
  if [ -n "$sd_cli" ]; then
    cpp=$(for _ in $(seq "$runs"); do
      "$sd_cli" -m "$model" -p "a lighthouse at dusk" --steps "$steps" --cfg-scale 1 -t 2 -W 512 -H 512 \
        --sampling-method ddim_trailing -o "$work/out.png" 2>&1 | sed -n 's/.*generate_image completed in \([0-9.]*\)s.*/\1/p'
    done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  fi
  echo "$steps $ours $theirs $cpp"
done
