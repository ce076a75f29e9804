"""The quality report: a JSON-ready dict (schemas/quality_report.schema.json), for machines.

Per face, its segments (frames, milliseconds, shot), each with its figures, the checks it failed
and whether the original face was put back; per face also every frame's figures over its span.
Figures that could not be measured are null; lip-sync and identity figures are left out entirely
when their model (or the audio) is missing, and `lip_sync.reason` / `identity.reason` say why.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import asdict

import numpy as np

from .check import FIGURES, QualityResult

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "quality_report.schema.json")
REPORT_VERSION = 1
LIP_SYNC_KEYS = ("lse_d", "lse_c", "av_offset", "sync_stacks")
IDENTITY_KEYS = ("identity_min", "identity_median")


@functools.lru_cache(maxsize=1)
def report_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def _number(value):
    """A JSON number rounded to 4 decimals, None for NaN / None."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if not math.isfinite(value) else round(value, 4)


def _milliseconds(frame: int, fps) -> int:
    return int(round(frame * 1000 / fps))


def build_report(result: QualityResult, fallback: dict | None = None) -> dict:
    """The report of a check. fallback: {"applied": bool, "fade_frames": int, "output": str|None}
    when the fallback ran (None: it was not asked for)."""
    tracks, fps = result.tracks, result.tracks.fps
    figures = [name for name in FIGURES if result.identity["available"] or name != "identity"]
    faces = []
    for index, track_id in enumerate(tracks.track_id.tolist()):
        numbers = [n for n, segment in enumerate(result.segments) if segment.track_index == index]
        segments = []
        for number in numbers:
            segment = result.segments[number]
            values = {key: _number(value) for key, value in result.segment_figures[number].items()}
            if not result.identity["available"]:
                values = {key: value for key, value in values.items() if key not in IDENTITY_KEYS}
            segments.append({
                "start": segment.start, "stop": segment.stop,
                "start_ms": _milliseconds(segment.start, fps), "stop_ms": _milliseconds(segment.stop, fps),
                "shot": segment.shot,
                "figures": values,
                "failed": [{"check": f["check"], "value": _number(f["value"]), "threshold": _number(f["threshold"])} for f in result.failures[number]],
                "fallback": bool(fallback and fallback.get("applied") and result.failures[number]),
            })
        present = np.flatnonzero(tracks.present[index])
        first, last = (int(present[0]), int(present[-1])) if len(present) else (0, -1)
        per_frame = {"first_frame": first}
        per_frame.update({name: [_number(v) for v in result.figures[name][index, first : last + 1]] for name in figures})
        faces.append({
            "track_id": int(track_id),
            "identity": None if tracks.identity is None else str(tracks.identity[index]),
            "frames": int(len(present)),
            "segments": segments,
            "failed_segments": sum(1 for s in segments if s["failed"]),
            "per_frame": per_frame,
        })
    outside = dict(result.outside)
    outside["mean_abs_diff"] = _number(outside["mean_abs_diff"])
    outside["unchanged"] = outside["max_abs_diff"] == 0
    report = {
        "version": REPORT_VERSION,
        "video": {"frame_count": tracks.frame_count, "frame_size": [int(v) for v in tracks.frame_size], "fps": f"{fps.numerator}/{fps.denominator}", "fps_float": float(fps)},
        "settings": {
            "segment_seconds": float(result.options.segment_seconds),
            "face_margin": float(result.options.face_margin),
            "thresholds": {key: _number(value) for key, value in asdict(result.options.thresholds).items()},
        },
        "shots": {"cuts": [int(c) for c in result.cuts], "source": result.cuts_source},
        "lip_sync": dict(result.lip_sync),
        "identity": dict(result.identity),
        "outside_faces": outside,
        "faces": faces,
        "fallback": {
            "enabled": fallback is not None,
            "applied": bool(fallback and fallback.get("applied")),
            "fade_frames": int(fallback["fade_frames"]) if fallback else 0,
            "segments_replaced": sum(1 for f in result.failures if f) if fallback and fallback.get("applied") else 0,
        },
    }
    return report


def summary_lines(report: dict) -> list[str]:
    """A few human lines: per face, failed segments and why; the outside-face change."""
    lines = []
    for face in report["faces"]:
        name = face["identity"] or f"face {face['track_id']}"
        failed = [s for s in face["segments"] if s["failed"]]
        if not failed:
            lines.append(f"{name}: {len(face['segments'])} segments, all passed")
            continue
        spans = ", ".join(f"{s['start']}-{s['stop'] - 1} ({', '.join(f['check'] for f in s['failed'])})" for s in failed)
        lines.append(f"{name}: {len(failed)} of {len(face['segments'])} segments failed: frames {spans}")
    outside = report["outside_faces"]
    lines.append("outside the faces: unchanged" if outside["unchanged"] else f"outside the faces: changed (max {outside['max_abs_diff']}/255 in {outside['frames_changed']} frames)")
    for key in ("lip_sync", "identity"):
        if not report[key]["available"]:
            lines.append(f"{key.replace('_', ' ')}: not measured ({report[key]['reason']})")
    return lines
