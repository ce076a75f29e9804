"""Sync measures: windowed correlation with a lag search, SyncNet's offset confidence, mouth opening."""

import numpy as np
import pytest

from comfyui_fuse.speaker.mouth import mouth_opening
from comfyui_fuse.speaker.sync import best_offset_column, offset_confidence, windowed_correlation


def wave(n=100, period=9.0, seed=0):
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(n) / period) + 0.1 * rng.standard_normal(n)


def test_a_mouth_that_follows_the_audio_correlates_and_a_still_one_does_not():
    audio = wave()
    follows = windowed_correlation(audio * 0.3 + 1, audio, window=25)
    still = windowed_correlation(np.full(100, 0.05), audio, window=25)
    assert np.nanmin(follows) > 0.95, f"a mouth proportional to the audio must correlate ~1, got min {np.nanmin(follows):.3f}"
    assert np.all(still == 0), "a still mouth has no correlation with anything"


def test_the_lag_search_finds_a_delayed_mouth():
    audio = wave(period=13.0)
    delayed = np.roll(audio, 2)  # the mouth moves 2 frames after the sound
    without = windowed_correlation(delayed, audio, window=25, max_lag=0)
    with_search = windowed_correlation(delayed, audio, window=25, max_lag=3)
    assert np.nanmedian(with_search) > 0.95 > np.nanmedian(without), f"lag search {np.nanmedian(with_search):.3f}, none {np.nanmedian(without):.3f}"


def test_frames_without_enough_known_mouth_are_unknown():
    visual = wave()
    visual[30:70] = np.nan  # the face is absent
    correlation = windowed_correlation(visual, wave(), window=11)
    assert np.isnan(correlation[40:60]).all() and np.isfinite(correlation[:20]).all()


def test_windowed_correlation_refuses_signals_of_different_lengths():
    with pytest.raises(ValueError, match="one value per frame"):
        windowed_correlation(np.zeros(5), np.zeros(6), window=3)


def test_offset_confidence_is_high_where_one_offset_fits_and_zero_where_none_does():
    frames, offsets = 60, 31
    distances = np.full((frames, offsets), 1.4)
    distances[:30, 15] = 0.2  # in sync at offset 0 during the first half
    confidence = offset_confidence(distances, window=5)
    assert confidence[5:25].min() == pytest.approx(1.2) and confidence[35:].max() == pytest.approx(0.0)


def test_offset_confidence_keeps_the_faces_own_offset():
    """A still face is close to every quiet stretch of someone else's speech: at its own offset (0,
    where it spoke) it is not, so a window's best offset elsewhere does not make it speak."""
    distances = np.full((40, 5), 1.0)
    distances[:20, 2] = 0.1  # speaks in sync at offset 0 (column 2) first
    distances[20:, 0] = 0.6  # later another voice's pauses line up at offset -2 by chance
    distances[20:, 2] = 1.3
    assert best_offset_column(distances) == 2
    confidence = offset_confidence(distances, window=3)
    assert confidence[2:18].min() == pytest.approx(0.9) and confidence[22:].max() < 0


def test_offset_confidence_is_unknown_where_the_face_is_absent():
    distances = np.ones((20, 5))
    distances[5:15] = np.nan
    assert np.isnan(offset_confidence(distances, window=3)[7:13]).all()


def mouth_points(gap: float, width: float, scale: float = 1.0) -> np.ndarray:
    points = np.zeros((1, 68, 3))
    points[0, 48, 0], points[0, 54, 0] = 0.0, width * scale
    points[0, [61, 62, 63], 1] = -gap / 2 * scale
    points[0, [65, 66, 67], 1] = gap / 2 * scale
    return points


@pytest.mark.parametrize("gap, width, scale, expected", [(0.0, 40, 1, 0.0), (20, 40, 1, 0.5), (20, 40, 3, 0.5)])
def test_mouth_opening_is_the_inner_lip_gap_over_the_mouth_width(gap, width, scale, expected):
    assert mouth_opening(mouth_points(gap, width, scale))[0] == pytest.approx(expected)


def test_mouth_opening_refuses_five_landmarks():
    with pytest.raises(ValueError, match=r"shape \(_, 68, 2 or 3\)"):
        mouth_opening(np.zeros((2, 5, 2)))
