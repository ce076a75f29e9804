"""Smoothing: zero-phase Whittaker smoother, no lag, stronger on size, runs kept apart."""

import numpy as np
import pytest

from comfyui_fuse.tracking.boxes import xyxy_to_cxcywh
from comfyui_fuse.tracking.smooth import follow_boxes, segments, smooth_track, smoothing_strength, whittaker
from comfyui_fuse.core.types import ABSENT, DETECTED, INTERPOLATED


@pytest.mark.parametrize("window", [2, 3, 5, 9, 15])
def test_noise_removed_like_a_centred_moving_average(window):
    noise = np.random.default_rng(0).normal(size=(4000, 1))
    smoothed = whittaker(noise, np.ones(4000), smoothing_strength(window))
    variance = smoothed[100:-100].var()
    assert variance == pytest.approx(1 / window, rel=0.1), f"window {window}: variance gain {variance:.3f}, a moving average gives {1 / window:.3f}"


def test_strength_grows_with_the_window_and_one_means_none():
    strengths = [smoothing_strength(w) for w in (1, 2, 3, 5, 9)]
    assert strengths[0] == 0 and all(a < b for a, b in zip(strengths, strengths[1:]))


def test_a_straight_line_passes_unchanged():
    t = np.arange(50.0)
    line = np.stack([100 + 40 * t, 300 - 7 * t], axis=1)  # 40 px/frame: fast, but no lag
    np.testing.assert_allclose(whittaker(line, np.ones(50), smoothing_strength(9)), line, atol=1e-6)


def track_arrays(frames=30, state_pattern=None):
    """A face moving 5 px/frame: (frames (p,), xyxy (p,4), state (p,)) for its present frames."""
    t = np.arange(frames, dtype=np.float64)
    xyxy = np.stack([100 + 5 * t, np.full(frames, 100.0), 200 + 5 * t, np.full(frames, 220.0)], axis=1)
    state = np.full(frames, DETECTED, np.uint8) if state_pattern is None else np.array(state_pattern, np.uint8)
    present = state != ABSENT
    return np.flatnonzero(present), xyxy[present], state[present]


def test_runs_are_smoothed_apart():
    frames, xyxy, state = track_arrays(20, [DETECTED] * 8 + [ABSENT] * 4 + [DETECTED] * 8)
    assert segments(frames) == [(0, 8), (8, 16)]
    noisy = xyxy + np.random.default_rng(1).normal(0, 2, xyxy.shape)
    first_alone = smooth_track(frames[:8], noisy[:8], state[:8], 3)
    np.testing.assert_allclose(smooth_track(frames, noisy, state, 3)[:8], first_alone, err_msg="a run must be smoothed without its neighbours")


@pytest.mark.parametrize("split_before, expected", [([], [(0, 30)]), ([10], [(0, 10), (10, 30)]), ([10, 20, 99], [(0, 10), (10, 20), (20, 30)])])
def test_segments_split_at_cuts_and_breaks(split_before, expected):
    assert segments(np.arange(30), np.array(split_before, np.int64)) == expected


def test_a_jump_is_not_smeared():
    # the face jumps 150 px (1.5 face sizes) between frames 14 and 15, e.g. a whip pan
    frames, xyxy, state = track_arrays(30)
    xyxy[15:, [0, 2]] += 150
    noisy = xyxy + np.random.default_rng(4).normal(0, 1, xyxy.shape)
    smeared = smooth_track(frames, noisy, state, 5)
    sharp = smooth_track(frames, noisy, state, 5, split_before=np.array([15]))
    error_smeared = np.abs(smeared - xyxy)[12:18].max()
    error_sharp = np.abs(sharp - xyxy)[12:18].max()
    assert error_smeared > 20, "the builder's jump must be large enough to be smeared when not split"
    assert error_sharp < 5, f"split at the jump, the boxes next to it stray {error_sharp:.1f} px from the face"


def test_smoothing_reduces_jitter_more_on_size_than_on_centre():
    frames, xyxy, state = track_arrays(200)
    rng = np.random.default_rng(2)
    cxcywh = xyxy_to_cxcywh(xyxy) + rng.normal(0, 3, (200, 4))
    noisy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
    smoothed = xyxy_to_cxcywh(smooth_track(frames, noisy, state, 3))
    error = np.abs(smoothed - xyxy_to_cxcywh(xyxy))[20:-20].mean(axis=0)
    assert error[2:].mean() < error[:2].mean(), f"size error {error[2:]} should be below centre error {error[:2]}"
    assert error.max() < 3 * 0.8, "smoothing must bring the error well below the noise"


def test_a_gap_is_not_overshot():
    # A hand rises over the chin: the box's bottom edge climbs 10 px/frame just before a 10-frame
    # gap and comes back down after it. The fill must stay near the neighbouring boxes, not carry
    # the climb on through the gap.
    frames = 36
    bottom = np.r_[np.full(10, 200.0), [190, 180, 170], np.full(10, np.nan), [170, 180, 190], np.full(10, 200.0)]
    xyxy = np.stack([np.full(frames, 100.0), np.full(frames, 100.0), np.full(frames, 200.0), bottom], axis=1)
    state = np.where(np.isnan(bottom), INTERPOLATED, DETECTED).astype(np.uint8)
    xyxy[13:23] = [100, 100, 200, 170]  # the straight-line fill between frames 12 and 23
    smoothed = smooth_track(np.arange(frames), xyxy, state, 3)
    lowest = smoothed[13:23, 3].min()
    assert lowest > 165, f"the gap's bottom edge climbs to {lowest:.1f}, well past both neighbours (170)"


def test_window_one_leaves_boxes_raw():
    frames, xyxy, state = track_arrays(10)
    noisy = xyxy + np.random.default_rng(3).normal(0, 2, xyxy.shape)
    np.testing.assert_array_equal(smooth_track(frames, noisy, state, 1), noisy)


def test_landmarks_follow_their_box():
    before = np.array([[0.0, 0.0, 100.0, 100.0]])
    after = np.array([[10.0, 20.0, 60.0, 120.0]])  # shifted, half as wide, as tall
    landmarks = np.array([[[50.0, 50.0], [0.0, 0.0], [100.0, 100.0], [25.0, 75.0], [75.0, 25.0]]])
    moved = follow_boxes(landmarks, before, after)
    np.testing.assert_allclose(moved[0], [[35, 70], [10, 20], [60, 120], [22.5, 95], [47.5, 45]])
