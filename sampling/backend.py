"""The host's VAE and sampler as the sampling core sees them: plain callables and facts.

nodes/ builds these from a ComfyUI VAE and MODEL through nodes/host.py; tests build them from a
fake VAE and a fake sampler. Nothing here imports the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..compositing.geometry import snap_to_multiple
from ..core.checks import check_number

SEED_RANGE = 2**64  # ComfyUI seeds are 0 .. 0xffffffffffffffff
# Face-only denoising: the ellipse inscribed in the crop, feathered over this fraction of its radius.
NOISE_MASK_FEATHER = 0.25


@dataclass(frozen=True)
class VaeCodec:
    """A VAE: encode IMAGE [F,H,W,3] -> latent, decode latent -> pixels, and how it compresses.

    Video VAE (latent_dim 3): encode treats the whole batch as ONE clip -> [1,C,T,h,w], keeping
    only the first (T-1)*temporal_compression + 1 frames; decode [B,C,T,h,w] -> [B,F,H,W,3].
    Image VAE (latent_dim 2): encode [n,H,W,3] -> [n,C,h,w], each image on its own; decode back.
    Both centre-crop pixels to multiples of spatial_compression.
    """

    encode: Callable[[torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]
    spatial_compression: int
    temporal_compression: int = 1
    latent_dim: int = 2
    latent_channels: int = 0

    @property
    def is_video(self) -> bool:
        return self.latent_dim == 3


@dataclass(frozen=True)
class SamplerPass:
    """One sampler call over a latent: which model, which steps, whether to add noise.

    start_step / last_step None = the whole schedule (the KSampler node). force_full_denoise
    False returns the latent with its leftover noise for the next pass (KSamplerAdvanced
    return_with_leftover_noise enable).
    """

    model: Any
    start_step: int | None
    last_step: int | None
    add_noise: bool
    force_full_denoise: bool


def plan_sampler_passes(model, steps: int, model_low_noise=None, switch_step: int = 0) -> tuple[SamplerPass, ...]:
    """The sampler calls for one latent.

    One model: a single pass like the KSampler node. Two models (Wan 2.2 A14B, as the official
    templates chain two KSamplerAdvanced nodes): steps [0, switch_step) on the high-noise `model`
    with noise added and leftover noise returned, then [switch_step, steps) on `model_low_noise`
    with no new noise, fully denoised. switch_step <= 0 runs only the low-noise model,
    switch_step >= steps only the high-noise one (each as a full single pass).
    """
    check_number("steps", steps, 1, integer=True)
    if model_low_noise is None:
        return (SamplerPass(model, None, None, True, False),)
    check_number("switch_step", switch_step, integer=True)
    if switch_step <= 0:
        return (SamplerPass(model_low_noise, None, None, True, False),)
    if switch_step >= steps:
        return (SamplerPass(model, None, None, True, False),)
    return (
        SamplerPass(model, 0, switch_step, True, False),
        SamplerPass(model_low_noise, switch_step, steps, False, True),
    )


def noise_seed(seed: int, track_id: int) -> int:
    """The noise seed of every clip and frame of one track: seed + track_id - 1 (mod 2**64).

    Track 1 samples with the node's seed itself. A face's result depends only on the seed and its
    own track: not on the other faces, on batching, or on which window it is in (all windows of
    a track start from the same noise, which keeps fine detail consistent from window to window,
    as the same noise for every frame does for image models).
    """
    return (int(seed) + int(track_id) - 1) % SEED_RANGE


@dataclass(frozen=True)
class LatentSampler:
    """The host's sampler bound to its conditioning and settings.

    sample(model, latent, noise_seeds, *, add_noise, start_step, last_step, force_full_denoise,
    noise_mask, on_step) -> latent; noise_seeds holds one seed per latent row (see
    nodes/host.py sample_latent). spatial_patch: the model's latent patch size (Wan DiT: 2), so
    crop sides are snapped to vae.spatial_compression * spatial_patch. spatial_noise_mask: whether
    the model denoises each latent position at its own noise level under a noise mask; False for a
    model that averages the mask into one timestep per latent frame (Wan 2.2 TI2V 5B, see
    nodes/host.py model_takes_spatial_noise_mask), whose face-only mask is applied by compositing.
    """

    sample: Callable[..., torch.Tensor]
    model: Any
    steps: int
    seed: int = 0
    model_low_noise: Any = None
    switch_step: int = 0
    spatial_patch: int = 1
    spatial_noise_mask: bool = True

    def passes(self) -> tuple[SamplerPass, ...]:
        return plan_sampler_passes(self.model, self.steps, self.model_low_noise, self.switch_step)

    def run(self, latent: torch.Tensor, noise_seeds: list[int], noise_mask=None, on_step=None) -> torch.Tensor:
        """Sample `latent` through every pass in turn; returns the final latent.

        noise_mask (1 = denoise) goes to the host sampler, which keeps the rest of the latent at
        its original value at every step. Without spatial_noise_mask the whole latent is sampled at
        the schedule's noise level and the original is composited back through the mask afterwards:
        the same result where the mask is 0 or 1, and a true noise level for the model everywhere.
        """
        original = latent
        host_mask = noise_mask if self.spatial_noise_mask else None
        for sampler_pass in self.passes():
            latent = self.sample(
                sampler_pass.model,
                latent,
                noise_seeds,
                add_noise=sampler_pass.add_noise,
                start_step=sampler_pass.start_step,
                last_step=sampler_pass.last_step,
                force_full_denoise=sampler_pass.force_full_denoise,
                noise_mask=host_mask,
                on_step=on_step,
            )
        if noise_mask is not None and host_mask is None:
            weight = mask_to_latent(noise_mask, latent.shape).to(latent.device, latent.dtype)
            latent = torch.lerp(original.to(latent.device, latent.dtype), latent, weight)  # exact at weights 0 and 1
        return latent


def mask_to_latent(noise_mask: torch.Tensor, latent_shape) -> torch.Tensor:
    """A noise mask resized to a latent's shape as the host resizes it (comfy.utils.reshape_mask).

    noise_mask [1,1,1,h,w] or [1,1,h,w] (pixel space); latent_shape [B,C,T,h,w] (trilinear) or
    [B,C,h,w] (bilinear). Returns float [B,C,...] (expanded, not copied).
    """
    size = tuple(latent_shape[2:])
    if len(latent_shape) == 5:
        mask = noise_mask.float().reshape((1, 1, -1) + tuple(noise_mask.shape[-2:]))
        mask = torch.nn.functional.interpolate(mask, size=size, mode="trilinear")
    else:
        mask = noise_mask.float().reshape((-1, 1) + tuple(noise_mask.shape[-2:]))
        mask = torch.nn.functional.interpolate(mask, size=size, mode="bilinear")
    return mask.expand((latent_shape[0], latent_shape[1]) + size)


def snapped_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """(height, width) rounded to the nearest multiple, halves up (at least one multiple per side)."""
    return tuple(snap_to_multiple(side, multiple) for side in size)


def resize_frames(frames_bhwc: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize [B,H,W,C] frames to (height, width), bilinear with antialiasing; same tensor when equal."""
    if tuple(frames_bhwc.shape[1:3]) == tuple(size):
        return frames_bhwc
    channels_first = frames_bhwc.movedim(-1, 1)  # BHWC -> BCHW
    resized = torch.nn.functional.interpolate(channels_first, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return resized.movedim(1, -1).clamp(0.0, 1.0)
