"""Frames to check, a chunk at a time: an IMAGE batch (or uint8 array) or a video file.

Both give (first frame index, uint8 (n,H,W,3) RGB) chunks, so a long video is never in memory.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np

from ..core.images import uint8_chunks


class ImageFrames:
    """An IMAGE batch (float [B,H,W,C] 0..1, torch or numpy) or a uint8 (B,H,W,3) array."""

    def __init__(self, images, name: str = "images") -> None:
        shape = tuple(int(v) for v in images.shape)
        if len(shape) != 4 or shape[3] not in (3, 4) or shape[0] == 0:
            raise ValueError(f"{name} must be an IMAGE batch [B,H,W,3] with at least one frame, but got shape {shape}")
        self.images = images
        self.name = name
        self.frame_count = shape[0]
        self.frame_size = (shape[1], shape[2])

    def chunks(self, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        return uint8_chunks(self.images, chunk_frames)


class VideoFrames:
    """A video file, decoded a chunk at a time (media.stream.iter_frames)."""

    def __init__(self, path: str | os.PathLike, check_interrupt: Callable[[], None] | None = None) -> None:
        from ..media.stream import probe_video

        self.path = os.fspath(path)
        self.info = probe_video(self.path)
        self.name = os.path.basename(self.path)
        self.frame_count = self.info.frame_count
        self.frame_size = self.info.frame_size
        self.check_interrupt = check_interrupt

    def chunks(self, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        from ..media.stream import iter_frames

        yield from iter_frames(self.path, chunk_frames=chunk_frames, info=self.info, check_interrupt=self.check_interrupt)


def paired_chunks(original, processed, chunk_frames: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(start, original chunk, processed chunk) over two sources of one length and frame size."""
    if original.frame_count != processed.frame_count:
        raise ValueError(f"processed must have as many frames as original ({original.frame_count}), but got {processed.frame_count}; check the frame cap or the window")
    if original.frame_size != processed.frame_size:
        raise ValueError(f"processed must have the original's frame size {original.frame_size[1]}x{original.frame_size[0]}, but got {processed.frame_size[1]}x{processed.frame_size[0]}")
    for (start, before), (other, after) in zip(original.chunks(chunk_frames), processed.chunks(chunk_frames)):
        if start != other or len(before) != len(after):
            raise ValueError(f"original and processed frames must come in the same chunks, but got frame {start} and {other}")
        yield start, before, after
