"""Smoothing: zero-phase Whittaker smoother, no lag, stronger on size, runs kept apart."""

import numpy as np
import pytest

from comfyui_fuse.tracking.boxes import xyxy_to_cxcywh
from comfyui_fuse.tracking.smooth import follow_boxes, present_runs, smooth_track, smoothing_strength, whittaker
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
    t = np.arange(frames, dtype=np.float64)
    xyxy = np.stack([100 + 5 * t, np.full(frames, 100.0), 200 + 5 * t, np.full(frames, 220.0)], axis=1)
    state = np.full(frames, DETECTED, np.uint8) if state_pattern is None else np.array(state_pattern, np.uint8)
    xyxy[state == ABSENT] = np.nan
    return xyxy, state


def test_absent_frames_stay_nan_and_runs_are_smoothed_apart():
    xyxy, state = track_arrays(20, [DETECTED] * 8 + [ABSENT] * 4 + [DETECTED] * 8)
    noisy = xyxy + np.where(np.isfinite(xyxy), np.random.default_rng(1).normal(0, 2, xyxy.shape), 0)
    smoothed = smooth_track(noisy, state, 3)
    assert np.isnan(smoothed[8:12]).all()
    assert np.isfinite(smoothed[:8]).all() and np.isfinite(smoothed[12:]).all()
    assert present_runs(state) == [(0, 8), (12, 20)]


def test_smoothing_reduces_jitter_more_on_size_than_on_centre():
    xyxy, state = track_arrays(200)
    rng = np.random.default_rng(2)
    cxcywh = xyxy_to_cxcywh(xyxy) + rng.normal(0, 3, (200, 4))
    noisy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
    smoothed = xyxy_to_cxcywh(smooth_track(noisy, state, 3))
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
    smoothed = smooth_track(xyxy, state, 3)
    lowest = smoothed[13:23, 3].min()
    assert lowest > 165, f"the gap's bottom edge climbs to {lowest:.1f}, well past both neighbours (170)"


def test_window_one_leaves_boxes_raw():
    xyxy, state = track_arrays(10)
    noisy = xyxy + np.random.default_rng(3).normal(0, 2, xyxy.shape)
    np.testing.assert_array_equal(smooth_track(noisy, state, 1), noisy)


def test_landmarks_follow_their_box():
    before = np.array([[0.0, 0.0, 100.0, 100.0]])
    after = np.array([[10.0, 20.0, 60.0, 120.0]])  # shifted, half as wide, as tall
    landmarks = np.array([[[50.0, 50.0], [0.0, 0.0], [100.0, 100.0], [25.0, 75.0], [75.0, 25.0]]])
    moved = follow_boxes(landmarks, before, after)
    np.testing.assert_allclose(moved[0], [[35, 70], [10, 20], [60, 120], [22.5, 95], [47.5, 45]])
