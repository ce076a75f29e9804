"""The timeline picture of who speaks when: one row per audio track, one per face, time across.

Audio rows: dark grey where the track has speech, red where no face on screen speaks it (an
off-screen speaker). Face rows: light grey while the face is on screen, the face's colour where it
speaks, and its sync confidence (0..1) as a white line across the row. Ticks mark the seconds.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..core.canvas import LABEL_WIDTH, blank_canvas, put_text
from .active import ActiveSpeakers

ROW_HEIGHT = 30
ROW_GAP = 6
AXIS_HEIGHT = 26
BLACK = (0, 0, 0)
ON_SCREEN = (215, 215, 215)
SPEECH = (90, 90, 90)
UNASSIGNED = (220, 40, 40)
FACE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194), (23, 190, 207), (188, 189, 34))


def _column_frames(frames: int, width: int) -> np.ndarray:
    """(width,) the frame each pixel column shows: the one under the column's centre."""
    return np.minimum((np.arange(width) + 0.5) * frames / width, frames - 1).astype(int)


def _columns(active: np.ndarray, width: int) -> np.ndarray:
    """(width,) bool: a pixel column is on when most of its frames are."""
    if not len(active):
        return np.zeros(width, bool)
    return np.asarray(active, bool)[_column_frames(len(active), width)]


def _values(values: np.ndarray, width: int) -> np.ndarray:
    if not len(values):
        return np.full(width, np.nan)
    return np.asarray(values, np.float64)[_column_frames(len(values), width)]


def _tick_seconds(duration: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600):
        if duration / step <= 20:
            return step
    return 1200.0


def timeline_image(speakers: ActiveSpeakers, width: int = 1200) -> np.ndarray:
    """(H, width, 3) uint8 RGB picture of the speakers (module docstring)."""
    if width < LABEL_WIDTH + 50:
        raise ValueError(f"width must be at least {LABEL_WIDTH + 50} pixels, but got {width}")
    plot = width - LABEL_WIDTH - 10
    audio_rows = len(speakers.speech)
    rows = audio_rows + max(len(speakers), 1)
    height = rows * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT + ROW_GAP
    image = blank_canvas(height, width)
    unassigned = speakers.unassigned_speech()

    def row_top(row: int) -> int:
        return ROW_GAP + row * (ROW_HEIGHT + ROW_GAP)

    def label(row: int, text: str) -> None:
        put_text(image, text[:18], 6, row_top(row) + ROW_HEIGHT // 2 + 5, 0.45, BLACK)

    def fill(row: int, columns: np.ndarray, colour) -> None:
        top = row_top(row)
        image[top : top + ROW_HEIGHT, LABEL_WIDTH : LABEL_WIDTH + plot][:, columns] = colour

    for index in range(audio_rows):
        name = f"stem_{index + 1}" if speakers.stems else "audio (speech)"
        label(index, name)
        fill(index, _columns(speakers.speech[index], plot), SPEECH)
        fill(index, _columns(unassigned[index], plot), UNASSIGNED)
    for face in range(len(speakers)):
        row = audio_rows + face
        stem = int(speakers.stem_of_track[face])
        label(row, speakers.name_of(face) + (f" <- stem_{stem + 1}" if stem >= 0 else ""))
        fill(row, _columns(speakers.present[face], plot), ON_SCREEN)
        fill(row, _columns(speakers.speaking[face], plot), FACE_COLOURS[face % len(FACE_COLOURS)])
        confidence = _values(speakers.confidence[face], plot)
        top = row_top(row)
        ys = np.round(top + ROW_HEIGHT - 2 - confidence * (ROW_HEIGHT - 4))
        known = np.flatnonzero(np.isfinite(ys))
        image[ys[known].astype(int), LABEL_WIDTH + known] = (255, 255, 255)
    if not len(speakers):
        label(audio_rows, "no faces")
    duration = speakers.frame_count / float(speakers.fps)
    axis = height - AXIS_HEIGHT
    cv2.line(image, (LABEL_WIDTH, axis), (LABEL_WIDTH + plot, axis), BLACK, 1)
    step = _tick_seconds(duration)
    tick = 0.0
    while duration > 0 and tick <= duration:
        x = LABEL_WIDTH + int(round(tick / duration * (plot - 1)))
        cv2.line(image, (x, axis), (x, axis + 5), BLACK, 1)
        put_text(image, f"{tick:g}s", x + 2, axis + 18, 0.4, BLACK)
        tick += step
    return image
