"""The speaker report: who speaks when, as JSON (schemas/speaker_report.schema.json).

In the detection report's style (analysis.report): times in whole milliseconds from the start of
the video (a frame's presentation time, nearest), the exact fps as a fraction, faces named by
character_id (the identity from FUSE Analyze Faces, else face_<track id>) and track_id, scores
rounded to 4 decimals. A segment is a run of frames [start_frame, end_frame) in which one face
speaks, spanning [start_ms, end_ms); its confidence is the face's mean sync confidence over it.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..analysis.report import timestamp_ms
from .active import ActiveSpeakers, speaking_runs

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "speaker_report.schema.json")


def speaker_report_schema() -> dict:
    """The report's JSON Schema (draft 2020-12)."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def _round(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _audio_name(speakers: ActiveSpeakers, index: int) -> str:
    return f"stem_{index + 1}" if speakers.stems else "audio"


def _spans(speakers: ActiveSpeakers, active: np.ndarray) -> list[tuple[int, int, int, int]]:
    fps = speakers.fps
    return [(start, stop, timestamp_ms(start, fps), timestamp_ms(stop, fps)) for start, stop in speaking_runs(active)]


def speaker_segments(speakers: ActiveSpeakers) -> list[dict]:
    """Every face's speaking segments, in time order (then track id)."""
    segments = []
    for face in range(len(speakers)):
        stem = int(speakers.stem_of_track[face])
        for start, stop, start_ms, end_ms in _spans(speakers, speakers.speaking[face]):
            segments.append({
                "character_id": speakers.name_of(face),
                "track_id": int(speakers.track_id[face]),
                "start_ms": start_ms,
                "end_ms": end_ms,
                "start_frame": start,
                "end_frame": stop,
                "confidence": _round(np.nanmean(speakers.confidence[face, start:stop])) if np.isfinite(speakers.confidence[face, start:stop]).any() else None,
                "stem": f"stem_{stem + 1}" if stem >= 0 else None,
            })
    return sorted(segments, key=lambda s: (s["start_frame"], s["track_id"]))


def build_speaker_report(speakers: ActiveSpeakers, timing_ms: dict | None = None) -> dict:
    """The report dict (schemas/speaker_report.schema.json)."""
    fps = speakers.fps
    frame_ms = 1000.0 / float(fps)
    faces = []
    for face in range(len(speakers)):
        stem = int(speakers.stem_of_track[face])
        faces.append({
            "character_id": speakers.name_of(face),
            "track_id": int(speakers.track_id[face]),
            "on_screen_ms": int(round(speakers.present[face].sum() * frame_ms)),
            "speaking_ms": int(round(speakers.speaking[face].sum() * frame_ms)),
            "segments": len(speaking_runs(speakers.speaking[face])),
            "mean_confidence": _round(np.nanmean(speakers.confidence[face])) if np.isfinite(speakers.confidence[face]).any() else None,
            "stem": f"stem_{stem + 1}" if stem >= 0 else None,
            "stem_scores": [round(float(v), 4) for v in speakers.stem_scores[face]],
        })
    speech, unassigned = [], []
    for index, (heard, nobody) in enumerate(zip(speakers.speech, speakers.unassigned_speech())):
        name = _audio_name(speakers, index)
        speech += [{"audio": name, "start_ms": a, "end_ms": b} for _, _, a, b in _spans(speakers, heard)]
        unassigned += [{"audio": name, "start_ms": a, "end_ms": b} for _, _, a, b in _spans(speakers, nobody)]
    settings = speakers.settings
    timing = {name: int(round(value)) for name, value in (timing_ms or {}).items() if name != "total_ms"}
    timing["total_ms"] = sum(timing.values())
    return {
        "fps": f"{fps.numerator}/{fps.denominator}",
        "frame_count": int(speakers.frame_count),
        "video_duration_ms": timestamp_ms(speakers.frame_count, fps),
        "method": speakers.method,
        "model": speakers.model,
        "settings": {
            "threshold": float(settings.threshold),
            "window_ms": float(settings.window_ms),
            "min_segment_ms": float(settings.min_segment_ms),
            "max_gap_ms": float(settings.max_gap_ms),
            "stems": len(speakers.stems),
        },
        "segments": speaker_segments(speakers),
        "faces": faces,
        "speech": speech,
        "unassigned_speech": unassigned,
        "notes": list(speakers.notes),
        "timing": timing,
    }
