"""The user's cut list: parsed, applied to the detected cuts, bad lists named."""

import numpy as np
import pytest

from comfyui_fuse.tracking.cuts import parse_cut_override, resolve_cuts, shot_of_frames


@pytest.mark.parametrize(
    "detected, text, expected",
    [
        ([30, 60], "", [30, 60]),
        (None, "none", []),
        ([30, 60], "none", []),
        ([30, 60], " NONE ", []),
        ([30, 60], "=10, 90", [10, 90]),
        ([30, 60], "90 10", [10, 30, 60, 90]),  # spaces work, any order
        ([30, 60], "+90, -30", [60, 90]),
        ([30, 60], "-31", [60]),  # a detector may be a frame off
        ([30, 60], "30", [30, 60]),  # adding a cut that is there changes nothing
        (None, "70, 20, 20", [20, 70]),
    ],
)
def test_cut_lists(detected, text, expected):
    assert resolve_cuts(detected, text, 100).tolist() == expected


def test_nothing_known_about_shots_stays_unknown():
    assert resolve_cuts(None, "", 100) is None, "no shot search and no cut list: the cuts are unknown (None), not 'none'"


@pytest.mark.parametrize(
    "text, words",
    [
        ("12; 40", "cuts must be frame numbers separated by commas"),
        ("1.5", "cuts must be frame numbers separated by commas"),
        ("=12, -40", "cannot remove one"),
        ("abc", "but got 'abc'"),
    ],
)
def test_malformed_cut_lists_are_named(text, words):
    with pytest.raises(ValueError, match=words):
        parse_cut_override(text)


@pytest.mark.parametrize(
    "detected, text, words",
    [
        ([30], "100", r"cuts must be frame numbers in \[1, 99\].*but got \[100\].*100-frame clip"),
        ([30], "0", r"frame 0 always starts the first"),
        ([30, 60], "-45", r"-45 removes no cut.*detected cuts: 30, 60"),
        (None, "-5", r"detected cuts: none"),
    ],
)
def test_cut_lists_that_do_not_fit_the_clip_are_named(detected, text, words):
    with pytest.raises(ValueError, match=words):
        resolve_cuts(detected, text, 100)


def test_the_cut_list_must_be_text():
    with pytest.raises(TypeError, match="cuts must be a string"):
        parse_cut_override([12, 40])


def test_shot_of_frames():
    assert shot_of_frames(np.array([3, 5]), np.arange(8)).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
