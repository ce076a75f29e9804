"""Builders for the active speaker tests: tracks of still faces, constructed scorers and landmarkers.

Tests import this module by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks
from comfyui_fuse.lipsync.syncnet import av_offset_distances
from comfyui_fuse.media.dialogue import constructed_audio_embeddings
from comfyui_fuse.speaker.scorers import EmbeddingScorer, LandmarkScorer

FRAME_SIZE = (120, 360)
CONSTRUCTED_FULL_CONFIDENCE = 0.8  # the constructed embeddings (unit vectors) give raw offset confidences ~0.5 for a speaker, ~0.1 for a listener


def face_boxes(count: int) -> np.ndarray:
    """(count, 4) boxes side by side, 80 px wide."""
    return np.array([[20 + 110 * i, 20, 100 + 110 * i, 100] for i in range(count)], np.float32)


def still_tracks(count: int, frame_count: int, fps=Fraction(25), absent: dict | None = None, identity=None) -> FaceTracks:
    """count faces standing still side by side; absent {face index: (start, stop)} frames off screen."""
    state = np.full((count, frame_count), DETECTED, np.uint8)
    for face, (start, stop) in (absent or {}).items():
        state[face, start:stop] = ABSENT
    return FaceTracks(
        track_id=np.arange(1, count + 1), xyxy=np.tile(face_boxes(count)[:, None], (1, frame_count, 1)), state=state,
        score=np.full((count, frame_count), 0.9, np.float32), frame_count=frame_count, frame_size=FRAME_SIZE, fps=fps, identity=identity,
    )


class GivenSignalsLandmarkScorer(LandmarkScorer):
    """The landmark fallback's confidence with the mouth openings given (no landmarker)."""

    def __init__(self) -> None:
        self.name = "constructed mouth openings"


def constructed_syncnet() -> EmbeddingScorer:
    """SyncNet's decision path with constructed embeddings (media.dialogue) instead of the network."""
    return EmbeddingScorer("constructed embeddings", signals=None, audio_embeddings=constructed_audio_embeddings, distances=av_offset_distances, full_confidence=CONSTRUCTED_FULL_CONFIDENCE)


def mouth_frames(openings: np.ndarray, tracks: FaceTracks) -> np.ndarray:
    """(N,H,W,3) uint8 frames whose pixel under each face box's centre encodes its mouth opening
    (0..1 -> 0..250), read back by PixelLandmarker."""
    frames = np.zeros((tracks.frame_count, *tracks.frame_size, 3), np.uint8)
    for face in range(len(tracks)):
        for frame in np.flatnonzero(tracks.present[face]):
            x1, y1, x2, y2 = tracks.xyxy[face, frame]
            frames[frame, int((y1 + y2) / 2), int((x1 + x2) / 2)] = np.clip(np.round(openings[face, frame] * 250), 0, 255)
    return frames


class PixelLandmarker:
    """A stand-in 1k3d68 landmarker: 68 points whose inner lips are as far apart as the pixel under
    the box centre says (mouth_frames), the mouth corners a half box apart."""

    name = "pixel landmarker"

    def landmarks_3d(self, frame: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        points = np.zeros((len(xyxy), 68, 3), np.float32)
        for row, (x1, y1, x2, y2) in enumerate(xyxy):
            cx, cy, width = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
            opening = frame[int(cy), int(cx), 0] / 250.0
            points[row, :, :2] = (cx, cy)
            points[row, 48, 0], points[row, 54, 0] = cx - width / 2, cx + width / 2
            points[row, [61, 62, 63], 1] = cy - opening * width / 2
            points[row, [65, 66, 67], 1] = cy + opening * width / 2
        return points
