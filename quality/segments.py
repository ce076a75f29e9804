"""Where the checks are judged: shot cuts, and per face the segments between them.

A segment is a stretch of frames of one face: inside one present run of its track and inside one
shot, never crossing a cut, cut into pieces of about `segment_frames` so that a failure points to
a few seconds of video and the fallback replaces no more than that.

Shot cuts come from the user's list, from the tracks (FaceTracks.cuts, where tracking found
them), or from a detector run on the original frames here: PySceneDetect's ContentDetector
measure (the mean absolute change of hue, saturation and value between consecutive frames, on
frames scaled to at most 256 pixels wide) with its default threshold 27.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.types import FaceTracks

CUT_THRESHOLD = 27.0  # ContentDetector's default, on 0..255 HSV channels
CUT_ANALYSIS_WIDTH = 256


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of track `track_index` (id `track_id`) in shot `shot` (0-based)."""

    track_index: int
    track_id: int
    start: int
    stop: int
    shot: int

    def __len__(self) -> int:
        return self.stop - self.start


def parse_cut_list(text: str, frame_count: int) -> np.ndarray | None:
    """The `shot_cuts` input: "" -> None (find them), "none" -> no cuts, "12, 40" -> those frames.

    A cut at frame c means frame c starts a new shot; frames must lie in 1..frame_count-1.
    """
    if not isinstance(text, str):
        raise TypeError(f"shot_cuts must be a string such as \"\", \"none\" or \"120, 348\", but got {type(text).__name__}")
    body = text.strip()
    if not body:
        return None
    if body.lower() == "none":
        return np.zeros(0, np.int64)
    tokens = [t for t in re.split(r"[,\s]+", body) if t]
    if not all(t.isdigit() for t in tokens):
        raise ValueError(f"shot_cuts must be frame numbers separated by commas (\"120, 348\"), \"none\" or empty, but got {text!r}")
    cuts = np.unique(np.array([int(t) for t in tokens], np.int64))
    outside = cuts[(cuts < 1) | (cuts >= frame_count)]
    if len(outside):
        raise ValueError(f"shot_cuts must be frames in 1..{frame_count - 1} (the frame that starts a new shot), but got {outside.tolist()}")
    return cuts


class CutDetector:
    """Finds cuts in frames fed in order, a chunk at a time (no frame kept but the last one's HSV)."""

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        self.threshold = threshold
        self.cuts: list[int] = []
        self._previous: np.ndarray | None = None
        self._next_frame = 0

    def feed(self, frames_rgb_uint8: np.ndarray, start: int) -> None:
        import cv2

        if start != self._next_frame:
            raise ValueError(f"frames must be fed in order, but got frame {start} after {self._next_frame}")
        for offset, frame in enumerate(frames_rgb_uint8):
            height, width = frame.shape[:2]
            if width > CUT_ANALYSIS_WIDTH:
                frame = cv2.resize(frame, (CUT_ANALYSIS_WIDTH, max(round(height * CUT_ANALYSIS_WIDTH / width), 1)), interpolation=cv2.INTER_AREA)
            hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(np.float32)
            if self._previous is not None and float(np.abs(hsv - self._previous).mean()) >= self.threshold:
                self.cuts.append(start + offset)
            self._previous = hsv
        self._next_frame = start + len(frames_rgb_uint8)


def tracks_cuts(tracks: FaceTracks) -> np.ndarray | None:
    """The shot cuts the tracks carry (FaceTracks.cuts, where tracking looked for them), else None."""
    cuts = getattr(tracks, "cuts", None)
    return None if cuts is None else np.asarray(cuts, np.int64)


def plan_segments(tracks: FaceTracks, cuts: np.ndarray, segment_frames: int) -> list[Segment]:
    """Every segment of every track, in track order then time order.

    Each present run is split at the cuts; each piece of length L becomes max(1, round(L /
    segment_frames)) segments of nearly equal length (so no tail of a few frames stands alone).
    """
    if not isinstance(segment_frames, (int, np.integer)) or segment_frames < 1:
        raise ValueError(f"segment_frames must be a positive int, but got {segment_frames!r}")
    cuts = np.unique(np.asarray(cuts, np.int64))
    segments = []
    for index, track_id in enumerate(tracks.track_id.tolist()):
        for run_start, run_stop in tracks.runs(index):
            inner = cuts[(cuts > run_start) & (cuts < run_stop)].tolist()
            for piece_start, piece_stop in zip([run_start, *inner], [*inner, run_stop]):
                shot = int(np.searchsorted(cuts, piece_start, side="right"))
                pieces = max(1, round((piece_stop - piece_start) / segment_frames))
                edges = np.linspace(piece_start, piece_stop, pieces + 1).round().astype(int)
                segments.extend(Segment(index, int(track_id), int(a), int(b), shot) for a, b in zip(edges[:-1], edges[1:]))
    return segments
