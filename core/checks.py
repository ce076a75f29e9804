"""Input checks every layer shares, worded as every error of the pack: "x must be ..., but got ...".

A NaN compares false with every bound, so a range test alone lets it through: check_number
refuses it (x != x) and infinities before comparing.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

NUMBER_TYPES = (int, float, np.integer, np.floating)
INT_TYPES = (int, np.integer)


def check_number(name: str, value, low: float | None = None, high: float | None = None, *, integer: bool = False, note: str = ""):
    """value unchanged when it is a finite number (an int when integer; a bool is neither) in
    [low, high] (None: unbounded); else ValueError "name must be an int >= 1<note>, but got 0".
    note is appended to the requirement, e.g. " source pixels" or " (0 = no fades)"."""
    kind = "an int" if integer else "a number"
    if low is not None and high is not None:
        span = f" in [{low}, {high}]"
    elif low is not None:
        span = f" >= {low}"
    else:
        span = "" if high is None else f" <= {high}"
    is_number = not isinstance(value, bool) and isinstance(value, INT_TYPES if integer else NUMBER_TYPES)
    if not is_number or value != value or math.isinf(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {kind}{span}{note}, but got {value!r}")
    return value


def check_choice(name: str, value, options: Sequence[str], note: str = "") -> str:
    """value unchanged when it is one of options; else ValueError "name must be one of [...], but got 'x'<note>"."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, but got {value!r}{note}")
    return value
