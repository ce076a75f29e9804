"""Face sequences through a video model: one clip per window of every sequence.

For each face sequence of a CropPlan: cut it into temporal windows (compositing/windows.py),
gather each window's crops into one clip of 4k+1 frames with sides snapped to what the VAE and
the model need, encode it with ONE vae.encode call, sample it like the KSampler node (noise seeded
per track), decode, drop the context and padding frames, resize back and cross-fade the window
into the output. Memory is bounded by one batch of windows, never a whole clip's latents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch

from ..compositing.masks import ellipse_mask
from ..compositing.plan import CropPlan, check_crops_match_plan
from ..core.checks import check_number
from .windows import Window, blend_windows, plan_windows
from .backend import NOISE_MASK_FEATHER, LatentSampler, VaeCodec, noise_seed, resize_frames, snapped_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipJob:
    """One window of one sequence: sequence index in the plan, the window, rows it reports as done."""

    sequence: int
    window: Window
    new_rows: int


def plan_clip_jobs(plan: CropPlan, window_frames: int, overlap: int, temporal_multiple: int, temporal_padding: int) -> list[ClipJob]:
    """Every window of every sequence, in plan order; new_rows sum to plan.total_rows."""
    jobs = []
    for index, sequence in enumerate(plan.sequences):
        reported = 0
        for window in plan_windows(len(sequence), window_frames, overlap, temporal_multiple, temporal_padding, temporal_padding):
            jobs.append(ClipJob(index, window, window.stop - max(window.start, reported)))
            reported = window.stop
    return jobs


def batch_jobs(jobs: list[ClipJob], batch_size: int) -> list[list[ClipJob]]:
    """Group jobs whose clips have the same frame count into batches of at most batch_size.

    batch_size 1 keeps plan order, one clip at a time. Otherwise batches follow the first
    appearance of each clip size, so equal-length sequences are sampled together.
    """
    check_number("batch_size", batch_size, 1, integer=True)
    if batch_size == 1:
        return [[job] for job in jobs]
    groups: dict[int, list[ClipJob]] = {}
    for job in jobs:
        groups.setdefault(job.window.clip_frames, []).append(job)
    batches = []
    for group in groups.values():
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def progress_for_rows(on_progress, rows: int, ticks: int):
    """(on_step, finish): spread `rows` progress units evenly over `ticks` calls of on_step (each VAE
    call and each sampler step of a batch), finish() reports the rest."""
    steps = max(1, ticks)
    state = {"steps": 0, "reported": 0}

    def advance(count: int) -> None:
        if on_progress is not None and count > 0:
            on_progress(count)
        state["reported"] += count

    def on_step(count: int = 1) -> None:
        state["steps"] = min(steps, state["steps"] + count)
        advance(rows * state["steps"] // steps - state["reported"])

    def finish() -> None:
        advance(rows - state["reported"])

    return on_step, finish


def _check_video_vae(vae: VaeCodec) -> None:
    if not vae.is_video:
        raise ValueError(
            f"vae must be a video VAE (latent_dim 3, such as the Wan 2.1 or Wan 2.2 VAE) to sample face sequences, but got an image VAE "
            f"(latent_dim {vae.latent_dim}); load the video model's VAE, or run an image model frame by frame with FUSE Video KSampler"
        )


@torch.no_grad()  # the host runs nodes under inference mode; direct callers get the same
def sample_face_sequences(
    crops_bhwc: torch.Tensor,
    plan: CropPlan,
    vae: VaeCodec,
    sampler: LatentSampler,
    *,
    window_frames: int = 81,
    overlap: int = 16,
    temporal_padding: int = 0,
    batch_size: int = 1,
    face_only_mask: bool = False,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Process every face sequence of `plan` with a video model; returns new crops.

    crops_bhwc: IMAGE float32 [M,h,w,C] 0..1, the plan's crop batch (rows in plan order, see
    CropPlan.row_offsets); only the first 3 channels are used. Returns float32 [M,h,w,3] 0..1 on
    the CPU, rows in the same order. The input is never modified.

    window_frames / overlap: a sequence longer than one window is sampled in windows of at most
    window_frames frames overlapping by `overlap`, cross-faded. temporal_padding: frames of
    context added before and after every window (reflected at the ends of a run), dropped after
    decode. batch_size > 1 samples that many windows of equal length together (B > 1).
    face_only_mask: denoise only the ellipse inscribed in the crop (feathered, NOISE_MASK_FEATHER):
    the crop's border keeps its original latent, so the paste seam disappears.
    Every window of a track starts from the noise of noise_seed(sampler.seed, track id).
    on_progress: called with crop rows done (total = M), moving with every encode, sampler step and
    decode. check_interrupt: called between clips; the host's VAE wrapper also polls Cancel inside
    each encode and decode (nodes/host.py interrupt_points).
    """
    check_crops_match_plan(crops_bhwc, plan)
    _check_video_vae(vae)
    output = torch.zeros(tuple(crops_bhwc.shape[:3]) + (3,), dtype=torch.float32)
    if len(plan) == 0:
        return output
    crop_size = tuple(crops_bhwc.shape[1:3])
    clip_size = snapped_size(crop_size, vae.spatial_compression * sampler.spatial_patch)
    temporal = max(1, vae.temporal_compression)
    noise_mask = ellipse_mask(clip_size, NOISE_MASK_FEATHER).reshape(1, 1, 1, *clip_size) if face_only_mask else None
    offsets = plan.row_offsets
    jobs = plan_clip_jobs(plan, window_frames, overlap, temporal, temporal_padding)
    batches = batch_jobs(jobs, batch_size)
    log.info("sampling %d face sequences as %d clips in %d batches, clips %dx%d (crops %dx%d)", len(plan), len(jobs), len(batches), clip_size[1], clip_size[0], crop_size[1], crop_size[0])

    for batch in batches:
        if check_interrupt is not None:
            check_interrupt()
        # ticks: each clip's encode, each sampler step, the decode
        on_step, finish = progress_for_rows(on_progress, sum(job.new_rows for job in batch), len(batch) + sampler.steps + 1)
        latent = _encode_batch(batch, crops_bhwc, offsets, clip_size, vae, on_step)
        seeds = [noise_seed(sampler.seed, plan.sequences[job.sequence].track_id) for job in batch]
        sampled = sampler.run(latent, seeds, noise_mask, on_step)
        del latent
        decoded = vae.decode(sampled)
        on_step()
        del sampled
        _blend_decoded(batch, decoded, offsets, crop_size, output)
        del decoded
        finish()
    return output


def _encode_batch(batch: list[ClipJob], crops_bhwc: torch.Tensor, offsets, clip_size: tuple[int, int], vae: VaeCodec, on_step) -> torch.Tensor:
    """The batch's clips gathered from the crops, resized to clip_size and encoded one clip per
    vae.encode call: one latent [B,C,T,h,w]."""
    temporal = max(1, vae.temporal_compression)
    latents = []
    for job in batch:
        rows = torch.as_tensor(job.window.source_index + offsets[job.sequence])
        clip = resize_frames(crops_bhwc[rows][..., :3].float(), clip_size)  # [F,h,w,3], one clip
        latent = vae.encode(clip)
        on_step()
        expected_frames = (job.window.clip_frames - 1) // temporal + 1
        if latent.ndim != 5 or latent.shape[0] != 1 or latent.shape[2] != expected_frames:
            raise ValueError(
                f"vae.encode must return one video latent [1,C,{expected_frames},h,w] for a clip of {job.window.clip_frames} frames, "
                f"but got shape {tuple(latent.shape)}; use a video VAE such as the Wan 2.1 or Wan 2.2 VAE"
            )
        latents.append(latent)
    return torch.cat(latents)


def _blend_decoded(batch: list[ClipJob], decoded: torch.Tensor, offsets, crop_size: tuple[int, int], output: torch.Tensor) -> None:
    """Resize each decoded clip back to crop_size and cross-fade its window into its sequence's
    rows of `output`."""
    if decoded.ndim != 5 or decoded.shape[0] != len(batch):
        raise ValueError(f"vae.decode must return video frames [{len(batch)},F,H,W,3] for a batch of {len(batch)} clips, but got shape {tuple(decoded.shape)}")
    for job, frames in zip(batch, decoded):
        if frames.shape[0] != job.window.clip_frames:
            raise ValueError(f"vae.decode must return the {job.window.clip_frames} frames of the clip, but got {frames.shape[0]}")
        pixels = resize_frames(frames[..., :3].float().cpu(), crop_size)
        start, stop = offsets[job.sequence], offsets[job.sequence + 1]
        blend_windows([job.window], [pixels], out=output[start:stop])
