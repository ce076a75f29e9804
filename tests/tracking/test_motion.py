"""Motion breaks (jumps) and outliers (out and straight back) in a track's detections."""

import numpy as np
import pytest

from comfyui_fuse.tracking.motion import motion_breaks, motion_outliers


def path(frames, vx=0.0, size=100.0):
    """(cxcywh (n,4)) of a face moving vx px/frame on the given frames."""
    frames = np.asarray(frames, np.float64)
    return np.stack([300 + vx * frames, np.full(len(frames), 300.0), np.full(len(frames), size), np.full(len(frames), size)], axis=1)


@pytest.mark.parametrize("jump", [150.0, 200.0])
def test_a_jump_is_a_break(jump):
    frames = np.arange(30)
    boxes = path(frames, vx=5)
    boxes[15:, 0] += jump  # 1.5-2 face sizes in one frame
    assert np.flatnonzero(motion_breaks(frames, boxes)).tolist() == [14]


def test_steady_fast_motion_and_noise_are_no_break():
    frames = np.arange(60)
    boxes = path(frames, vx=45)  # fast, but steady
    boxes[:, :2] += np.random.default_rng(0).normal(0, 5, (60, 2))  # 5% of the face size
    assert not motion_breaks(frames, boxes).any()


def test_a_face_slowing_into_a_turn_during_a_gap_is_no_break():
    frames = np.r_[np.arange(0, 10), np.arange(18, 28)]
    x = np.where(frames < 14, 300 + 40 * frames, 300 + 40 * 14 - 10 * (frames - 14))
    boxes = path(frames)
    boxes[:, 0] = x
    assert not motion_breaks(frames, boxes).any(), "a change of velocity across a gap is motion, not a jump"


def test_a_jump_across_a_gap_is_a_break():
    frames = np.r_[np.arange(0, 10), np.arange(14, 24)]
    boxes = path(frames, vx=2)
    boxes[10:, 0] += 180
    assert np.flatnonzero(motion_breaks(frames, boxes)).tolist() == [9]


def test_out_and_back_is_an_outlier_a_jump_is_not():
    frames = np.arange(20)
    boxes = path(frames, vx=3)
    boxes[8, 0] += 70  # one box 0.7 face sizes off, then back: a false positive taken by the track
    boxes[14:, 0] += 180  # a jump that stays
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == [8]


def test_a_last_detection_that_jumps_is_an_outlier():
    frames = np.arange(10)
    boxes = path(frames)
    boxes[9, 0] += 200
    assert np.flatnonzero(motion_outliers(frames, boxes)).tolist() == [9]
    assert not motion_outliers(frames[:2], boxes[[0, 9]]).any(), "two detections: no way to tell which one is off"
