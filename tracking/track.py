"""track_faces: FaceDetections of a whole clip -> FaceTracks, the stages in order.

1. online pass (lifecycle.py): per-frame global assignment, tentative -> confirmed after
   min_hits, gaps of up to max_gap missed frames bridged by constant-velocity prediction;
2. offline linking (link.py): tracklets of one face joined across longer gaps when unambiguous;
3. gap filling (interpolate.py): state INTERPOLATED where the face was there but not detected;
4. smoothing (smooth.py): zero-phase, centre and size apart, landmarks follow their box;
5. ids 1..k by first frame, then left edge, then top edge. Same input, same output.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import numpy as np

from .interpolate import fill_track
from .lifecycle import follow_tracks
from .link import link_tracklets
from .smooth import follow_boxes, smooth_track
from ..core.types import ABSENT, FaceDetections, FaceTracks, check_fps


def _check_number(name: str, value, low: float, high: float | None = None, integer: bool = False) -> None:
    kind = "an int" if integer else "a number"
    valid_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not valid_type:
        raise TypeError(f"{name} must be {kind}, but got {type(value).__name__}")
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {bounds}, but got {value!r}")


def track_faces(
    detections: FaceDetections,
    *,
    fps=Fraction(25),
    iou_threshold: float = 0.3,
    distance_threshold: float = 100.0,
    max_gap: int = 15,
    min_hits: int = 3,
    link_gaps: bool = True,
    max_link_gap: int | None = None,
    smooth_boxes: bool = True,
    smooth_window: float = 3,
    min_track_length: int = 1,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> FaceTracks:
    """Follow the faces of a clip: one track per face, ids from 1, confirmed tracks only.

    detections: every face of the clip (xyxy source pixels; sampled_frames when the detector ran
    on a stride). fps: the clip's exact rate (Fraction, int, float such as 29.97 -> 30000/1001, or
    "30000/1001"); it turns link gaps into seconds. iou_threshold / distance_threshold (px for
    faces of 100 px and more, scaled down for smaller faces; see associate.py): the match gate.
    max_gap: missed sampled frames a confirmed track survives and gap filling bridges. min_hits:
    detections before a track counts (capped at the number of sampled frames, so a one-frame clip
    still has tracks). link_gaps / max_link_gap: join tracklets across longer gaps (None: any
    gap). smooth_boxes / smooth_window: zero-phase smoothing, about as strong as a centred moving
    average of smooth_window frames. min_track_length: drop tracks present in fewer frames.
    on_progress receives frame_count steps in total; check_interrupt is called once per frame.

    Returns FaceTracks: xyxy (k,N,4) float32, state DETECTED / INTERPOLATED / ABSENT, score the
    detection score (decayed on interpolated frames), landmarks (k,N,5,2) when detections carry them.
    """
    if not isinstance(detections, FaceDetections):
        raise TypeError(f"detections must be a FaceDetections (socket FUSE_FACES), but got {type(detections).__name__}")
    fps = check_fps(fps)
    _check_number("iou_threshold", iou_threshold, 0.0, 1.0)
    _check_number("distance_threshold", distance_threshold, 0.0)
    _check_number("max_gap", max_gap, 0, integer=True)
    _check_number("min_hits", min_hits, 1, integer=True)
    if max_link_gap is not None:
        _check_number("max_link_gap", max_link_gap, 1, integer=True)
    _check_number("smooth_window", smooth_window, 1)
    _check_number("min_track_length", min_track_length, 1, integer=True)

    frame_count, frame_size = detections.frame_count, detections.frame_size
    if len(detections) == 0:
        if on_progress is not None:
            on_progress(frame_count)
        return FaceTracks.empty(frame_count, frame_size, fps, detections.fingerprint)
    sampled = detections.is_sampled
    tracklets = follow_tracks(
        detections,
        iou_threshold=float(iou_threshold),
        distance_threshold=float(distance_threshold),
        max_gap=int(max_gap),
        min_hits=min(int(min_hits), int(sampled.sum())),
        on_progress=on_progress,
        check_interrupt=check_interrupt,
    )
    if link_gaps:
        chains = link_tracklets(tracklets, detections, fps=fps, max_link_gap=max_link_gap)
    else:
        chains = [[index] for index in range(len(tracklets))]

    tracks = []
    for chain in chains:
        rows = np.concatenate([tracklets[index].rows for index in chain])
        landmarks = None if detections.landmarks is None else detections.landmarks[rows]
        xyxy, state, score, track_landmarks = fill_track(
            detections.frame[rows], detections.xyxy[rows], detections.score[rows], landmarks, sampled=sampled, frame_size=frame_size, max_gap=int(max_gap)
        )
        if smooth_boxes:
            smoothed = smooth_track(xyxy, state, float(smooth_window))
            if track_landmarks is not None:
                present = state != ABSENT
                track_landmarks[present] = follow_boxes(track_landmarks[present], xyxy[present], smoothed[present])
            xyxy = smoothed
        if int((state != ABSENT).sum()) >= min_track_length:
            tracks.append((xyxy, state, score, track_landmarks))
    if not tracks:
        return FaceTracks.empty(frame_count, frame_size, fps, detections.fingerprint)

    def first_box(track) -> tuple[int, float, float]:
        first = int(np.flatnonzero(track[1] != ABSENT)[0])
        return first, float(track[0][first, 0]), float(track[0][first, 1])

    tracks.sort(key=first_box)
    return FaceTracks(
        track_id=np.arange(1, len(tracks) + 1),
        xyxy=np.stack([t[0] for t in tracks]).astype(np.float32),
        state=np.stack([t[1] for t in tracks]),
        score=np.stack([t[2] for t in tracks]),
        frame_count=frame_count,
        frame_size=frame_size,
        fps=fps,
        landmarks=None if detections.landmarks is None else np.stack([t[3] for t in tracks]).astype(np.float32),
        fingerprint=detections.fingerprint,
    )
