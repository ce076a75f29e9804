"""Syncability: may lipsync touch this face in this frame, how well will it do, and for how long.

Rules (the multi-face lipsync service's defaults), checked in this order, the first that fails
names the skip reason:
1. profile_view: |yaw| > max_yaw_deg (45). An unknown pose (NaN) passes.
2. face_too_small: box width < min_face_px (64 source pixels).
3. low_detection_quality: detection confidence < min_confidence (0.5).
A value exactly at a limit passes. sync_quality (0..1) of a syncable face is the product of its
confidence, a pose term 1 - 0.5 (|yaw| / max_yaw)^2 - 0.25 (|pitch| / max_yaw)^2 (clipped to
0..1; 1 frontal, 0.5 at the yaw limit) and a size term sqrt(width / (2 min_face_px)) capped at 1
(0.71 at the size limit, 1 from twice it). A skipped face has sync_quality 0.

Segments: a face's analysed samples at times t_0 < t_1 < ... each cover [t_i, t_(i+1)) (the last
one up to the end of the video); a segment is a run of consecutive samples where the face is
present with one state (synced, or skipped for one reason), spanning [first t, the t after the
last). A sample where the face is absent ends its segment. Segments carry their average quality
(synced only), box [x, y, w, h] and head pose; the summary adds up total, synced and skipped ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import check_number

PROFILE_VIEW = "profile_view"
FACE_TOO_SMALL = "face_too_small"
LOW_DETECTION_QUALITY = "low_detection_quality"
SKIP_REASONS = (PROFILE_VIEW, FACE_TOO_SMALL, LOW_DETECTION_QUALITY)


@dataclass(frozen=True)
class SyncRules:
    """When a face is syncable: |yaw| <= max_yaw_deg, width >= min_face_px, confidence >= min_confidence."""

    max_yaw_deg: float = 45.0
    min_face_px: float = 64.0
    min_confidence: float = 0.5

    def __post_init__(self) -> None:
        check_number("max_yaw_deg", self.max_yaw_deg, 0.0, 180.0)
        check_number("min_face_px", self.min_face_px, 0.0)
        check_number("min_confidence", self.min_confidence, 0.0, 1.0)


@dataclass(frozen=True)
class Syncability:
    """Per face and frame (n faces): syncable (n,) bool, skip_reason (n,) object (None or a
    SKIP_REASONS name), sync_quality (n,) float32 in 0..1 (0 where skipped)."""

    syncable: np.ndarray
    skip_reason: np.ndarray
    sync_quality: np.ndarray


def judge_syncability(width_px: np.ndarray, confidence: np.ndarray, head_pose: np.ndarray, rules: SyncRules = SyncRules()) -> Syncability:
    """Apply the rules to n faces.

    width_px (n,) box widths in source pixels; confidence (n,) detection scores 0..1; head_pose
    (n,3) [pitch, yaw, roll] degrees, NaN where unknown.
    """
    width = np.asarray(width_px, np.float64).reshape(-1)
    score = np.asarray(confidence, np.float64).reshape(-1)
    pose = np.asarray(head_pose, np.float64).reshape(-1, 3)
    if not len(width) == len(score) == len(pose):
        raise ValueError(f"width_px, confidence and head_pose must describe the same faces, but got {len(width)}, {len(score)} and {len(pose)} rows")
    pitch, yaw = np.abs(pose[:, 0]), np.abs(pose[:, 1])
    reason = np.full(len(width), None, object)
    checks = (
        (PROFILE_VIEW, np.isfinite(yaw) & (yaw > rules.max_yaw_deg)),
        (FACE_TOO_SMALL, width < rules.min_face_px),
        (LOW_DETECTION_QUALITY, score < rules.min_confidence),
    )
    for name, failed in reversed(checks):  # the first rule in the list wins
        reason[failed] = name
    syncable = np.array([r is None for r in reason], bool)
    max_yaw = max(rules.max_yaw_deg, 1e-6)
    pose_term = 1.0 - 0.5 * (np.nan_to_num(yaw) / max_yaw) ** 2 - 0.25 * (np.nan_to_num(pitch) / max_yaw) ** 2
    size_term = np.sqrt(np.clip(width / max(2.0 * rules.min_face_px, 1e-6), 0.0, 1.0))
    quality = np.clip(score, 0.0, 1.0) * np.clip(pose_term, 0.0, 1.0) * size_term
    return Syncability(syncable, reason, np.where(syncable, quality, 0.0).astype(np.float32))


def sync_segments(
    times_ms: np.ndarray,
    end_ms: float,
    present: np.ndarray,
    syncable: np.ndarray,
    skip_reason: np.ndarray,
    sync_quality: np.ndarray,
    bbox_xywh: np.ndarray,
    head_pose: np.ndarray,
) -> tuple[list[dict], dict]:
    """One face's segments and summary over its analysed samples (see the module docstring).

    times_ms (s,) increasing sample times; end_ms: the end of the video; present (s,) bool; the
    other arrays hold one row per sample (ignored where absent): syncable (s,), skip_reason (s,),
    sync_quality (s,), bbox_xywh (s,4) source pixels, head_pose (s,3) degrees (NaN = unknown).
    Returns (segments, summary): segments as the report lists them, in time order; summary
    {"total_ms", "synced_ms", "skipped_ms"}. Times are rounded to whole milliseconds.
    """
    times = np.asarray(times_ms, np.float64).reshape(-1)
    count = len(times)
    if count and (np.diff(times) <= 0).any():
        raise ValueError("times_ms must be strictly increasing sample times")
    stops = np.append(times[1:], max(float(end_ms), times[-1])) if count else times
    state = [None if not present[i] else ("synced" if syncable[i] else skip_reason[i]) for i in range(count)]
    segments = []
    start = 0
    while start < count:
        stop = start + 1
        while stop < count and state[stop] == state[start]:
            stop += 1
        if state[start] is not None:
            rows = slice(start, stop)
            synced = state[start] == "synced"
            segments.append({
                "start_ms": int(round(times[start])),
                "end_ms": int(round(stops[stop - 1])),
                "synced": synced,
                "skip_reason": None if synced else str(state[start]),
                "avg_quality": round(float(np.mean(sync_quality[rows])), 4) if synced else None,
                "avg_bbox": [round(float(v), 1) for v in np.mean(bbox_xywh[rows], axis=0)],
                "avg_head_pose": _mean_pose(np.asarray(head_pose, np.float64)[rows]),
            })
        start = stop
    total = sum(s["end_ms"] - s["start_ms"] for s in segments)
    synced_ms = sum(s["end_ms"] - s["start_ms"] for s in segments if s["synced"])
    return segments, {"total_ms": total, "synced_ms": synced_ms, "skipped_ms": total - synced_ms}


def _mean_pose(pose: np.ndarray) -> list[float] | None:
    known = np.isfinite(pose).all(axis=1)
    if not known.any():
        return None
    return [round(float(v), 2) for v in pose[known].mean(axis=0)]
