"""A cheap fingerprint of a video batch, so data made from one video is never applied to another.

CropPlan and FaceTracks carry one: cropping with tracks of another video, or pasting onto
another video, is an error, not a silent mess.
"""

from __future__ import annotations

import numpy as np

FINGERPRINT_GRID = 16


def fingerprint_frames(frames_bhwc) -> np.ndarray:
    """A cheap fingerprint of a video batch: a fixed 16x16 grid of pixels per frame, uint8.

    frames_bhwc: float 0..1 or uint8 [B,H,W,C], torch or numpy. Returns (B,16,16,C) uint8. It
    reads 256 pixels a frame, so it is cheap for long 4K clips. It is kept as samples rather
    than a hash so that a video whose faces were already replaced by an earlier paste still
    matches (see same_video): pasting works in any order of nodes.
    """
    shape = tuple(int(v) for v in frames_bhwc.shape)
    if len(shape) != 4:
        raise ValueError(f"frames must be a 4D [B,H,W,C] batch, but got shape {shape}")
    _, height, width, _ = shape
    ys = np.linspace(0, height - 1, FINGERPRINT_GRID).round().astype(np.int64)
    xs = np.linspace(0, width - 1, FINGERPRINT_GRID).round().astype(np.int64)
    if hasattr(frames_bhwc, "detach"):  # a torch tensor
        import torch

        rows, columns = torch.as_tensor(ys[:, None], device=frames_bhwc.device), torch.as_tensor(xs[None, :], device=frames_bhwc.device)
        grid = frames_bhwc[:, rows, columns].detach().cpu()  # (B,16,16,C), no full-width copy
        is_uint8 = grid.dtype == torch.uint8
        grid = grid.numpy() if is_uint8 else grid.float().numpy()
    else:
        grid = np.asarray(frames_bhwc)[:, ys[:, None], xs[None, :]]
        is_uint8 = grid.dtype == np.uint8
    if is_uint8:
        return np.ascontiguousarray(grid)
    return np.clip(np.round(grid.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def same_video(fingerprint: np.ndarray, frames_bhwc) -> bool:
    """True when frames_bhwc is the video the fingerprint was taken from, faces edited or not.

    Frames whose faces were pasted over differ at the few grid points inside those faces; another
    video (or the same one shifted, scaled or re-encoded) differs almost everywhere. The test is
    the median absolute difference over all grid points: at most 2/255.
    """
    if tuple(fingerprint.shape[:1]) != tuple(frames_bhwc.shape[:1]):
        return False
    other = fingerprint_frames(frames_bhwc)
    if other.shape != fingerprint.shape:
        return False
    difference = np.abs(other.astype(np.int16) - fingerprint.astype(np.int16))
    return float(np.median(difference)) <= 2.0
