"""The detection report: analysed faces -> a JSON-ready dict in the service's layout.

The layout is schemas/detection_report.schema.json (shipped with the pack): the multi-face
lipsync service's /detect-faces response (frames with timestamp_ms and faces; frame_width,
frame_height, sample_fps, video_duration_ms, characters_detected) plus, per face, its segments
and summary (the service's /lipsync segment layout), its best reference frame, and the settings
and timing of the run. Boxes are [x, y, w, h] source pixels (the service's convention), head
poses [pitch, yaw, roll] degrees, times whole milliseconds. Numbers are rounded for reading:
boxes to 0.1 px, angles to 0.01 degree, scores to 4 decimals.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .identity import UNKNOWN_PREFIX, Characters
from .quality import FaceQuality
from .syncability import Syncability, sync_segments
from ..core.types import FaceTracks

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "detection_report.schema.json")


def report_schema() -> dict:
    """The report's JSON Schema (draft 2020-12)."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True, eq=False)
class FaceSamples:
    """The analysed faces, one row per (analysed frame, face present), in frame order.

    frame (m,) int64 clip frame; track (m,) int64 index into the output tracks; xyxy (m,4)
    source pixels; confidence (m,) 0..1; head_pose (m,3) [pitch, yaw, roll] degrees, NaN
    unknown; syncability: per row; quality: (m,) FaceQuality.
    """

    frame: np.ndarray
    track: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    head_pose: np.ndarray
    syncability: Syncability
    quality: tuple[FaceQuality, ...]


def timestamp_ms(frame: int, fps: Fraction) -> int:
    """The presentation time of a frame in whole milliseconds (nearest)."""
    return int(round(Fraction(int(frame) * 1000) / fps))


def xyxy_to_bbox(xyxy: np.ndarray) -> list[float]:
    """(4,) x1, y1, x2, y2 -> [x, y, w, h] rounded to 0.1 px."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)]


def _pose(pose: np.ndarray) -> list[float] | None:
    return [round(float(v), 2) for v in pose] if np.isfinite(pose).all() else None


def _number(value: float, digits: int = 4) -> float | None:
    return round(float(value), digits) if np.isfinite(value) else None


def _face_result(index: int, tracks: FaceTracks, samples: FaceSamples, similarity: float, times: np.ndarray, sampled: np.ndarray, end_ms: int, fps: Fraction) -> dict:
    rows = np.flatnonzero(samples.track == index)
    position = {int(frame): i for i, frame in enumerate(sampled)}
    present = np.zeros(len(sampled), bool)
    syncable = np.zeros(len(sampled), bool)
    reason = np.full(len(sampled), None, object)
    quality = np.zeros(len(sampled), np.float64)
    bbox = np.zeros((len(sampled), 4))
    pose = np.full((len(sampled), 3), np.nan)
    for row in rows:
        at = position[int(samples.frame[row])]
        present[at] = True
        syncable[at] = samples.syncability.syncable[row]
        reason[at] = samples.syncability.skip_reason[row]
        quality[at] = samples.syncability.sync_quality[row]
        bbox[at] = xyxy_to_bbox(samples.xyxy[row])
        pose[at] = samples.head_pose[row]
    segments, summary = sync_segments(times, end_ms, present, syncable, reason, quality, bbox, pose)
    best_reference = None
    if len(rows):
        best = rows[int(np.argmax([samples.quality[row].score for row in rows]))]
        best_reference = {
            "frame": int(samples.frame[best]),
            "timestamp_ms": timestamp_ms(samples.frame[best], fps),
            "bbox": xyxy_to_bbox(samples.xyxy[best]),
            "quality": samples.quality[best].as_dict(),
        }
    return {
        "character_id": str(tracks.identity[index]),
        "track_id": int(tracks.track_id[index]),
        "similarity": _number(similarity),
        "segments": segments,
        "summary": summary,
        "best_reference": best_reference,
    }


def build_detection_report(
    samples: FaceSamples,
    tracks: FaceTracks,
    similarity: np.ndarray,
    characters: Characters | None,
    sampled_frames: np.ndarray,
    *,
    sample_fps: float,
    settings: dict,
    timing_ms: dict,
) -> dict:
    """The report dict (see schemas/detection_report.schema.json).

    tracks: the output tracks, identity set; similarity (k,) per output track (NaN unknown);
    characters: the references given, or None; sampled_frames (s,) the analysed frames;
    sample_fps: the analysed frames per second to report; settings: the run's settings;
    timing_ms: stage name -> milliseconds (total_ms is added).
    """
    if tracks.identity is None and len(tracks):
        raise ValueError("tracks must carry identities (assign_identities), but got tracks without them")
    fps = tracks.fps
    sampled = np.asarray(sampled_frames, np.int64)
    times = np.array([timestamp_ms(frame, fps) for frame in sampled], np.float64)
    end_ms = timestamp_ms(tracks.frame_count, fps)
    frames = []
    by_frame = {int(frame): [] for frame in sampled}
    for row in range(len(samples.frame)):
        index = int(samples.track[row])
        by_frame[int(samples.frame[row])].append((int(tracks.track_id[index]), {
            "character_id": str(tracks.identity[index]),
            "track_id": int(tracks.track_id[index]),
            "bbox": xyxy_to_bbox(samples.xyxy[row]),
            "confidence": round(float(np.clip(samples.confidence[row], 0.0, 1.0)), 4),
            "head_pose": _pose(samples.head_pose[row]),
            "syncable": bool(samples.syncability.syncable[row]),
            "sync_quality": round(float(samples.syncability.sync_quality[row]), 4),
            "skip_reason": samples.syncability.skip_reason[row],
            "quality": _number(samples.quality[row].score),
        }))
    for frame, time in zip(sampled, times):
        faces = [face for _, face in sorted(by_frame[int(frame)], key=lambda pair: pair[0])]
        frames.append({"timestamp_ms": int(time), "frame": int(frame), "faces": faces})

    results, unknown_faces, seen = [], [], []
    for index in range(len(tracks)):
        entry = _face_result(index, tracks, samples, float(similarity[index]), times, sampled, end_ms, fps)
        (unknown_faces if entry["character_id"].startswith(UNKNOWN_PREFIX) else results).append(entry)
    for frame in frames:
        for face in frame["faces"]:
            if face["character_id"] not in seen:
                seen.append(face["character_id"])
    names = [] if tracks.identity is None else tracks.identity.tolist()
    references = [] if characters is None else [
        {"character_id": name, "reference_images": int(count), "detected": name in names} for name, count in zip(characters.names, characters.reference_count)
    ]
    timing = {name: int(round(value)) for name, value in timing_ms.items() if name != "total_ms"}
    timing["total_ms"] = sum(timing.values())
    return {
        "frames": frames,
        "frame_width": int(tracks.frame_size[1]),
        "frame_height": int(tracks.frame_size[0]),
        "sample_fps": float(sample_fps),
        "video_duration_ms": end_ms,
        "characters_detected": seen,
        "fps": f"{fps.numerator}/{fps.denominator}",
        "frame_count": int(tracks.frame_count),
        "faces": {"total_detected": len(tracks), "known": len(results), "unknown": len(unknown_faces), "results": results, "unknown_faces": unknown_faces},
        "references": references,
        "settings": settings,
        "timing": timing,
    }
