"""Gap rescue: free detections in a track's gaps, on the curve between its two sides, given back."""

import numpy as np

from comfyui_fuse.tracking.boxes import cxcywh_to_xyxy
from comfyui_fuse.tracking.interpolate import fillable_gaps
from comfyui_fuse.tracking.rescue import rescue_rows

TRACK_FRAMES = [0, 1, 2, 3, 4, 5, 16, 17, 18, 19, 20]  # the online pass lost the face on frames 6..15


def arc(t):
    """(4,) cxcywh of a 100 px face moving left at about 40 px/frame that turns down at frame 10."""
    t = float(t)
    return np.array([300 + 2.0 * (t - 10) ** 2, 300 - 4.0 * (10 - t) if t < 10 else 300 + 4.0 * (t - 10) ** 1.5, 100, 100])


def rescued_frames(seen, *, score=None, breaks=None, cuts=None, max_gap=15):
    """The frames given back to the track on TRACK_FRAMES, with every box of {frame: [cxcywh]}."""
    frame = np.array([f for f in sorted(seen) for _ in seen[f]], np.int64)
    cxcywh = np.array([box for f in sorted(seen) for box in seen[f]], np.float64)
    starts = np.searchsorted(frame, np.arange(frame.max() + 2))
    rows = np.array([np.flatnonzero(frame == f)[0] for f in TRACK_FRAMES])
    breaks = np.zeros(len(rows) - 1, bool) if breaks is None else breaks
    gaps = fillable_gaps(frame[rows], cxcywh_to_xyxy(cxcywh[rows]), np.ones(frame.max() + 1, bool), (2000, 2000), max_gap, cuts, breaks)
    free = np.ones(len(frame), bool)
    free[rows] = False
    score = np.full(len(frame), 0.8) if score is None else score(frame, cxcywh)
    rescued = rescue_rows(rows, frame, cxcywh, score, gaps, breaks, lambda a, b: np.arange(starts[a], starts[b]), free)
    assert not free[rescued].any(), "a rescued detection stays free for another track"
    return frame[rescued].tolist(), cxcywh[rescued]


def test_the_faces_own_detections_on_the_curve_are_given_back_and_nothing_else():
    seen = {f: [arc(f)] for f in range(21)}
    seen[9].append(arc(9) + [400, 0, 0, 0])  # a false positive far from the face
    seen[12].append(arc(12) + [0, 0, 60, 60])  # a box at the face's place but of another size
    frames, boxes = rescued_frames(seen)
    assert frames == list(range(6, 16))
    assert np.array_equal(boxes, np.array([arc(f) for f in range(6, 16)])), "a false positive was taken"


def test_nothing_is_given_back_where_the_face_is_doubtful_or_the_gap_is_not_filled():
    seen = {f: [arc(f)] for f in range(21)}
    seen[8].append(arc(8) + [8, 0, 0, 0])  # two boxes a few px apart: which one is the face?
    assert rescued_frames(seen)[0] == [6, 7, 9, 10, 11, 12, 13, 14, 15]
    assert rescued_frames(seen, score=lambda frame, _: np.where(frame == 7, 0.3, 0.8))[0] == [6, 9, 10, 11, 12, 13, 14, 15]
    jump = np.zeros(len(TRACK_FRAMES) - 1, bool)
    jump[5] = True  # the step 5 -> 16 is a motion break: the face was nowhere in between
    assert rescued_frames(seen, breaks=jump)[0] == []
    assert rescued_frames(seen, cuts=np.array([11]))[0] == []
    assert rescued_frames(seen, max_gap=9)[0] == []  # missed longer than a track survives
