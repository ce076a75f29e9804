"""FaceDetections and FaceTracks: the frozen, validated struct-of-arrays types of the pipeline.

Coordinates are source-frame pixels, xyxy, float32. Metadata is numpy; pixels never live here.
Every array is copied on construction and made read-only, so a value handed to several ComfyUI
nodes can never be changed behind their backs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

ABSENT = 0
DETECTED = 1
INTERPOLATED = 2
STATE_NAMES = {ABSENT: "absent", DETECTED: "detected", INTERPOLATED: "interpolated"}


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _as_array(name: str, value, dtype) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be convertible to a {np.dtype(dtype).name} array, but got {type(value).__name__}: {error}") from None


def _check_shape(name: str, array: np.ndarray, expected: Sequence[int | None]) -> None:
    """Raise ValueError unless array.shape matches expected (None = any size)."""
    ok = array.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, array.shape))
    if not ok:
        wanted = "(" + ", ".join("_" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{name} must be a {len(expected)}D np.ndarray with shape {wanted}, but got shape {tuple(array.shape)}")


def _check_fingerprint(fingerprint, frame_count: int) -> np.ndarray | None:
    """None, or a (frame_count,g,g,C) uint8 core.fingerprint.fingerprint_frames result, frozen."""
    if fingerprint is None:
        return None
    array = _as_array("fingerprint", fingerprint, np.uint8)
    _check_shape("fingerprint", array, (frame_count, None, None, None))
    return _frozen(array)


def check_frame_size(frame_size) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (height, width), but got {frame_size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"frame_size must be positive (height, width), but got {frame_size!r}")
    return height, width


def _snap_float_fps(fps: float) -> Fraction:
    """A float fps as the exact rate it stands for: 29.97 -> 30000/1001, 25.0 -> 25, 12.5 -> 25/2.

    Video tools hand fps around as rounded floats (VideoHelperSuite gives 29.97); NTSC rates are
    N*1000/1001, so a non-integer float within 0.005 of such a rate is taken to be it.
    """
    if abs(fps - round(fps)) < 1e-6:
        return Fraction(round(fps))
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if abs(float(ntsc) - fps) < 0.005:
        return ntsc
    return Fraction(fps).limit_denominator(1001)


def check_fps(fps) -> Fraction:
    """Exact fps as a Fraction: 30000/1001 stays 30000/1001; floats are snapped to a near fraction."""
    if isinstance(fps, Fraction):
        value = fps
    elif isinstance(fps, (int, np.integer)):
        value = Fraction(int(fps))
    elif isinstance(fps, (float, np.floating)):
        if not np.isfinite(fps):
            raise ValueError(f"fps must be a positive number, but got {fps!r}")
        value = _snap_float_fps(float(fps))
    elif isinstance(fps, str):
        try:
            value = Fraction(fps)
        except ValueError:
            raise ValueError(f"fps must be a positive number such as 25 or 30000/1001, but got {fps!r}") from None
    else:
        raise ValueError(f"fps must be a positive number or Fraction, but got {type(fps).__name__}")
    if value <= 0:
        raise ValueError(f"fps must be a positive number, but got {fps!r}")
    return value


@dataclass(frozen=True, eq=False)
class FaceDetections:
    """Faces found in a clip (socket FUSE_FACES).

    frame (n,) int64 frame index; xyxy (n,4) float32 source pixels; score (n,) float32 in 0..1;
    landmarks (n,5,2) float32 or None (left eye, right eye, nose, left and right mouth corner);
    embedding (n,D) float32 or None. frame_count and frame_size (H, W) describe the source clip.
    sampled_frames (s,) int64 or None: the frames the detector ran on when it ran on a stride
    (detect_every > 1); None means every frame. A frame not sampled has unknown faces, not none.
    fingerprint (frame_count,16,16,C) uint8 or None: core.fingerprint.fingerprint_frames of the
    frames the faces were found in, so they are never used on another video.
    cuts (c,) int64 or None: the shot boundaries found while detecting (frames that start a new
    shot, sorted, in [1, N)); None means shots were not looked for.
    """

    frame: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    frame_count: int
    frame_size: tuple[int, int]
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    detector: str = ""
    sampled_frames: np.ndarray | None = None
    fingerprint: np.ndarray | None = None
    cuts: np.ndarray | None = None

    def __post_init__(self) -> None:
        frame = _as_array("frame", self.frame, np.int64).reshape(-1) if np.size(self.frame) == 0 else _as_array("frame", self.frame, np.int64)
        xyxy = _as_array("xyxy", self.xyxy, np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        score = _as_array("score", self.score, np.float32).reshape(-1) if np.size(self.score) == 0 else _as_array("score", self.score, np.float32)
        _check_shape("frame", frame, (None,))
        n = len(frame)
        _check_shape("xyxy", xyxy, (n, 4))
        _check_shape("score", score, (n,))
        if not np.isfinite(xyxy).all():
            raise ValueError("xyxy must hold finite numbers, but got NaN or inf in rows " + str(np.flatnonzero(~np.isfinite(xyxy).all(1))[:5].tolist()))
        if n and ((xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])).any():
            raise ValueError("xyxy must have x2 >= x1 and y2 >= y1, but got inverted boxes")
        if not isinstance(self.frame_count, (int, np.integer)) or self.frame_count < 0:
            raise ValueError(f"frame_count must be a non-negative int, but got {self.frame_count!r}")
        if n and (frame.min() < 0 or frame.max() >= self.frame_count):
            raise ValueError(f"frame must hold indices in [0, {self.frame_count}), but got {frame.min()}..{frame.max()}")
        object.__setattr__(self, "frame_size", check_frame_size(self.frame_size))
        object.__setattr__(self, "frame_count", int(self.frame_count))
        if self.landmarks is not None:
            landmarks = _as_array("landmarks", self.landmarks, np.float32)
            if landmarks.size == 0:
                landmarks = landmarks.reshape(0, 5, 2)
            _check_shape("landmarks", landmarks, (n, 5, 2))
            object.__setattr__(self, "landmarks", _frozen(landmarks))
        if self.embedding is not None:
            embedding = _as_array("embedding", self.embedding, np.float32)
            _check_shape("embedding", embedding, (n, None))
            object.__setattr__(self, "embedding", _frozen(embedding))
        if self.sampled_frames is not None:
            sampled = np.unique(_as_array("sampled_frames", self.sampled_frames, np.int64).reshape(-1))
            if len(sampled) and (sampled[0] < 0 or sampled[-1] >= self.frame_count):
                raise ValueError(f"sampled_frames must hold indices in [0, {self.frame_count}), but got {sampled[0]}..{sampled[-1]}")
            if n and not np.isin(frame, sampled).all():
                raise ValueError("sampled_frames must include every frame that has a detection, but some detections are on frames not sampled")
            object.__setattr__(self, "sampled_frames", _frozen(sampled))
        object.__setattr__(self, "fingerprint", _check_fingerprint(self.fingerprint, self.frame_count))
        if self.cuts is not None:
            object.__setattr__(self, "cuts", _frozen(check_cuts(self.cuts, self.frame_count)))
        object.__setattr__(self, "frame", _frozen(frame))
        object.__setattr__(self, "xyxy", _frozen(xyxy))
        object.__setattr__(self, "score", _frozen(score))

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def is_sampled(self) -> np.ndarray:
        """(frame_count,) bool: the detector ran on this frame."""
        if self.sampled_frames is None:
            return np.ones(self.frame_count, bool)
        mask = np.zeros(self.frame_count, bool)
        mask[self.sampled_frames] = True
        return mask

    def __repr__(self) -> str:
        return f"FaceDetections({len(self)} faces in {self.frame_count} frames of {self.frame_size[1]}x{self.frame_size[0]}, detector={self.detector!r})"

    @classmethod
    def empty(cls, frame_count: int, frame_size: tuple[int, int], detector: str = "") -> "FaceDetections":
        return cls(frame=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32), score=np.zeros(0, np.float32), frame_count=frame_count, frame_size=frame_size, detector=detector)

    def select(self, mask: np.ndarray) -> "FaceDetections":
        """A new FaceDetections with the rows where mask (bool (n,) or integer indices) selects."""
        mask = np.asarray(mask)
        return FaceDetections(
            frame=self.frame[mask],
            xyxy=self.xyxy[mask],
            score=self.score[mask],
            frame_count=self.frame_count,
            frame_size=self.frame_size,
            landmarks=None if self.landmarks is None else self.landmarks[mask],
            embedding=None if self.embedding is None else self.embedding[mask],
            detector=self.detector,
            sampled_frames=self.sampled_frames,
            fingerprint=self.fingerprint,
            cuts=self.cuts,
        )

    def in_frame(self, index: int) -> "FaceDetections":
        return self.select(self.frame == index)

    @classmethod
    def merge(cls, parts: Iterable["FaceDetections"]) -> "FaceDetections":
        """Concatenate detections of the same clip (e.g. batches of frames), sorted by frame."""
        parts = list(parts)
        if not parts:
            raise ValueError("merge needs at least one FaceDetections, but got none")
        first = parts[0]
        for part in parts[1:]:
            if part.frame_count != first.frame_count or part.frame_size != first.frame_size:
                raise ValueError(f"merge needs detections of one clip, but got {part.frame_count} frames of {part.frame_size} and {first.frame_count} of {first.frame_size}")
        frame = np.concatenate([p.frame for p in parts])
        order = np.argsort(frame, kind="stable")

        def optional(name: str):
            values = [getattr(p, name) for p in parts if len(p)]
            if not values or any(v is None for v in values):
                return None
            return np.concatenate(values)[order]

        nonempty = [p for p in parts if len(p)] or [first]
        return cls(
            frame=frame[order],
            xyxy=np.concatenate([p.xyxy for p in parts])[order],
            score=np.concatenate([p.score for p in parts])[order],
            frame_count=first.frame_count,
            frame_size=first.frame_size,
            landmarks=optional("landmarks") if len(frame) else None,
            embedding=optional("embedding") if len(frame) else None,
            detector=nonempty[0].detector,
            sampled_frames=None if all(p.sampled_frames is None for p in parts) else np.concatenate([p.sampled_frames if p.sampled_frames is not None else np.arange(p.frame_count) for p in parts]),
            fingerprint=first.fingerprint if all(p.fingerprint is not None and np.array_equal(p.fingerprint, first.fingerprint) for p in parts) else None,
            cuts=None if all(p.cuts is None for p in parts) else np.concatenate([p.cuts for p in parts if p.cuts is not None]),
        )


class FaceTracks:
    """Faces followed through a clip (socket FUSE_TRACKS).

    Stored sparse, one row per (track, frame) where the face is present, so memory grows with the
    faces, not with tracks x frames. Rows are grouped by track, in track order, frames strictly
    increasing within a track: track_id (k,) int64, ids from 1; offsets (k+1,) int64, track i's
    rows are offsets[i]:offsets[i+1]; row_frame (m,) int64; row_xyxy (m,4) float32 source pixels;
    row_state (m,) uint8 DETECTED or INTERPOLATED; row_score (m,) float32; row_landmarks (m,5,2)
    float32 or None. identity (k,) str or None (character names). cuts (c,) int64, sorted: the
    frames that start a new shot (shot boundaries), in [1, N); None when shots were not looked
    for (cut_frames is then empty). frame_count N, frame_size (H, W)
    and fps (a Fraction) describe the source clip; fingerprint (N,16,16,C) uint8 or None (see
    FaceDetections) lets cropping refuse another video's frames.

    The dense views xyxy (k,N,4) (NaN where absent), state (k,N), score (k,N) (0 where absent),
    landmarks (k,N,5,2) and present (k,N) are built on first use and kept; code that may meet
    long clips with many tracks reads the rows (rows_of, frames_of) instead.

    Construct from dense arrays, FaceTracks(track_id, xyxy, state, score, frame_count,
    frame_size, fps, landmarks, identity, fingerprint, cuts), or from rows with FaceTracks.from_rows(...).
    Every array is copied and read-only; the object cannot be changed.
    """

    def __init__(
        self,
        track_id,
        xyxy,
        state,
        score,
        frame_count: int,
        frame_size: tuple[int, int],
        fps=Fraction(25),
        landmarks=None,
        identity=None,
        fingerprint=None,
        cuts=None,
    ) -> None:
        n = _check_frame_count(frame_count)
        track_id = _as_array("track_id", track_id, np.int64).reshape(-1)
        k = len(track_id)
        xyxy = _as_array("xyxy", xyxy, np.float32).reshape(k, n, 4) if np.size(xyxy) == 0 else _as_array("xyxy", xyxy, np.float32)
        state = _as_array("state", state, np.uint8).reshape(k, n) if np.size(state) == 0 else _as_array("state", state, np.uint8)
        score = _as_array("score", score, np.float32).reshape(k, n) if np.size(score) == 0 else _as_array("score", score, np.float32)
        _check_shape("xyxy", xyxy, (k, n, 4))
        _check_shape("state", state, (k, n))
        _check_shape("score", score, (k, n))
        if not np.isin(state, list(STATE_NAMES)).all():
            raise ValueError(f"state must hold only {sorted(STATE_NAMES)}, but got {np.unique(state).tolist()}")
        if landmarks is not None:
            landmarks = _as_array("landmarks", landmarks, np.float32)
            _check_shape("landmarks", landmarks, (k, n, 5, 2))
        track_of_row, frame = np.nonzero(state != ABSENT)  # row-major: grouped by track, frames increasing
        if not np.isfinite(xyxy[track_of_row, frame]).all():
            raise ValueError("xyxy must be finite wherever state is not absent, but got NaN or inf")
        self._set_rows(
            track_id=track_id,
            offsets=np.searchsorted(track_of_row, np.arange(k + 1)),
            frame=frame,
            xyxy=xyxy[track_of_row, frame],
            state=state[track_of_row, frame],
            score=score[track_of_row, frame],
            landmarks=None if landmarks is None else landmarks[track_of_row, frame],
            frame_count=n,
            frame_size=frame_size,
            fps=fps,
            identity=identity,
            fingerprint=fingerprint,
            cuts=cuts,
        )

    @classmethod
    def from_rows(
        cls,
        *,
        track_id,
        offsets,
        frame,
        xyxy,
        state,
        score,
        frame_count: int,
        frame_size: tuple[int, int],
        fps=Fraction(25),
        landmarks=None,
        identity=None,
        fingerprint=None,
        cuts=None,
    ) -> "FaceTracks":
        """FaceTracks from its sparse rows (see the class docstring): no dense array is made."""
        tracks = cls.__new__(cls)
        tracks._set_rows(
            track_id=track_id, offsets=offsets, frame=frame, xyxy=xyxy, state=state, score=score, landmarks=landmarks,
            frame_count=_check_frame_count(frame_count), frame_size=frame_size, fps=fps, identity=identity, fingerprint=fingerprint, cuts=cuts,
        )
        return tracks

    def _set_rows(self, *, track_id, offsets, frame, xyxy, state, score, landmarks, frame_count, frame_size, fps, identity, fingerprint, cuts) -> None:
        track_id = _as_array("track_id", track_id, np.int64).reshape(-1)
        k = len(track_id)
        offsets = _as_array("offsets", offsets, np.int64).reshape(-1)
        frame = _as_array("frame", frame, np.int64).reshape(-1)
        m = len(frame)
        xyxy = _as_array("xyxy", xyxy, np.float32).reshape(-1, 4) if np.size(xyxy) == 0 else _as_array("xyxy", xyxy, np.float32)
        state = _as_array("state", state, np.uint8).reshape(-1)
        score = _as_array("score", score, np.float32).reshape(-1)
        _check_shape("offsets", offsets, (k + 1,))
        _check_shape("xyxy", xyxy, (m, 4))
        _check_shape("state", state, (m,))
        _check_shape("score", score, (m,))
        if len(np.unique(track_id)) != k:
            raise ValueError(f"track_id must be unique, but got {track_id.tolist()}")
        if k and track_id.min() < 1:
            raise ValueError(f"track_id must start at 1, but got {track_id.min()}")
        if offsets[0] != 0 or offsets[-1] != m or (np.diff(offsets) < 0).any():
            raise ValueError(f"offsets must rise from 0 to the row count {m}, but got {offsets[:8].tolist()}...")
        if m and (frame.min() < 0 or frame.max() >= frame_count):
            raise ValueError(f"frame must hold indices in [0, {frame_count}), but got {frame.min()}..{frame.max()}")
        step = np.diff(frame)
        step[offsets[1:-1][(offsets[1:-1] > 0) & (offsets[1:-1] < m)] - 1] = 1  # a new track may start anywhere
        if (step <= 0).any():
            raise ValueError("frame must increase strictly within each track, but got a repeated or earlier frame")
        if not np.isin(state, (DETECTED, INTERPOLATED)).all():
            raise ValueError(f"state must be DETECTED or INTERPOLATED on every row (absent frames have no row), but got {np.unique(state).tolist()}")
        if not np.isfinite(xyxy).all():
            raise ValueError("xyxy must be finite wherever state is not absent, but got NaN or inf")
        if landmarks is not None:
            landmarks = _as_array("landmarks", landmarks, np.float32)
            if landmarks.size == 0:
                landmarks = landmarks.reshape(0, 5, 2)
            _check_shape("landmarks", landmarks, (m, 5, 2))
            landmarks = _frozen(landmarks)
        if identity is not None:
            identity = np.asarray(identity, dtype=str)
            _check_shape("identity", identity, (k,))
            identity = _frozen(identity)
        values = {
            "track_id": _frozen(track_id),
            "offsets": _frozen(offsets),
            "row_frame": _frozen(frame),
            "row_xyxy": _frozen(xyxy),
            "row_state": _frozen(state),
            "row_score": _frozen(score),
            "row_landmarks": landmarks,
            "identity": identity,
            "frame_count": int(frame_count),
            "frame_size": check_frame_size(frame_size),
            "fps": check_fps(fps),
            "fingerprint": _check_fingerprint(fingerprint, frame_count),
            "cuts": None if cuts is None else _frozen(check_cuts(cuts, frame_count)),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"FaceTracks is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"FaceTracks is immutable: cannot delete {name}")

    def __len__(self) -> int:
        return len(self.track_id)

    def __repr__(self) -> str:
        shots = f", {len(self.cut_frames) + 1} shots" if len(self.cut_frames) else ""
        return f"FaceTracks({len(self)} tracks over {self.frame_count} frames of {self.frame_size[1]}x{self.frame_size[0]} at {self.fps} fps{shots})"

    @property
    def landmarks_present(self) -> bool:
        return self.row_landmarks is not None

    def rows_of(self, index: int) -> slice:
        """The rows of track `index` (a position, not an id) in row_frame, row_xyxy, ..."""
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def frames_of(self, index: int) -> np.ndarray:
        """(m_i,) int64: the frames where track `index` is present."""
        return self.row_frame[self.rows_of(index)]

    @property
    def track_of_row(self) -> np.ndarray:
        """(m,) int64: the track position of each row."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))

    def _dense(self, values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full((len(self), self.frame_count, *values.shape[1:]), fill, dtype)
        out[self.track_of_row, self.row_frame] = values
        return _frozen_view(out)

    @cached_property
    def xyxy(self) -> np.ndarray:
        """(k,N,4) float32 source pixels, NaN where the face is absent."""
        return self._dense(self.row_xyxy, np.nan, np.float32)

    @cached_property
    def state(self) -> np.ndarray:
        """(k,N) uint8 ABSENT / DETECTED / INTERPOLATED."""
        return self._dense(self.row_state, ABSENT, np.uint8)

    @cached_property
    def score(self) -> np.ndarray:
        """(k,N) float32 detection score, 0 where absent."""
        return self._dense(self.row_score, 0, np.float32)

    @cached_property
    def landmarks(self) -> np.ndarray | None:
        """(k,N,5,2) float32 or None, NaN where absent."""
        return None if self.row_landmarks is None else self._dense(self.row_landmarks, np.nan, np.float32)

    @cached_property
    def present(self) -> np.ndarray:
        """(k,N) bool: the face is in the frame (detected or interpolated)."""
        return self._dense(np.ones(len(self.row_frame), bool), False, bool)

    @property
    def cut_frames(self) -> np.ndarray:
        """(c,) int64: the cuts, empty when there are none or shots were not looked for."""
        return np.zeros(0, np.int64) if self.cuts is None else self.cuts

    @property
    def shots(self) -> list[tuple[int, int]]:
        """The shots as half-open frame ranges [(0, c1), (c1, c2), ..., (c_last, N)]."""
        return shot_ranges(self.cut_frames, self.frame_count)

    @classmethod
    def empty(cls, frame_count: int, frame_size: tuple[int, int], fps=Fraction(25), fingerprint: np.ndarray | None = None, cuts=None) -> "FaceTracks":
        return cls.from_rows(
            track_id=np.zeros(0, np.int64), offsets=np.zeros(1, np.int64), frame=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32),
            state=np.zeros(0, np.uint8), score=np.zeros(0, np.float32), frame_count=frame_count, frame_size=frame_size, fps=fps,
            fingerprint=fingerprint, cuts=cuts,
        )

    def select(self, mask: np.ndarray) -> "FaceTracks":
        """A new FaceTracks with the tracks where mask (bool (k,) or integer indices) selects."""
        chosen = np.arange(len(self))[np.asarray(mask)]
        lengths = np.diff(self.offsets)[chosen]
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in chosen]) if len(chosen) else np.zeros(0, np.int64)
        return FaceTracks.from_rows(
            track_id=self.track_id[chosen],
            offsets=np.concatenate([[0], np.cumsum(lengths)]),
            frame=self.row_frame[rows],
            xyxy=self.row_xyxy[rows],
            state=self.row_state[rows],
            score=self.row_score[rows],
            frame_count=self.frame_count,
            frame_size=self.frame_size,
            fps=self.fps,
            landmarks=None if self.row_landmarks is None else self.row_landmarks[rows],
            identity=None if self.identity is None else self.identity[chosen],
            fingerprint=self.fingerprint,
            cuts=self.cuts,
        )

    def window(self, start: int, stop: int) -> "FaceTracks":
        """The tracks on frames [start, stop), as the tracks of a clip of those frames (frames and
        cuts shifted by -start, the fingerprint cut to the window; every track kept, absent where
        it has no frame there)."""
        if not 0 <= start < stop <= self.frame_count:
            raise ValueError(f"window must lie in 0..{self.frame_count} with start < stop, but got [{start}, {stop})")
        keep = (self.row_frame >= start) & (self.row_frame < stop)
        counts = np.add.reduceat(keep.astype(np.int64), self.offsets[:-1]) if len(self.row_frame) else np.zeros(len(self), np.int64)
        counts = np.where(np.diff(self.offsets) > 0, counts, 0)  # reduceat gives an empty track its neighbour's value
        return FaceTracks.from_rows(
            track_id=self.track_id,
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            frame=self.row_frame[keep] - start,
            xyxy=self.row_xyxy[keep],
            state=self.row_state[keep],
            score=self.row_score[keep],
            frame_count=stop - start,
            frame_size=self.frame_size,
            fps=self.fps,
            landmarks=None if self.row_landmarks is None else self.row_landmarks[keep],
            identity=self.identity,
            fingerprint=None if self.fingerprint is None else self.fingerprint[start:stop],
            cuts=None if self.cuts is None else self.cuts[(self.cuts > start) & (self.cuts < stop)] - start,
        )

    def index_of(self, track_id: int) -> int:
        hits = np.flatnonzero(self.track_id == track_id)
        if not len(hits):
            raise ValueError(f"track_id must be one of {self.track_id.tolist()}, but got {track_id}")
        return int(hits[0])

    def runs(self, index: int) -> list[tuple[int, int]]:
        """Contiguous present runs of track `index` as half-open frame ranges [(start, stop), ...].

        A run never crosses a cut: a face present on both sides of a shot boundary (the same
        person in both shots) makes two runs, so crops, windows and fades stay inside a shot."""
        frames = self.frames_of(index)
        if not len(frames):
            return []
        breaks = (np.diff(frames) > 1) | np.isin(frames[1:], self.cut_frames)
        starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
        stops = np.concatenate([starts[1:], [len(frames)]])
        return [(int(frames[a]), int(frames[b - 1]) + 1) for a, b in zip(starts, stops)]


def _check_frame_count(frame_count) -> int:
    if isinstance(frame_count, bool) or not isinstance(frame_count, (int, np.integer)) or frame_count < 0:
        raise ValueError(f"frame_count must be a non-negative int, but got {frame_count!r}")
    return int(frame_count)


def _frozen_view(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def check_cuts(cuts, frame_count: int) -> np.ndarray:
    """Shot boundaries as a sorted (c,) int64 array of frames that start a new shot, in [1, N).

    None means no cuts. Unsorted or repeated frames are sorted and merged; a frame outside
    [1, frame_count) is an error (frame 0 always starts the first shot)."""
    if cuts is None:
        return np.zeros(0, np.int64)
    values = np.asarray(cuts)
    if values.size and not (np.issubdtype(values.dtype, np.integer) or (np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values)))):
        raise ValueError(f"cuts must be whole frame numbers, but got {values.reshape(-1)[:5].tolist()}")
    values = np.unique(values.astype(np.int64).reshape(-1))
    if len(values) and (values[0] < 1 or values[-1] >= frame_count):
        bad = values[(values < 1) | (values >= frame_count)]
        raise ValueError(
            f"cuts must be frame numbers in [1, {frame_count - 1}] (a cut at frame c starts a new shot at c; frame 0 always starts the first), "
            f"but got {bad[:5].tolist()}"
        )
    return values


def shot_ranges(cuts: np.ndarray, frame_count: int) -> list[tuple[int, int]]:
    """Half-open frame ranges of the shots between cuts: [(0, c1), (c1, c2), ..., (c_last, N)]."""
    edges = [0, *(int(c) for c in cuts), int(frame_count)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
