"""FaceTracks <-> a JSON-able dict (the FUSE Tracks To JSON node, files, other programs).

Layout: {"fps": "30000/1001", "fps_float": 29.97..., "frame_count": N, "frame_size": [H, W],
"tracks": [{"id": 1, "identity": null | "name", "frames": [{"frame": 0, "xyxy": [x1, y1, x2, y2],
"state": "detected" | "interpolated", "score": 0.93, "landmarks": [[x, y] * 5]}, ...]}, ...]}.
Only the frames where a track is present are listed; "landmarks" appears when the tracks carry
them. Numbers are the float32 values written as floats, so a round trip is exact.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from ..core.types import ABSENT, STATE_NAMES, FaceTracks, check_fps

_STATE_OF_NAME = {name: state for state, name in STATE_NAMES.items()}


def tracks_to_dict(tracks: FaceTracks) -> dict:
    """A JSON-able dict of `tracks` (see the module docstring for the layout)."""
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be a FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    out_tracks = []
    for index, track_id in enumerate(tracks.track_id.tolist()):
        frames = []
        for frame in np.flatnonzero(tracks.state[index] != ABSENT).tolist():
            entry = {
                "frame": frame,
                "xyxy": [float(v) for v in tracks.xyxy[index, frame]],
                "state": STATE_NAMES[int(tracks.state[index, frame])],
                "score": float(tracks.score[index, frame]),
            }
            if tracks.landmarks is not None:
                entry["landmarks"] = [[float(x), float(y)] for x, y in tracks.landmarks[index, frame]]
            frames.append(entry)
        identity = None if tracks.identity is None else str(tracks.identity[index])
        out_tracks.append({"id": int(track_id), "identity": identity, "frames": frames})
    return {
        "fps": f"{tracks.fps.numerator}/{tracks.fps.denominator}",
        "fps_float": float(tracks.fps),
        "frame_count": tracks.frame_count,
        "frame_size": [int(v) for v in tracks.frame_size],
        "tracks": out_tracks,
    }


def tracks_to_json(tracks: FaceTracks, indent: int | None = None) -> str:
    """tracks_to_dict as JSON text."""
    return json.dumps(tracks_to_dict(tracks), indent=indent)


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"{where} must be a dict with a {key!r} entry, but got {type(mapping).__name__} without it")
    return mapping[key]


def tracks_from_dict(data: dict) -> FaceTracks:
    """The FaceTracks a tracks_to_dict dict describes (absent frames: NaN boxes and landmarks)."""
    frame_count = int(_require(data, "frame_count", "data"))
    frame_size = tuple(_require(data, "frame_size", "data"))
    fps: Fraction = check_fps(_require(data, "fps", "data"))
    entries = _require(data, "tracks", "data")
    count = len(entries)
    has_landmarks = any("landmarks" in f for t in entries for f in _require(t, "frames", "data['tracks'][i]"))
    xyxy = np.full((count, frame_count, 4), np.nan, np.float32)
    state = np.full((count, frame_count), ABSENT, np.uint8)
    score = np.zeros((count, frame_count), np.float32)
    landmarks = np.full((count, frame_count, 5, 2), np.nan, np.float32) if has_landmarks else None
    identities = []
    for index, entry in enumerate(entries):
        identities.append(entry.get("identity"))
        for frame_entry in entry["frames"]:
            frame = int(_require(frame_entry, "frame", "a frame entry"))
            if not 0 <= frame < frame_count:
                raise ValueError(f"frame must be in [0, {frame_count}), but got {frame} in track {entry.get('id')}")
            name = _require(frame_entry, "state", "a frame entry")
            if name not in _STATE_OF_NAME or _STATE_OF_NAME[name] == ABSENT:
                raise ValueError(f"state must be 'detected' or 'interpolated', but got {name!r} in track {entry.get('id')}")
            xyxy[index, frame] = _require(frame_entry, "xyxy", "a frame entry")
            state[index, frame] = _STATE_OF_NAME[name]
            score[index, frame] = _require(frame_entry, "score", "a frame entry")
            if landmarks is not None and "landmarks" in frame_entry:
                landmarks[index, frame] = frame_entry["landmarks"]
    return FaceTracks(
        track_id=np.array([int(_require(t, "id", "data['tracks'][i]")) for t in entries], np.int64),
        xyxy=xyxy,
        state=state,
        score=score,
        frame_count=frame_count,
        frame_size=frame_size,
        fps=fps,
        landmarks=landmarks,
        identity=None if all(i is None for i in identities) else np.array(["" if i is None else i for i in identities]),
    )
