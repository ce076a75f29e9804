"""check_number and check_choice: what passes, and the wording of what does not."""

import numpy as np
import pytest

from comfyui_fuse.core.checks import check_choice, check_number


@pytest.mark.parametrize(
    "value, kwargs",
    [
        (0, dict(low=0)),
        (1.5, dict(low=0, high=2)),
        (np.float32(0.5), dict(low=0, high=1)),
        (np.int64(3), dict(low=1, integer=True)),
        (-7.0, dict()),
        (1, dict(low=0.5, high=1)),  # a bound is inclusive
    ],
)
def test_numbers_in_range_pass_unchanged(value, kwargs):
    assert check_number("x", value, **kwargs) is value


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (float("nan"), dict(low=0), "x must be a number >= 0, but got nan"),
        (np.float32("nan"), dict(low=0, high=1), "x must be a number in [0, 1], but got "),
        (float("nan"), dict(), "x must be a number, but got nan"),  # no bound to compare with: NaN is still refused
        (float("inf"), dict(low=0), "x must be a number >= 0, but got inf"),
        (-float("inf"), dict(high=0), "x must be a number <= 0, but got -inf"),
        (-1, dict(low=0), "x must be a number >= 0, but got -1"),
        (3, dict(low=0, high=2), "x must be a number in [0, 2], but got 3"),
        (True, dict(low=0), "x must be a number >= 0, but got True"),  # a bool is not a number of frames
        ("2", dict(low=0), "x must be a number >= 0, but got '2'"),
        (None, dict(low=0), "x must be a number >= 0, but got None"),
        (2.0, dict(low=1, integer=True), "x must be an int >= 1, but got 2.0"),
        (0, dict(low=1, integer=True, note=" frame"), "x must be an int >= 1 frame, but got 0"),
    ],
)
def test_bad_numbers_are_refused_by_name(value, kwargs, message):
    with pytest.raises(ValueError) as error:
        check_number("x", value, **kwargs)
    assert str(error.value).startswith(message), f"got {error.value}"


def test_choices():
    assert check_choice("mode", "box", ("box", "ellipse")) == "box"
    with pytest.raises(ValueError, match=r"^mode must be one of \['box', 'ellipse'\], but got 'hull'; pick one$"):
        check_choice("mode", "hull", ("box", "ellipse"), "; pick one")
    with pytest.raises(ValueError, match="but got 3"):
        check_choice("mode", 3, ("box",))
