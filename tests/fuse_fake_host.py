"""A fake ComfyUI host for CI: VAEs, models and a sampler that keep the real host's rules.

The rules are those of ../shared/HOST.md and ComfyUI's comfy/sd.py, comfy/sample.py:
- a video VAE's encode takes IMAGE [F,H,W,3] as ONE clip, centre-crops H and W to multiples of
  its spatial ratio, keeps only the first (T-1)*4+1 frames (T = 1 + (F-1)//4) and returns
  [1,C,T,h,w] (C 16 for Wan 2.1, ratio 8; C 48 for Wan 2.2, ratio 16); decode returns
  [B,F,H,W,3]. 5D pixels are refused (the real host would crop the time axis).
- an image VAE encodes [n,H,W,3] -> [n,C,h,w], each image on its own; decode -> [n,H,W,3].
- the sampler (standing in for nodes/host.sample_latent) checks the latent against the model's
  latent format, makes each row's noise with host.prepare_noise(row, seed), resizes noise_mask to
  the latent like comfy.utils.reshape_mask, calls on_step once per step, and returns
  latent + mask * (model.offset + strength * noise): exact identity when both are 0. It records
  the timestep the model is told as a fraction of the schedule's (1.0 unless the model's
  process_timestep folds the noise mask into it, as ComfyUI's WAN22 does).

The fake VAEs are lossless for crops that are constant over each ratio x ratio block: a video
latent frame stores its (up to 4) pixel frames as channel groups of block means. Like ComfyUI's,
the fake video VAE holds its torch network in `first_stage_model` and, like the Wan VAE, runs it
once per temporal chunk (encode: 1, 4, 4, ... frames; decode: one latent frame at a time), each
chunk through a few layers; `chunks_run` counts the chunks.

Model folders: FakeModelFolders lists given names without files; install_models_dir points the
host at a real directory (FUSE_MODELS_DIR, as outside ComfyUI) and put_model_file drops a file
into one of its folders, as a user would. Tests import this module by name (tests/conftest.py
puts tests/ on sys.path).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from comfyui_fuse.nodes import host

WAN21 = dict(latent_channels=16, spatial=8)
WAN22 = dict(latent_channels=48, spatial=16)


def centre_crop(pixels: torch.Tensor, ratio: int) -> torch.Tensor:
    """[B,H,W,C] cropped to multiples of ratio, centred, as the host's vae_encode_crop_pixels."""
    height, width = pixels.shape[1:3]
    h, w = height // ratio * ratio, width // ratio * ratio
    y, x = (height % ratio) // 2, (width % ratio) // 2
    return pixels[:, y : y + h, x : x + w]


def block_means(pixels: torch.Tensor, ratio: int) -> torch.Tensor:
    """[B,H,W,3] -> [B,3,H/ratio,W/ratio]."""
    return F.avg_pool2d(pixels.movedim(-1, 1), ratio)


def upsample(latent_bchw: torch.Tensor, ratio: int) -> torch.Tensor:
    """[B,3,h,w] -> [B,h*ratio,w*ratio,3]."""
    return F.interpolate(latent_bchw, scale_factor=ratio, mode="nearest").movedim(1, -1)


class FakeVideoVAE:
    latent_dim = 3

    def __init__(self, latent_channels: int = 16, spatial: int = 8, temporal: int = 4) -> None:
        assert latent_channels >= 3 * temporal, "the fake stores each latent frame's pixel frames as channel groups"
        self.latent_channels = latent_channels
        self.spatial = spatial
        self.temporal = temporal
        self.encode_shapes: list[tuple] = []
        self.decode_shapes: list[tuple] = []
        layers = lambda: torch.nn.Sequential(torch.nn.Identity(), torch.nn.Identity())  # noqa: E731
        self.first_stage_model = torch.nn.ModuleDict({"encoder": layers(), "decoder": layers()})
        self.chunks_run = 0

    def _run_network(self, part: str, chunks: int) -> None:
        for _ in range(chunks):
            self.first_stage_model[part](torch.zeros(1))
            self.chunks_run += 1

    def spacial_compression_encode(self) -> int:
        return self.spatial

    def temporal_compression_decode(self) -> int:
        return self.temporal

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.ndim != 4:
            raise AssertionError(f"a video VAE must be given IMAGE [F,H,W,3]; 5D pixels would be cropped along time (got {tuple(pixels.shape)})")
        self.encode_shapes.append(tuple(pixels.shape))
        pixels = centre_crop(pixels, self.spatial)
        latent_frames = 1 + (pixels.shape[0] - 1) // self.temporal
        pixels = pixels[: (latent_frames - 1) * self.temporal + 1]  # frames beyond 4k+1 are dropped
        self._run_network("encoder", latent_frames)
        means = block_means(pixels, self.spatial)  # [F,3,h,w]
        latent = torch.zeros((1, self.latent_channels, latent_frames) + tuple(means.shape[2:]))
        latent[0, 0:3, 0] = means[0]
        for t in range(1, latent_frames):
            for group in range(self.temporal):
                latent[0, 3 * group : 3 * group + 3, t] = means[(t - 1) * self.temporal + 1 + group]
        return latent

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.decode_shapes.append(tuple(latent.shape))
        batch, _, latent_frames = latent.shape[:3]
        self._run_network("decoder", latent_frames)
        frames = [latent[:, 0:3, 0]]
        for t in range(1, latent_frames):
            frames.extend(latent[:, 3 * group : 3 * group + 3, t] for group in range(self.temporal))
        pixels = torch.stack([upsample(frame, self.spatial) for frame in frames], dim=1)  # [B,F,H,W,3]
        return pixels.clamp(0.0, 1.0)


class FakeImageVAE:
    latent_dim = 2

    def __init__(self, latent_channels: int = 4, spatial: int = 8) -> None:
        self.latent_channels = latent_channels
        self.spatial = spatial
        self.encode_shapes: list[tuple] = []

    def spacial_compression_encode(self) -> int:
        return self.spatial

    def temporal_compression_decode(self):
        return None  # what the host answers for image VAEs

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.encode_shapes.append(tuple(pixels.shape))
        means = block_means(centre_crop(pixels, self.spatial), self.spatial)
        return torch.cat([means, means.mean(1, keepdim=True).expand(-1, self.latent_channels - 3, -1, -1)], dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return upsample(latent[:, :3], self.spatial).clamp(0.0, 1.0)


def timestep_per_frame(timestep, x, denoise_mask=None, **kwargs):
    """ComfyUI's WAN22 rule (Wan 2.2 TI2V 5B, comfy/model_base.py): with a noise mask the DiT gets
    one timestep per latent frame, the timestep times the mask's mean over channels and space."""
    if denoise_mask is None:
        return timestep
    frame_means = denoise_mask.mean(dim=(1, 3, 4), keepdim=True)  # [B,1,T,1,1]
    return (frame_means * timestep.view(-1, 1, 1, 1, 1)).reshape(timestep.shape[0], -1)


class FakeModel:
    """A MODEL as far as FUSE asks: latent format, patch size; `offset` is what its sampling adds.
    averages_noise_mask: the model (ModelPatcher.model) has WAN22's process_timestep."""

    def __init__(self, name: str, latent_channels: int = 16, latent_dimensions: int = 3, patch: int | None = 2, offset: float = 0.0, averages_noise_mask: bool = False) -> None:
        self.name = name
        self.offset = offset
        self.patch = patch
        self.latent_format = SimpleNamespace(latent_channels=latent_channels, latent_dimensions=latent_dimensions)
        if averages_noise_mask:
            self.model = SimpleNamespace(process_timestep=timestep_per_frame)

    def get_model_object(self, name: str):
        if name == "latent_format":
            return self.latent_format
        if name == "diffusion_model.patch_size" and self.patch is not None:
            return (1, self.patch, self.patch)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"FakeModel({self.name})"


def reshape_mask(mask: torch.Tensor, shape) -> torch.Tensor:
    """The host's rule: a noise mask is resized (bilinear / trilinear) to the latent and repeated."""
    if len(shape) == 5:
        mask = mask.reshape((1, 1, -1) + tuple(mask.shape[-2:])) if mask.ndim < 5 else mask
        mask = F.interpolate(mask, size=tuple(shape[2:]), mode="trilinear")
    else:
        mask = F.interpolate(mask.reshape((-1, 1) + tuple(mask.shape[-2:])), size=tuple(shape[2:]), mode="bilinear")
    return mask.expand((shape[0], shape[1]) + tuple(mask.shape[2:]))


class FakeSampler:
    """Stands in for nodes/host.sample_latent; records every call."""

    def __init__(self, strength: float = 0.0) -> None:
        self.strength = strength
        self.calls: list[dict] = []

    def __call__(self, model, latent, noise_seeds, *, add_noise=True, steps, cfg, sampler_name, scheduler, positive, negative, denoise=1.0, start_step=None, last_step=None, force_full_denoise=False, noise_mask=None, on_step=None):
        host.check_latent_channels(model, latent)
        assert len(noise_seeds) == latent.shape[0], "one seed per latent row"
        self.calls.append(
            dict(model=model.name, shape=tuple(latent.shape), seeds=list(noise_seeds), add_noise=add_noise, steps=steps, start_step=start_step,
                 last_step=last_step, force_full_denoise=force_full_denoise, denoise=denoise, cfg=cfg, sampler_name=sampler_name,
                 scheduler=scheduler, mask_shape=None if noise_mask is None else tuple(noise_mask.shape), positive=positive, negative=negative)
        )
        if add_noise:
            noise = torch.cat([host.prepare_noise(latent[row : row + 1], seed) for row, seed in enumerate(noise_seeds)])
        else:
            noise = torch.zeros_like(latent)
        mask = torch.ones_like(latent) if noise_mask is None else reshape_mask(noise_mask.float(), latent.shape)
        process_timestep = getattr(getattr(model, "model", None), "process_timestep", None)
        told = torch.ones(latent.shape[0])
        if process_timestep is not None and noise_mask is not None:
            told = process_timestep(told, x=latent, denoise_mask=mask[:, :1])
        self.calls[-1]["timestep_fraction"] = float(told.min())
        first = 0 if start_step is None else start_step
        last = steps if last_step is None else min(last_step, steps)
        for _ in range(max(0, last - first)):
            if on_step is not None:
                on_step(1)
        return latent + mask * (model.offset + self.strength * noise)


def install_fake_host(monkeypatch, strength: float = 0.0) -> FakeSampler:
    """Swap the host's sampler for a FakeSampler (the rest of nodes/host.py already runs without ComfyUI)."""
    sampler = FakeSampler(strength)
    monkeypatch.setattr(host, "sample_latent", sampler)
    return sampler


# Model folders as the host gives them (models/store.py ModelFolders), without ComfyUI.


class FakeModelFolders:
    """Model folders listing the given file names (the files need not exist): files(folder) lists
    files_by_folder[folder]; path(folder, name) is <directory>/<name> for every folder, and each
    request is recorded in `resolved`."""

    def __init__(self, files_by_folder: dict | None = None, directory: str | os.PathLike = "/nowhere") -> None:
        self.files_by_folder = {folder: list(files) for folder, files in (files_by_folder or {}).items()}
        self.directory = str(directory)
        self.resolved: list[tuple[str, str]] = []

    def files(self, folder: str) -> list[str]:
        return list(self.files_by_folder.get(folder, []))

    def path(self, folder: str, name: str) -> str:
        self.resolved.append((folder, name))
        return os.path.join(self.directory, name)


def install_models_dir(monkeypatch, root: os.PathLike):
    """Make `root` the host's models directory (FUSE_MODELS_DIR, as outside ComfyUI); returns its ModelStore."""
    from comfyui_fuse.models.store import ModelStore

    monkeypatch.setenv("FUSE_MODELS_DIR", str(root))
    return ModelStore(str(root))


def put_model_file(root: os.PathLike, folder: str, name: str, data: bytes = b"weights") -> Path:
    """Write a file into a model folder below root (as a user would drop it there); returns its path."""
    from comfyui_fuse.models.store import MODEL_SUBDIRS

    path = Path(root, MODEL_SUBDIRS[folder], name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# Builders for hand-made crop batches and plans (the sampling core without the backbone).


def make_plan(lengths, track_ids=None, crop_size=(64, 64), frame_count=None):
    """A CropPlan with one sequence per length (track ids 1, 2, ... unless given), each from frame 0."""
    import numpy as np
    from fractions import Fraction

    from comfyui_fuse.compositing.plan import CropPlan, FaceSequence

    track_ids = list(range(1, len(lengths) + 1)) if track_ids is None else list(track_ids)
    frame_count = max(lengths, default=1) if frame_count is None else frame_count
    affine = np.array([[2.0, 0.0, -10.0], [0.0, 2.0, -20.0]])
    sequences = tuple(FaceSequence(track_id, np.arange(length), np.tile(affine, (length, 1, 1)), crop_size) for track_id, length in zip(track_ids, lengths))
    return CropPlan(sequences, (360, 640), frame_count, Fraction(25), np.zeros((frame_count, 16, 16, 3), np.uint8))


def block_crops(plan, block: int = 16, seed: int = 0) -> torch.Tensor:
    """IMAGE [M,h,w,3] constant over block x block squares (so the fake VAEs are lossless), every
    row different: row r's blocks are random values in 0.1..0.9 drawn from (seed, r)."""
    height, width = plan.crop_size
    rows = []
    for row in range(plan.total_rows):
        generator = torch.Generator().manual_seed(seed * 100003 + row)
        small = 0.1 + 0.8 * torch.rand((1, 3, height // block, width // block), generator=generator)
        rows.append(F.interpolate(small, scale_factor=block, mode="nearest")[0].movedim(0, -1))
    return torch.stack(rows) if rows else torch.zeros((0, height, width, 3))


class ProgressBars:
    """The host's progress bars a node run opened: one entry per host.progress_callback(total) call,
    with the bar's value after every update (ComfyUI sends one /ws progress message per update)."""

    def __init__(self) -> None:
        self.bars: list[dict] = []

    def __call__(self, total: int):
        bar = {"total": int(total), "values": []}
        self.bars.append(bar)

        def update(count: int = 1) -> None:
            bar["values"].append((bar["values"][-1] if bar["values"] else 0) + count)

        return update

    def messages(self) -> list[str]:
        """What the user sees, e.g. ["1/9", "2/9", ...]."""
        return [f"{value}/{bar['total']}" for bar in self.bars for value in bar["values"]]


def record_progress(monkeypatch) -> ProgressBars:
    """Record every progress bar opened through nodes/host.py (it is silent outside ComfyUI)."""
    bars = ProgressBars()
    monkeypatch.setattr(host, "progress_callback", bars)
    return bars
