"""Random-weight Wan models for real-ComfyUI tests and benchmarks, built from ComfyUI's own classes.

Nothing of ComfyUI is copied here: the script half runs in ComfyUI's Python (COMFYUI_PYTHON) as a
subprocess, imports `comfy.ldm.wan.model.WanModel` and `comfy.ldm.wan.vae.WanVAE` from
COMFYUI_PATH, fills them with random weights and saves safetensors files in the key layouts
ComfyUI's loaders detect:

- a tiny Wan DiT (dim 128, 1 head, 2 layers, ffn 256, text dim 4096, 16 latent channels; ~1.1 M
  parameters, ~2 MB in fp16) that UNETLoader loads as Wan 2.1 from models/diffusion_models;
- a random full-width Wan 2.1 VAE (its config cannot shrink; ~254 MB in fp16, a few seconds to
  make) that VAELoader loads from models/vae.

    write_wan_models(comfyui_path, python, diffusion_dir, vae_dir, dits={"tiny_wan.safetensors": 0}, vae="random_wan21_vae.safetensors")

The same weights come out for the same seeds. By hand:

    $COMFYUI_PYTHON tests/integration/wan_models.py --comfyui $COMFYUI_PATH \
        --dit out/diffusion_models/tiny_wan.safetensors:0 --vae out/vae/random_wan21_vae.safetensors:0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# The tiny DiT: dim a multiple of 128 (Wan's rope splits the head dim), the text dim of UMT5-XXL.
TINY_DIT_CONFIG = {"dim": 128, "ffn_dim": 256, "num_heads": 1, "num_layers": 2, "in_dim": 16, "out_dim": 16, "text_dim": 4096}
# The Wan 2.1 VAE as released (ComfyUI detects it by its keys; no smaller config exists).
WAN21_VAE_CONFIG = {"dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [], "temperal_downsample": [False, True, True], "dropout": 0.0}
WEIGHT_SCALE = 0.02  # random weights this small keep activations finite through every block


def write_wan_models(comfyui_path, python: str, diffusion_dir, vae_dir, dits: dict[str, int], vae: str | None, vae_seed: int = 0, timeout: float = 600.0) -> dict[str, Path]:
    """Write tiny Wan DiTs and a random Wan 2.1 VAE with ComfyUI's Python; returns {file name: path}.

    dits: {file name in diffusion_dir: seed}; vae: a file name in vae_dir or None. Files already
    there are kept (the weights depend only on the seed). RuntimeError with the script's output
    when it fails.
    """
    diffusion_dir, vae_dir = Path(diffusion_dir), Path(vae_dir)
    wanted = {name: (diffusion_dir / name, seed) for name, seed in dits.items()}
    if vae is not None:
        wanted[vae] = (vae_dir / vae, vae_seed)
    missing = [name for name, (path, _) in wanted.items() if not path.is_file()]
    arguments = [f"--dit={wanted[name][0]}:{wanted[name][1]}" for name in missing if name in dits]
    arguments += [f"--vae={wanted[name][0]}:{wanted[name][1]}" for name in missing if name not in dits]
    if arguments:
        command = [python, str(Path(__file__).resolve()), "--comfyui", str(comfyui_path), *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"building the random Wan models failed ({' '.join(command)}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return {name: path for name, (path, _) in wanted.items()}


# ---- the half that runs inside ComfyUI's Python -------------------------------------------------


def _random_state_dict(module, seed: int, dtype):
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.dtype.is_floating_point:
            value = torch.randn(value.shape, generator=generator) * WEIGHT_SCALE
        state[key] = value.to(dtype if value.dtype.is_floating_point else value.dtype).contiguous()
    return state


def _build(comfyui_path: str, dit_specs: list[tuple[str, int]], vae_specs: list[tuple[str, int]]) -> None:
    sys.path.insert(0, comfyui_path)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import comfy.ops
    import torch
    from comfy.ldm.wan.model import WanModel
    from comfy.ldm.wan.vae import WanVAE
    from safetensors.torch import save_file

    for path, seed in dit_specs:
        net = WanModel(**TINY_DIT_CONFIG, operations=comfy.ops.manual_cast)
        _save(save_file, _random_state_dict(net, seed, torch.float16), path)
    for path, seed in vae_specs:
        net = WanVAE(**WAN21_VAE_CONFIG)
        _save(save_file, _random_state_dict(net, seed, torch.float16), path)


def _save(save_file, state: dict, path: str) -> None:
    # a temporary name first: a run that dies halfway leaves no file a test would take as complete
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = path + ".part"
    save_file(state, partial)
    os.replace(partial, path)


def _path_and_seed(text: str) -> tuple[str, int]:
    path, _, seed = text.rpartition(":")
    if not path or not seed.isdigit():
        raise argparse.ArgumentTypeError(f"must be PATH:SEED, but got {text!r}")
    return path, int(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write random-weight Wan models with ComfyUI's own classes (run with ComfyUI's Python).")
    parser.add_argument("--comfyui", required=True, help="the ComfyUI checkout (COMFYUI_PATH)")
    parser.add_argument("--dit", action="append", default=[], type=_path_and_seed, help="PATH:SEED of a tiny Wan DiT to write (repeatable)")
    parser.add_argument("--vae", action="append", default=[], type=_path_and_seed, help="PATH:SEED of a random Wan 2.1 VAE to write (repeatable)")
    args = parser.parse_args(argv)
    _build(args.comfyui, args.dit, args.vae)
    return 0


if __name__ == "__main__":
    sys.exit(main())
