"""diffusers' outputs on the tiny Stable Diffusion, the reference `tests/image_layers.rs` checks
Switchyard's UNet and decoder against (golden/sd_reference.json).

    cargo bench -p switchyard-runtime --bench image -- write /tmp/tiny-sd tiny
    python3 sd_reference.py /tmp/tiny-sd > sd_reference.json     # diffusers + torch installed

The inputs are the pipeline's seeded Gaussians (SplitMix64 + Box–Muller, as
`image::pipeline::gaussian`), so the test rebuilds them without storing them.
"""
import json, math, sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel


def gaussian(seed, n):
    state, out = seed, []
    mask = (1 << 64) - 1

    def uniform():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        return ((z >> 11) + 1.0) / float(1 << 53)

    while len(out) < n:
        u1, u2 = uniform(), uniform()
        r, a = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
        out += [r * math.cos(a), r * math.sin(a)]
    return torch.tensor(out[:n], dtype=torch.float32)


folder = sys.argv[1]
unet = UNet2DConditionModel.from_pretrained(f"{folder}/unet").eval()
vae = AutoencoderKL.from_pretrained(f"{folder}/vae").eval()
golden = {}
with torch.no_grad():
    latents = gaussian(11, 2 * 4 * 8 * 12).reshape(2, 4, 8, 12)
    context = gaussian(12, 2 * 7 * 32).reshape(2, 7, 32)
    for t in [1, 500, 999]:
        golden[f"unet_t{t}"] = unet(latents, t, encoder_hidden_states=context).sample.flatten().tolist()
    z = gaussian(13, 4 * 6 * 10).reshape(1, 4, 6, 10)
    golden["decoder"] = vae.decode(z).sample.flatten().tolist()
json.dump({k: [float(f"{v:.7g}") for v in vals] for k, vals in golden.items()}, sys.stdout)
