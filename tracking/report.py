"""FaceTracks <-> a JSON-able dict (the FUSE Tracks To JSON node, files, other programs).

Layout: {"fps": "30000/1001", "fps_float": 29.97..., "frame_count": N, "frame_size": [H, W],
"cuts": [c1, c2, ...], "shots": [[0, c1], [c1, c2], ..., [c_last, N]],
"tracks": [{"id": 1, "identity": null | "name", "frames": [{"frame": 0, "xyxy": [x1, y1, x2, y2],
"state": "detected" | "interpolated", "score": 0.93, "landmarks": [[x, y] * 5]}, ...]}, ...]}.
A cut at frame c starts a new shot at c; shots are half-open frame ranges; "cuts" is null when
shots were not looked for. Only the frames where
a track is present are listed; "landmarks" appears when the tracks carry them. Numbers are the
float32 values written as floats, so a round trip is exact. A dict without "cuts" (written
before shots existed) reads as one shot.
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
    xyxy, score = tracks.row_xyxy.tolist(), tracks.row_score.tolist()
    landmarks = None if tracks.row_landmarks is None else tracks.row_landmarks.tolist()
    frames_of_row, states = tracks.row_frame.tolist(), tracks.row_state.tolist()
    for index, track_id in enumerate(tracks.track_id.tolist()):
        frames = []
        for row in range(int(tracks.offsets[index]), int(tracks.offsets[index + 1])):
            entry = {"frame": frames_of_row[row], "xyxy": xyxy[row], "state": STATE_NAMES[states[row]], "score": score[row]}
            if landmarks is not None:
                entry["landmarks"] = landmarks[row]
            frames.append(entry)
        identity = None if tracks.identity is None else str(tracks.identity[index])
        out_tracks.append({"id": int(track_id), "identity": identity, "frames": frames})
    return {
        "fps": f"{tracks.fps.numerator}/{tracks.fps.denominator}",
        "fps_float": float(tracks.fps),
        "frame_count": tracks.frame_count,
        "frame_size": [int(v) for v in tracks.frame_size],
        "cuts": None if tracks.cuts is None else tracks.cuts.tolist(),
        "shots": [list(shot) for shot in tracks.shots],
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
    """The FaceTracks a tracks_to_dict dict describes (frames listed in any order per track)."""
    frame_count = int(_require(data, "frame_count", "data"))
    frame_size = tuple(_require(data, "frame_size", "data"))
    fps: Fraction = check_fps(_require(data, "fps", "data"))
    entries = _require(data, "tracks", "data")
    has_landmarks = any("landmarks" in f for t in entries for f in _require(t, "frames", "data['tracks'][i]"))
    frames, xyxy, state, score, landmarks, offsets, identities = [], [], [], [], [], [0], []
    for entry in entries:
        identities.append(entry.get("identity"))
        for frame_entry in sorted(entry["frames"], key=lambda f: int(_require(f, "frame", "a frame entry"))):
            frame = int(frame_entry["frame"])
            if not 0 <= frame < frame_count:
                raise ValueError(f"frame must be in [0, {frame_count}), but got {frame} in track {entry.get('id')}")
            name = _require(frame_entry, "state", "a frame entry")
            if name not in _STATE_OF_NAME or _STATE_OF_NAME[name] == ABSENT:
                raise ValueError(f"state must be 'detected' or 'interpolated', but got {name!r} in track {entry.get('id')}")
            frames.append(frame)
            xyxy.append(_require(frame_entry, "xyxy", "a frame entry"))
            state.append(_STATE_OF_NAME[name])
            score.append(_require(frame_entry, "score", "a frame entry"))
            landmarks.append(frame_entry.get("landmarks", [[np.nan, np.nan]] * 5))
        offsets.append(len(frames))
    return FaceTracks.from_rows(
        track_id=np.array([int(_require(t, "id", "data['tracks'][i]")) for t in entries], np.int64),
        offsets=np.array(offsets, np.int64),
        frame=np.array(frames, np.int64),
        xyxy=np.array(xyxy, np.float32).reshape(-1, 4),
        state=np.array(state, np.uint8),
        score=np.array(score, np.float32),
        frame_count=frame_count,
        frame_size=frame_size,
        fps=fps,
        landmarks=np.array(landmarks, np.float32).reshape(-1, 5, 2) if has_landmarks else None,
        identity=None if all(i is None for i in identities) else np.array(["" if i is None else i for i in identities]),
        cuts=data.get("cuts"),
    )
