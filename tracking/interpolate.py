"""Gap filling: turn one face's detections into rows for every frame it is present.

Between two detections of a track the box (and the landmarks) are interpolated linearly, state
INTERPOLATED, when the face was most likely there all along, on a straight line:
- both detections are in the same shot (nothing is drawn across a cut);
- the step between them is no motion break (motion.py): a face that jumped was not anywhere in
  between, so the frames stay absent instead of holding a box over the background;
- the gap holds only frames the detector skipped (detect_every > 1), or the detector missed at
  most `max_gap` sampled frames and the face did not leave the picture (a gap whose both ends
  touch the frame border is a face that went out and came back: it stays absent).
Before a track's first detection and after its last one, the frames the detector skipped up to
the neighbouring sampled frame (or the shot's edge) hold the nearest box. An interpolated frame's
score is the lower of its neighbouring detections' scores, decayed by INTERPOLATED_SCORE_DECAY
per frame of distance to the nearest detection.
"""

from __future__ import annotations

import numpy as np

from .boxes import touches_border
from .cuts import shot_of_frames
from ..core.types import DETECTED, INTERPOLATED

INTERPOLATED_SCORE_DECAY = 0.95  # per frame away from the nearest detection


def fillable_gaps(
    frames: np.ndarray, xyxy: np.ndarray, sampled: np.ndarray, frame_size: tuple[int, int], max_gap: int, cuts: np.ndarray | None = None, breaks: np.ndarray | None = None
) -> np.ndarray:
    """(m-1,) bool: between detections j and j+1 (frames (m,) strictly increasing, xyxy (m,4)) lie
    frames where the face was most likely there all along (the module docstring's rules)."""
    frames = np.asarray(frames, np.int64)
    if len(frames) < 2:
        return np.zeros(0, bool)
    cuts = np.zeros(0, np.int64) if cuts is None else np.asarray(cuts, np.int64)
    breaks = np.zeros(len(frames) - 1, bool) if breaks is None else np.asarray(breaks, bool)
    shot = shot_of_frames(cuts, frames)
    border = touches_border(np.asarray(xyxy, np.float64), frame_size)
    first = int(frames[0])
    sampled_before = np.concatenate([[0], np.cumsum(sampled[first : int(frames[-1]) + 1])])  # over the track's span only
    missed = sampled_before[frames[1:] - first] - sampled_before[frames[:-1] + 1 - first]  # sampled frames strictly inside each gap
    left_the_picture = border[:-1] & border[1:]
    gap = np.diff(frames) > 1
    return gap & (shot[:-1] == shot[1:]) & ~breaks & ((missed == 0) | ((missed <= max_gap) & ~left_the_picture))


def fill_track(
    frames: np.ndarray,
    xyxy: np.ndarray,
    score: np.ndarray,
    landmarks: np.ndarray | None,
    *,
    sampled: np.ndarray,
    frame_size: tuple[int, int],
    max_gap: int,
    cuts: np.ndarray | None = None,
    breaks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """One track's rows from its detections.

    frames (m,) int64 strictly increasing; xyxy (m,4) source pixels; score (m,); landmarks (m,5,2)
    or None; sampled (N,) bool, the frames the detector ran on; cuts (c,) shot boundaries;
    breaks (m-1,) bool, the motion breaks between consecutive detections (None: none).
    Returns, for the p frames where the face is present, in frame order: frames (p,) int64,
    xyxy (p,4) float64, state (p,) uint8, score (p,) float32, landmarks (p,5,2) float64 or None.
    """
    frames = np.asarray(frames, np.int64)
    xyxy = np.asarray(xyxy, np.float64)
    score = np.asarray(score, np.float32)
    cuts = np.zeros(0, np.int64) if cuts is None else np.asarray(cuts, np.int64)
    frame_count = len(sampled)
    shot = shot_of_frames(cuts, frames)
    # interpolation pieces: (first frame, last frame, left detection, right detection)
    pieces = [(int(frames[i]) + 1, int(frames[i + 1]) - 1, int(i), int(i) + 1) for i in np.flatnonzero(fillable_gaps(frames, xyxy, sampled, frame_size, max_gap, cuts, breaks))]
    shot_start = int(np.concatenate([[0], cuts])[shot[0]])
    shot_stop = int(np.concatenate([cuts, [frame_count]])[shot[-1]])
    first, last = int(frames[0]), int(frames[-1])
    before = first
    while before > shot_start and not sampled[before - 1]:
        before -= 1
    after = last
    while after + 1 < shot_stop and not sampled[after + 1]:
        after += 1
    if before < first:
        pieces.append((before, first - 1, 0, 0))
    if after > last:
        pieces.append((last + 1, after, len(frames) - 1, len(frames) - 1))

    out_frames = [frames]
    out_xyxy = [xyxy]
    out_state = [np.full(len(frames), DETECTED, np.uint8)]
    out_score = [score]
    out_landmarks = None if landmarks is None else [np.asarray(landmarks, np.float64)]
    for start, stop, left, right in pieces:
        filled = np.arange(start, stop + 1)
        span = max(int(frames[right] - frames[left]), 1)
        weight = ((filled - frames[left]) / span)[:, None] if right != left else np.zeros((len(filled), 1))
        distance = np.minimum(np.abs(filled - frames[left]), np.abs(frames[right] - filled))
        out_frames.append(filled)
        out_xyxy.append((1 - weight) * xyxy[left] + weight * xyxy[right])
        out_state.append(np.full(len(filled), INTERPOLATED, np.uint8))
        out_score.append((min(score[left], score[right]) * INTERPOLATED_SCORE_DECAY ** distance).astype(np.float32))
        if out_landmarks is not None:
            out_landmarks.append((1 - weight[:, :, None]) * landmarks[left] + weight[:, :, None] * landmarks[right])
    all_frames = np.concatenate(out_frames)
    order = np.argsort(all_frames, kind="stable")
    return (
        all_frames[order],
        np.concatenate(out_xyxy)[order],
        np.concatenate(out_state)[order],
        np.concatenate(out_score)[order],
        None if out_landmarks is None else np.concatenate(out_landmarks)[order],
    )
