"""Face crops through an image model, frame by frame.

Each crop is encoded on its own (4D latents [n,C,h,w]) and sampled in batches of frames; every
frame of a track starts from the same noise, because a new noise per frame makes fine detail
flicker. Temporal coherence comes only from the tracking and the shared noise; for a video model
use sequences.py.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

from ..compositing.masks import ellipse_mask
from ..compositing.plan import CropPlan, check_crops_match_plan
from ..core.checks import check_number
from .backend import NOISE_MASK_FEATHER, LatentSampler, VaeCodec, noise_seed, resize_frames, snapped_size
from .sequences import progress_for_rows

log = logging.getLogger(__name__)


def _check_image_vae(vae: VaeCodec) -> None:
    if vae.is_video:
        raise ValueError(
            f"vae must be an image VAE (latent_dim 2) to sample crops frame by frame, but got a video VAE (latent_dim {vae.latent_dim}, "
            f"temporal compression {vae.temporal_compression}), which would merge the frames into one clip; use FUSE Video Latent KSampler "
            "or FUSE Sample Face Sequences for a video model, or load the image model's VAE"
        )


@torch.no_grad()  # the host runs nodes under inference mode; direct callers get the same
def sample_face_frames(
    crops_bhwc: torch.Tensor,
    plan: CropPlan,
    vae: VaeCodec,
    sampler: LatentSampler,
    *,
    frames_per_batch: int = 8,
    face_only_mask: bool = False,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Process every crop of `plan` with an image model; returns new crops.

    crops_bhwc: IMAGE float32 [M,h,w,C] 0..1, the plan's crop batch; returns float32 [M,h,w,3]
    0..1 on the CPU in the same row order, input unchanged. Crops are encoded, sampled and decoded
    in batches of frames_per_batch rows (a batch may span sequences); every row's noise comes from
    noise_seed(seed, its track id). face_only_mask: denoise only the ellipse inscribed in the crop
    (feathered, NOISE_MASK_FEATHER). on_progress: crop rows done (total = M); check_interrupt:
    called between batches.
    """
    check_crops_match_plan(crops_bhwc, plan)
    _check_image_vae(vae)
    check_number("frames_per_batch", frames_per_batch, 1, integer=True)
    output = torch.zeros(tuple(crops_bhwc.shape[:3]) + (3,), dtype=torch.float32)
    if len(plan) == 0:
        return output
    crop_size = tuple(crops_bhwc.shape[1:3])
    latent_size = snapped_size(crop_size, vae.spatial_compression * sampler.spatial_patch)
    noise_mask = ellipse_mask(latent_size, NOISE_MASK_FEATHER).reshape(1, 1, *latent_size) if face_only_mask else None
    row_track = np.repeat([s.track_id for s in plan.sequences], [len(s) for s in plan.sequences])
    log.info("sampling %d face crops frame by frame in batches of %d", len(row_track), frames_per_batch)

    for start in range(0, len(row_track), frames_per_batch):
        if check_interrupt is not None:
            check_interrupt()
        stop = min(start + frames_per_batch, len(row_track))
        on_step, finish = progress_for_rows(on_progress, stop - start, sampler.steps + 2)  # ticks: encode, each step, decode
        latent = vae.encode(resize_frames(crops_bhwc[start:stop, ..., :3].float(), latent_size))
        on_step()
        if latent.ndim != 4 or latent.shape[0] != stop - start:
            raise ValueError(f"vae.encode must return one image latent per crop [{stop - start},C,h,w], but got shape {tuple(latent.shape)}; use an image VAE")
        seeds = [noise_seed(sampler.seed, track_id) for track_id in row_track[start:stop]]
        sampled = sampler.run(latent, seeds, noise_mask, on_step)
        del latent
        decoded = vae.decode(sampled)
        on_step()
        del sampled
        if decoded.ndim != 4 or decoded.shape[0] != stop - start:
            raise ValueError(f"vae.decode must return one image per crop [{stop - start},H,W,3], but got shape {tuple(decoded.shape)}")
        output[start:stop] = resize_frames(decoded[..., :3].float().cpu(), crop_size)
        finish()
    return output
