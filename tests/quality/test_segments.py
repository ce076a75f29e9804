"""Segments never cross a shot cut or a gap in a track; cuts come from the user, the tracks or the frames."""

from __future__ import annotations

import numpy as np
import pytest

from comfyui_fuse.core.types import DETECTED, FaceTracks
from comfyui_fuse.quality.segments import CutDetector, Segment, parse_cut_list, plan_segments
from fuse_quality_builders import make_clip


@pytest.mark.parametrize(
    "text, expected",
    [("", None), ("  ", None), ("none", []), ("None", []), ("12, 40", [12, 40]), ("40 12 12", [12, 40])],
)
def test_parse_cut_list(text, expected):
    cuts = parse_cut_list(text, frame_count=50)
    assert (cuts is None and expected is None) or cuts.tolist() == expected


@pytest.mark.parametrize(
    "text, message",
    [("12, x", "frame numbers separated by commas"), ("0", r"frames in 1\.\.49"), ("50", r"frames in 1\.\.49"), ("-3", "frame numbers")],
)
def test_parse_cut_list_refuses_bad_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cut_list(text, frame_count=50)


def _tracks(present_rows) -> FaceTracks:
    present = np.array(present_rows, bool)
    xyxy = np.where(present[..., None], np.array([10, 10, 50, 50], np.float32), np.nan)
    return FaceTracks(track_id=np.arange(1, len(present) + 1), xyxy=xyxy, state=np.where(present, DETECTED, 0).astype(np.uint8),
                      score=present.astype(np.float32), frame_count=present.shape[1], frame_size=(100, 100))


def test_segments_split_runs_at_cuts_and_into_pieces_of_about_the_segment_length():
    row = [True] * 30 + [False] * 5 + [True] * 14
    segments = plan_segments(_tracks([row]), np.array([20]), segment_frames=10)
    assert [(s.start, s.stop, s.shot) for s in segments] == [(0, 10, 0), (10, 20, 0), (20, 30, 1), (35, 49, 1)]
    assert all(isinstance(s, Segment) and s.track_id == 1 for s in segments)


def test_a_short_tail_joins_its_neighbours_instead_of_standing_alone():
    segments = plan_segments(_tracks([[True] * 23]), np.zeros(0, np.int64), segment_frames=10)
    assert [len(s) for s in segments] == [12, 11], "23 frames in pieces of about 10: two pieces, not 10 + 10 + 3"


def test_segments_of_every_track_in_track_order():
    segments = plan_segments(_tracks([[True] * 8, [False] * 3 + [True] * 5]), np.zeros(0, np.int64), segment_frames=100)
    assert [(s.track_index, s.start, s.stop) for s in segments] == [(0, 0, 8), (1, 3, 8)]


def test_cut_detector_finds_the_frame_where_a_new_shot_starts():
    first, second = make_clip(frame_count=6, seed=0), make_clip(frame_count=6, seed=5, sprites=(1,))
    frames = np.concatenate([first.frames, second.frames])
    detector = CutDetector()
    detector.feed(frames[:4], 0)
    detector.feed(frames[4:], 4)
    assert detector.cuts == [6], f"a moving face must not look like a cut, a new scene must: got {detector.cuts}"
    with pytest.raises(ValueError, match="in order"):
        detector.feed(frames[:2], 0)
