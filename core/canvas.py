"""The pictures FUSE draws for a person to read (the quality plot, the speaker timeline): one
background, one label column, one way to write text. uint8 RGB; OpenCV is imported on first use."""

from __future__ import annotations

import numpy as np

BACKGROUND = (250, 250, 250)
LABEL_WIDTH = 150  # the column of row labels left of the plotted time axis
TEXT = (30, 30, 30)


def blank_canvas(height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8 RGB filled with the background colour."""
    return np.full((height, width, 3), BACKGROUND, np.uint8)


def put_text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.45, colour=TEXT) -> None:
    """Write text with its baseline's left end at (x, y), anti-aliased, one pixel thick."""
    import cv2

    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
