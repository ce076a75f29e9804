"""Gap filling: turn one face's detections into per-frame arrays over the whole clip.

Between two detections of a track the box (and the landmarks) are interpolated linearly, state
INTERPOLATED, when the face was most likely there all along:
- the gap holds only frames the detector skipped (detect_every > 1): always filled;
- otherwise the detector missed at most `max_gap` sampled frames, and the face did not leave the
  picture (a gap whose both ends touch the frame border is a face that went out and came back:
  it stays absent).
Before a track's first detection and after its last one, the frames the detector skipped up to
the neighbouring sampled frame hold the nearest box. An interpolated frame's score is the lower
of its neighbouring detections' scores, decayed by INTERPOLATED_SCORE_DECAY per frame of distance
to the nearest detection.
"""

from __future__ import annotations

import numpy as np

from .boxes import touches_border
from ..core.types import ABSENT, DETECTED, INTERPOLATED

INTERPOLATED_SCORE_DECAY = 0.95  # per frame away from the nearest detection


def fill_track(
    frames: np.ndarray,
    xyxy: np.ndarray,
    score: np.ndarray,
    landmarks: np.ndarray | None,
    *,
    sampled: np.ndarray,
    frame_size: tuple[int, int],
    max_gap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """One track's per-frame arrays from its detections.

    frames (m,) int64 strictly increasing; xyxy (m,4) source pixels; score (m,); landmarks (m,5,2)
    or None; sampled (N,) bool, the frames the detector ran on. Returns xyxy (N,4) float64 (NaN
    where absent), state (N,) uint8, score (N,) float32 and landmarks (N,5,2) float64 or None.
    """
    frame_count = len(sampled)
    out_xyxy = np.full((frame_count, 4), np.nan)
    out_state = np.full(frame_count, ABSENT, np.uint8)
    out_score = np.zeros(frame_count, np.float32)
    out_landmarks = None if landmarks is None else np.full((frame_count, 5, 2), np.nan)
    frames = np.asarray(frames, np.int64)
    out_xyxy[frames] = xyxy
    out_state[frames] = DETECTED
    out_score[frames] = score
    if out_landmarks is not None:
        out_landmarks[frames] = landmarks
    border = touches_border(xyxy, frame_size)

    def put(frame: int, near: int, weight: float, left: int, right: int, nearest_score: float) -> None:
        out_xyxy[frame] = (1 - weight) * xyxy[left] + weight * xyxy[right]
        if out_landmarks is not None:
            out_landmarks[frame] = (1 - weight) * landmarks[left] + weight * landmarks[right]
        out_state[frame] = INTERPOLATED
        out_score[frame] = nearest_score * INTERPOLATED_SCORE_DECAY**near

    for i in range(len(frames) - 1):
        a, b = int(frames[i]), int(frames[i + 1])
        if b - a < 2:
            continue
        missed = int(sampled[a + 1 : b].sum())
        left_the_picture = bool(border[i] and border[i + 1])
        if missed and (missed > max_gap or left_the_picture):
            continue
        lower = float(min(score[i], score[i + 1]))
        for frame in range(a + 1, b):
            put(frame, min(frame - a, b - frame), (frame - a) / (b - a), i, i + 1, lower)
    first, last = int(frames[0]), int(frames[-1])
    frame = first - 1
    while frame >= 0 and not sampled[frame]:
        put(frame, first - frame, 0.0, 0, 0, float(score[0]))
        frame -= 1
    frame = last + 1
    while frame < frame_count and not sampled[frame]:
        put(frame, frame - last, 0.0, len(frames) - 1, len(frames) - 1, float(score[-1]))
        frame += 1
    return out_xyxy, out_state, out_score, out_landmarks
