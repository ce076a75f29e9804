"""Gap filling: which gaps are filled, how, and with what score."""

import numpy as np
import pytest

from comfyui_fuse.tracking.interpolate import INTERPOLATED_SCORE_DECAY, fill_track
from comfyui_fuse.core.types import ABSENT, DETECTED, INTERPOLATED

FRAME_SIZE = (720, 1280)
LETTERS = {DETECTED: "D", INTERPOLATED: "I", ABSENT: "."}


def boxes_at(frames, x0=300.0, vx=10.0):
    frames = np.asarray(frames, np.float64)
    return np.stack([x0 + vx * frames, np.full(len(frames), 200.0), x0 + 100 + vx * frames, np.full(len(frames), 300.0)], axis=1)


def states(result, frame_count: int) -> str:
    """The fill as letters per frame: D detected, I interpolated, . absent."""
    letters = ["."] * frame_count
    for frame, state in zip(result[0], result[2]):
        letters[frame] = LETTERS[state]
    return "".join(letters)


def dense(result, frame_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,4) boxes (NaN where absent) and (N,) scores (0 where absent) of a fill."""
    xyxy = np.full((frame_count, 4), np.nan)
    score = np.zeros(frame_count)
    xyxy[result[0]] = result[1]
    score[result[0]] = result[3]
    return xyxy, score


@pytest.mark.parametrize(
    "frames, sampled, max_gap, expected",
    [
        ([0, 1, 5, 6], "SSSSSSSS", 3, "DDIIIDD."),  # 3 missed frames <= max_gap: filled
        ([0, 1, 5, 6], "SSSSSSSS", 2, "DD...DD."),  # more than max_gap: left absent
        ([0, 3, 6], "S..S..S.", 0, "DIIDIIDI"),  # frames the detector skipped are always filled
        ([0, 6], "S..S..S.", 0, "D.....DI"),  # ... unless a sampled frame in between missed
        ([0, 6], "S..S..S.", 1, "DIIIIIDI"),
        ([3], "S..S..S.", 5, ".IIDII.."),  # skipped frames next to the ends hold the box
        ([2, 3], "SSSSSSSS", 5, "..DD...."),  # sampled frames around the ends stay absent
    ],
)
def test_which_gaps_are_filled(frames, sampled, max_gap, expected):
    mask = np.array([c == "S" for c in sampled]) if "." in sampled else np.ones(len(sampled), bool)
    result = fill_track(np.array(frames), boxes_at(frames), np.full(len(frames), 0.8), None, sampled=mask, frame_size=FRAME_SIZE, max_gap=max_gap)
    assert states(result, len(mask)) == expected


@pytest.mark.parametrize(
    "frames, cuts, sampled, expected",
    [
        ([0, 1, 5, 6], [3], "SSSSSSSS", "DD...DD."),  # a cut inside the gap: nothing drawn across it
        ([0, 1, 5, 6], [5], "SSSSSSSS", "DD...DD."),
        ([0, 1, 5, 6], [7], "SSSSSSSS", "DDIIIDD."),
        ([3], [2, 5], "S..S..S.", "..IDI..."),  # skipped frames next to the ends: up to the shot's edge
    ],
)
def test_nothing_is_filled_across_a_cut(frames, cuts, sampled, expected):
    mask = np.array([c == "S" for c in sampled])
    result = fill_track(np.array(frames), boxes_at(frames), np.full(len(frames), 0.8), None, sampled=mask, frame_size=FRAME_SIZE, max_gap=5, cuts=np.array(cuts))
    assert states(result, len(mask)) == expected


def test_a_motion_break_is_not_filled():
    frames = np.array([0, 1, 2, 4, 5, 6])
    result = fill_track(frames, boxes_at(frames), np.full(6, 0.8), None, sampled=np.ones(7, bool), frame_size=FRAME_SIZE, max_gap=5, breaks=np.array([0, 0, 1, 0, 0], bool))
    assert states(result, 7) == "DDD.DDD", "the face jumped between frames 2 and 4: frame 3 must stay absent, not hold a box between"


def test_filled_boxes_and_landmarks_are_linear():
    frames = np.array([0, 4])
    landmarks = np.stack([np.full((5, 2), 10.0), np.full((5, 2), 50.0)])
    _, xyxy, state, score, out_landmarks = fill_track(frames, boxes_at(frames), np.array([0.9, 0.7]), landmarks, sampled=np.ones(5, bool), frame_size=FRAME_SIZE, max_gap=5)
    np.testing.assert_allclose(xyxy, boxes_at(range(5)))
    np.testing.assert_allclose(out_landmarks[:, 0, 0], [10, 20, 30, 40, 50])
    assert score[0] == pytest.approx(0.9) and score[4] == pytest.approx(0.7)
    expected = 0.7 * INTERPOLATED_SCORE_DECAY ** np.array([1, 2, 1])
    np.testing.assert_allclose(score[1:4], expected, rtol=1e-6, err_msg="interpolated score: the lower neighbour, decayed with distance")


def test_a_face_that_left_the_picture_is_not_drawn_while_away():
    frames = np.array([0, 1, 8, 9])
    xyxy = np.array([[1150, 200, 1280, 300], [1170, 200, 1280, 300], [1170, 200, 1280, 300], [1150, 200, 1280, 300]], np.float64)
    result = fill_track(frames, xyxy, np.full(4, 0.8), None, sampled=np.ones(10, bool), frame_size=FRAME_SIZE, max_gap=15)
    assert states(result, 10) == "DD......DD", "both ends of the gap touch the border: the face went out, nothing to interpolate"


def test_only_present_frames_have_rows():
    result = fill_track(np.array([2]), boxes_at([2]), np.array([0.5]), None, sampled=np.ones(5, bool), frame_size=FRAME_SIZE, max_gap=3)
    assert result[0].tolist() == [2] and len(result[1]) == 1
