"""What the Wan DiT is told about the noise level under FUSE's face-only mask, in ComfyUI's own code.

Runs in ComfyUI's Python (COMFYUI_PYTHON), in-process, with `comfyui_fuse` importable:

    $COMFYUI_PYTHON tests/integration/wan22_noise_level.py --comfyui $COMFYUI_PATH

Builds tiny random Wan DiTs with ComfyUI's WanModel (48 channels, which ComfyUI loads as WAN22,
the Wan 2.2 TI2V 5B; and 16 channels, WAN21) and loads them through
comfy.sd.load_diffusion_model_state_dict. It records every (timestep, processed timestep) pair
the model's process_timestep sees while FUSE samples a 9-frame face sequence with
face_only_mask through the host's own sampler (nodes/host.py sample_latent -> comfy.sample).
The VAE is a stand-in that returns a fixed random latent (the real Wan 2.2 VAE is 1.4 GB and
plays no part in the timestep). As a control it samples the same latent the way FUSE did before
(the spatial mask handed to the host), to show the check sees the fault. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = 3
LATENT_FRAMES = 3  # 9 pixel frames
CROP = 64  # a 4x4 latent for the Wan 2.2 VAE's ratio 16


def _load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_dit(channels: int, seed: int):
    import comfy.ops
    import comfy.sd
    import torch
    from comfy.ldm.wan.model import WanModel

    wan_models = _load_by_path("fuse_wan_models", HERE / "wan_models.py")
    config = {**wan_models.TINY_DIT_CONFIG, "in_dim": channels, "out_dim": channels}
    state = wan_models._random_state_dict(WanModel(**config, operations=comfy.ops.manual_cast), seed, torch.float16)
    return comfy.sd.load_diffusion_model_state_dict(state)


def _record_timesteps(patcher) -> list[tuple[float, list[float]]]:
    """Wrap the model's process_timestep: every call appends (timestep, timesteps handed to the DiT)."""
    seen = []
    original = patcher.model.process_timestep

    def recording(timestep, **kwargs):
        processed = original(timestep, **kwargs)
        seen.append((float(timestep.flatten()[0]), [float(v) for v in processed.flatten()]))
        return processed

    patcher.model.process_timestep = recording
    return seen


def measure(channels: int) -> dict:
    import torch

    from comfyui_fuse.compositing.masks import ellipse_mask
    from comfyui_fuse.nodes import host
    from comfyui_fuse.nodes.sample import latent_sampler
    from comfyui_fuse.sampling.backend import NOISE_MASK_FEATHER, VaeCodec, mask_to_latent
    from comfyui_fuse.sampling.sequences import sample_face_sequences

    fake_host = _load_by_path("fuse_fake_host", HERE.parent / "fuse_fake_host.py")
    patcher = _tiny_dit(channels, seed=channels)
    spatial = 16 if channels == 48 else 8
    latent = torch.randn((1, channels, LATENT_FRAMES, CROP // spatial, CROP // spatial), generator=torch.Generator().manual_seed(0))
    sampled = []

    def decode(samples):
        sampled.append(samples.clone())
        return torch.zeros((samples.shape[0], 1 + (samples.shape[2] - 1) * 4, CROP, CROP, 3))

    codec = VaeCodec(encode=lambda pixels: latent.clone(), decode=decode, spatial_compression=spatial, temporal_compression=4, latent_dim=3, latent_channels=channels)
    conditioning = [[torch.zeros(1, 8, 4096), {}]]
    sampler = latent_sampler(patcher, conditioning, conditioning, 7, STEPS, 1.0, "euler", "simple", 1.0)
    seen = _record_timesteps(patcher)  # after latent_sampler, whose probe of the model is not a sampling step
    plan = fake_host.make_plan([9], crop_size=(CROP, CROP))
    sample_face_sequences(fake_host.block_crops(plan), plan, codec, sampler, face_only_mask=True)
    weight = mask_to_latent(ellipse_mask((CROP, CROP), NOISE_MASK_FEATHER).reshape(1, 1, 1, CROP, CROP), latent.shape)
    fuse_calls, seen[:] = list(seen), []
    host.sample_latent(  # the control: the spatial mask straight to the host, as FUSE did before
        patcher, latent.clone(), [7], steps=STEPS, cfg=1.0, sampler_name="euler", scheduler="simple", positive=conditioning,
        negative=conditioning, denoise=1.0, noise_mask=ellipse_mask((CROP, CROP), NOISE_MASK_FEATHER).reshape(1, 1, 1, CROP, CROP),
    )
    return {
        "model_class": type(patcher.model).__name__,
        "takes_spatial_noise_mask": sampler.spatial_noise_mask,
        "fuse_timestep_ratios": [value / timestep for timestep, values in fuse_calls for value in values if timestep],
        "host_mask_timestep_ratios": [value / timestep for timestep, values in seen for value in values if timestep],
        "border_change": float((sampled[0] - latent)[weight < 0.01].abs().max()) if bool((weight < 0.01).any()) else None,
        "centre_change": float((sampled[0] - latent)[weight > 0.99].abs().mean()) if bool((weight > 0.99).any()) else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", required=True, help="the ComfyUI checkout (COMFYUI_PATH)")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.comfyui)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import torch

    torch.set_num_threads(1)
    print(json.dumps({"wan22_5b": measure(48), "wan21": measure(16)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
