"""Shot boundaries for tracking: the detected cuts, changed by the user's cut list.

A cut at frame c means frame c starts a new shot. Nothing in FUSE crosses a cut: no track is
followed, smoothed or interpolated across one, and crops, windows and fades stop at it.

The cut list (the `cuts` input of FUSE Track Faces, `--cuts` on the command line) is text:
- "" (empty): the cuts as detected;
- "none": no cuts at all (one shot);
- "=12, 40": exactly these cuts, whatever was detected;
- "12, +40, -88": the detected cuts plus 12 and 40, minus the detected cut at 88 (or within
  REMOVE_TOLERANCE frames of it).
Numbers are frame indices from 0, separated by commas or spaces, in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.types import check_cuts

REMOVE_TOLERANCE = 2  # frames: "-88" removes a detected cut at 86..90 (detectors differ by a frame)
_TOKEN = re.compile(r"^([+-]?)(\d+)$")


@dataclass(frozen=True)
class CutOverride:
    """A parsed cut list: replace (use `add` alone, ignoring detected cuts), add, remove."""

    replace: bool
    add: tuple[int, ...]
    remove: tuple[int, ...]


def parse_cut_override(text: str) -> CutOverride:
    """Parse a cut list (see the module docstring); raises ValueError naming the bad part."""
    if not isinstance(text, str):
        raise TypeError(f"cuts must be a string such as \"\", \"none\", \"=120, 348\" or \"+120, -348\", but got {type(text).__name__}")
    body = text.strip()
    if body.lower() == "none":
        return CutOverride(True, (), ())
    replace = body.startswith("=")
    if replace:
        body = body[1:]
    add, remove = [], []
    for token in (t for t in re.split(r"[,\s]+", body) if t):
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(
                f"cuts must be frame numbers separated by commas, each optionally signed (+120 adds a cut, -348 removes one), "
                f"\"none\" or \"=120, 348\", but got {token!r} in {text!r}"
            )
        if replace and match.group(1) == "-":
            raise ValueError(f"cuts: a list starting with '=' gives the cuts exactly, so it cannot remove one, but got {token!r} in {text!r}")
        (remove if match.group(1) == "-" else add).append(int(match.group(2)))
    return CutOverride(replace, tuple(add), tuple(remove))


def resolve_cuts(detected, override: str, frame_count: int) -> np.ndarray:
    """The cuts to track with: (c,) int64 sorted frames in [1, frame_count), or None when shots
    were not looked for and the cut list is empty (nothing is known about them).

    detected: the cuts found while detecting ((c,) ints, or None when shots were not looked
    for); override: the user's cut list. A frame outside the clip, or removing a cut that was not
    detected, is a ValueError that says what is there."""
    parsed = parse_cut_override(override)
    if detected is None and not parsed.replace and not parsed.add and not parsed.remove:
        return None
    found = check_cuts(detected, frame_count)
    cuts = set() if parsed.replace else set(found.tolist())
    for frame in parsed.remove:
        near = [c for c in cuts if abs(c - frame) <= REMOVE_TOLERANCE]
        if not near:
            listed = ", ".join(str(c) for c in sorted(cuts)) or "none"
            raise ValueError(f"cuts: -{frame} removes no cut, because no cut was detected within {REMOVE_TOLERANCE} frames of {frame} (detected cuts: {listed})")
        cuts.discard(min(near, key=lambda c: abs(c - frame)))
    try:
        return check_cuts(sorted(cuts | set(parsed.add)), frame_count)
    except ValueError as error:
        raise ValueError(f"{error} (from the cut list {override!r} of a {frame_count}-frame clip)") from None


def shot_of_frames(cuts: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(n,) int64: the shot index (0 = first shot) of each frame."""
    return np.searchsorted(np.asarray(cuts, np.int64), np.asarray(frames, np.int64), side="right")
