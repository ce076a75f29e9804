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


def states(result) -> str:
    return "".join(LETTERS[s] for s in result[1])


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
    assert states(result) == expected


def test_filled_boxes_and_landmarks_are_linear():
    frames = np.array([0, 4])
    landmarks = np.stack([np.full((5, 2), 10.0), np.full((5, 2), 50.0)])
    xyxy, state, score, out_landmarks = fill_track(frames, boxes_at(frames), np.array([0.9, 0.7]), landmarks, sampled=np.ones(5, bool), frame_size=FRAME_SIZE, max_gap=5)
    np.testing.assert_allclose(xyxy, boxes_at(range(5)))
    np.testing.assert_allclose(out_landmarks[:, 0, 0], [10, 20, 30, 40, 50])
    assert score[0] == pytest.approx(0.9) and score[4] == pytest.approx(0.7)
    expected = 0.7 * INTERPOLATED_SCORE_DECAY ** np.array([1, 2, 1])
    np.testing.assert_allclose(score[1:4], expected, rtol=1e-6, err_msg="interpolated score: the lower neighbour, decayed with distance")


def test_a_face_that_left_the_picture_is_not_drawn_while_away():
    frames = np.array([0, 1, 8, 9])
    xyxy = np.array([[1150, 200, 1280, 300], [1170, 200, 1280, 300], [1170, 200, 1280, 300], [1150, 200, 1280, 300]], np.float64)
    result = fill_track(frames, xyxy, np.full(4, 0.8), None, sampled=np.ones(10, bool), frame_size=FRAME_SIZE, max_gap=15)
    assert states(result) == "DD......DD", "both ends of the gap touch the border: the face went out, nothing to interpolate"


def test_absent_frames_are_nan():
    xyxy, state, score, _ = fill_track(np.array([2]), boxes_at([2]), np.array([0.5]), None, sampled=np.ones(5, bool), frame_size=FRAME_SIZE, max_gap=3)
    assert np.isnan(xyxy[state == ABSENT]).all() and (score[state == ABSENT] == 0).all()
