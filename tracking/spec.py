"""TrackSpec: every setting of track_faces in one frozen, validated object.

The FUSE Track Faces node, the command line and the pipeline build one TrackSpec and hand it to
track_faces; a bad value is named when the spec is made, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.checks import check_number
from ..core.types import check_fps
from .cuts import parse_cut_override


@dataclass(frozen=True)
class TrackSpec:
    """How to follow faces (see tracking/track.py for what each stage does).

    fps: the clip's exact rate (Fraction, int, float such as 29.97 -> 30000/1001, or
    "30000/1001"); it turns link gaps into seconds. iou_threshold / distance_threshold (px for
    faces of 100 px and more, scaled down for smaller faces): the frame-to-frame match gate.
    max_jump: face sizes a face may jump in one frame (whip pan, fast head turn, dropped frame)
    and keep its track, when nothing else is near it and the next frames confirm it; 0 = off.
    max_gap: missed sampled frames a confirmed track survives and gap filling may bridge.
    min_hits: detections before a track counts (capped at the sampled frames of its shot).
    link_gaps / max_link_gap: join tracklets across longer gaps in one shot (None: up to
    LINK_HORIZON_SECONDS). smooth_boxes / smooth_window: zero-phase smoothing, about as strong
    as a centred moving average of smooth_window frames. min_track_length: drop tracks present
    in fewer frames. cuts: changes to the detected shot boundaries, see tracking/cuts.py
    ("" = as detected, "none", "=12,40", "+12, -40").
    """

    fps: Fraction = Fraction(25)
    iou_threshold: float = 0.3
    distance_threshold: float = 100.0
    max_gap: int = 15
    min_hits: int = 3
    link_gaps: bool = True
    max_link_gap: int | None = None
    smooth_boxes: bool = True
    smooth_window: float = 3
    min_track_length: int = 1
    max_jump: float = 2.5
    cuts: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fps", check_fps(self.fps))
        check_number("iou_threshold", self.iou_threshold, 0.0, 1.0, type_error=True)
        check_number("distance_threshold", self.distance_threshold, 0.0, type_error=True)
        check_number("max_gap", self.max_gap, 0, integer=True, type_error=True)
        check_number("min_hits", self.min_hits, 1, integer=True, type_error=True)
        if self.max_link_gap is not None:
            check_number("max_link_gap", self.max_link_gap, 1, integer=True, type_error=True)
        check_number("smooth_window", self.smooth_window, 1, type_error=True)
        check_number("min_track_length", self.min_track_length, 1, integer=True, type_error=True)
        check_number("max_jump", self.max_jump, 0.0, 10.0, type_error=True)
        for name in ("link_gaps", "smooth_boxes"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, but got {type(getattr(self, name)).__name__}")
        parse_cut_override(self.cuts)  # a malformed cut list is named now, not after detection
