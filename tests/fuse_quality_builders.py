"""Builders for the quality tests (imported by name; tests/conftest.py puts tests/ on sys.path): clips of real faces with their true tracks, and processed copies
with known faults (flicker in known frames, another person's face in a known range, a hard seam)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.media.synthetic import Scene, linear_path, render
from comfyui_fuse.quality.metrics import face_region


@dataclass
class Clip:
    frames: np.ndarray  # (N,H,W,3) uint8 RGB
    tracks: FaceTracks
    scene: Scene


def make_clip(frame_count: int = 40, fps=Fraction(25), frame_size=(180, 240), paths=None, sprites=(0,), seed: int = 0) -> Clip:
    """A textured background with faces drifting along straight paths, and their exact tracks."""
    if paths is None:
        paths = [linear_path(frame_count, (60, 40, 130, 110), (90, 50, 160, 120))]
    scene = Scene(frame_count, frame_size, [np.asarray(p, np.float32) for p in paths], list(sprites), fps=fps, seed=seed)
    frames = render(scene)
    xyxy = np.stack(scene.boxes).astype(np.float32)
    present = np.isfinite(xyxy).all(axis=2)
    tracks = FaceTracks(
        track_id=np.arange(1, len(paths) + 1), xyxy=np.where(present[..., None], xyxy, np.nan), state=np.where(present, DETECTED, 0).astype(np.uint8),
        score=present.astype(np.float32), frame_count=frame_count, frame_size=frame_size, fps=fps,
    )
    return Clip(frames, tracks, scene)


def brighten_faces(frames: np.ndarray, tracks: FaceTracks, frame_indices, amount: int, face: int = 0, hard: bool = False, margin: float = 0.0) -> np.ndarray:
    """A copy with the face region (box grown by margin) of `face` brightened by `amount` in the
    given frames: a smooth bump (hard=False, flicker) or a flat block with hard edges (a seam)."""
    out = frames.copy()
    for t in frame_indices:
        x0, y0, x1, y1 = face_region(tracks.xyxy[face, t], margin, tracks.frame_size)
        if hard:
            weight = np.ones((y1 - y0, x1 - x0), np.float32)
        else:
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            cy, cx, r = (y0 + y1) / 2, (x0 + x1) / 2, max(x1 - x0, y1 - y0) / 2
            weight = np.clip(1.2 - ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2, 0, 1)
        patch = out[t, y0:y1, x0:x1].astype(np.float32) + amount * weight[..., None]
        out[t, y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)
    return out


def swap_face(clip: Clip, frame_range: range, sprite: int = 2) -> np.ndarray:
    """The clip re-rendered with another person's face (sprite) on face 0 in frame_range."""
    scene = Scene(clip.scene.frame_count, clip.scene.frame_size, clip.scene.boxes, clip.scene.sprite_index, fps=clip.scene.fps, seed=clip.scene.seed)
    other = Scene(scene.frame_count, scene.frame_size, scene.boxes, [sprite] + list(scene.sprite_index[1:]), fps=scene.fps, seed=scene.seed)
    out = clip.frames.copy()
    out[frame_range.start : frame_range.stop] = render(other, frame_range.start, frame_range.stop)
    return out
