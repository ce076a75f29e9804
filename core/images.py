"""IMAGE batches (ComfyUI's float32 [B,H,W,C] pixels in 0..1): validation and uint8 frames.

Every stage that takes frames or crops checks them here, so each refusal is worded once; every
model that wants uint8 RGB gets it from image_to_uint8, which converts frame by frame into one
uint8 array (a float temporary of one frame at a time, never of the batch). torch is imported
on first use, so a module that only lists options (the detectors' registry) stays light.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def check_image_batch(name: str, images, *, channels: Sequence[int] = (3, 4), uint8: bool = False) -> tuple[int, int, int]:
    """(B, H, W) of an IMAGE batch: a torch.Tensor [B,H,W,C] of float pixels 0..1 with C in
    channels. uint8=True also takes uint8 pixels and numpy arrays (detectors and analysis read
    video frames that way). TypeError for another type; ValueError naming `name` otherwise."""
    import torch

    kinds = (torch.Tensor, np.ndarray) if uint8 else torch.Tensor
    if not isinstance(images, kinds):
        raise TypeError(f"{name} must be an IMAGE torch.Tensor [B,H,W,C], but got {type(images).__name__}")
    shape = tuple(int(v) for v in images.shape)
    if len(shape) != 4 or shape[-1] not in channels:
        wanted = " or ".join(str(c) for c in channels)
        raise ValueError(f"{name} must be an IMAGE batch [B,H,W,C] with C {wanted} (channels), but got shape {shape}")
    is_float = images.is_floating_point() if isinstance(images, torch.Tensor) else np.issubdtype(images.dtype, np.floating)
    if not is_float and not (uint8 and images.dtype in (torch.uint8, np.uint8)):
        raise ValueError(f"{name} must hold float pixels in 0..1{' or uint8 pixels' if uint8 else ''}, but got dtype {images.dtype}")
    return shape[0], shape[1], shape[2]


def check_video_frames(name: str, images, frame_count: int, frame_size: tuple[int, int], *, source: str, fix: str, uint8: bool = False) -> None:
    """check_image_batch, and ValueError unless the batch has frame_count frames of frame_size
    (height, width): "images must be the video <source> (N frames of WxH), but got ...; <fix>"."""
    count, height, width = check_image_batch(name, images, uint8=uint8)
    if (count, height, width) != (frame_count, *frame_size):
        raise ValueError(
            f"{name} must be the video {source} ({frame_count} frames of {frame_size[1]}x{frame_size[0]}), "
            f"but got {count} frames of {width}x{height}; {fix}"
        )


def frame_to_uint8(frame) -> np.ndarray:
    """(H,W,3) uint8 RGB of one frame (H,W,C), a new array: float 0..1 is clamped, scaled by 255
    and rounded (half to even) in float32 or wider; uint8 is copied. The alpha channel is dropped."""
    import torch

    frame = frame[..., :3]
    if isinstance(frame, torch.Tensor):
        frame = frame.detach()
        if not frame.is_floating_point():
            return np.array(frame.cpu().numpy(), dtype=np.uint8, order="C")
        return frame.float().clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).cpu().numpy()  # clamp makes the one temporary
    if not np.issubdtype(frame.dtype, np.floating):
        return np.array(frame, dtype=np.uint8, order="C")
    scaled = np.clip(frame.astype(np.promote_types(frame.dtype, np.float32), copy=False), 0.0, 1.0)  # a new array: the input is never changed
    np.multiply(scaled, 255.0, out=scaled)
    return np.round(scaled, out=scaled).astype(np.uint8)


def image_to_uint8(images, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """(n,H,W,3) uint8 RGB copies of the chosen frames (default all) of an IMAGE batch (torch or
    numpy, float 0..1 or uint8, 3 or 4 channels), on the CPU."""
    indices = range(int(images.shape[0])) if frames is None else [int(i) for i in np.asarray(frames).reshape(-1)]
    out = np.empty((len(indices), int(images.shape[1]), int(images.shape[2]), 3), np.uint8)
    for position, index in enumerate(indices):
        out[position] = frame_to_uint8(images[index])
    return out


def uint8_chunks(images, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, (n,H,W,3) uint8 RGB) chunks of an IMAGE batch, chunk_frames at a time, so a
    long batch is never converted whole."""
    for start in range(0, int(images.shape[0]), chunk_frames):
        yield start, image_to_uint8(images[start : start + chunk_frames])
