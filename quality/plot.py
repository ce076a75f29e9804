"""The quality plot: one picture of every face's figures over time, for a person to see where to look.

Per face a block of strips sharing one time axis (frames): identity (ArcFace cosine), flicker
(excess warping error), seam contrast, crop jitter and, with audio and SyncNet, LSE-C per
segment. Each strip shows its threshold as a dashed line; failing segments are shaded red across
the face's block, shot cuts are grey vertical lines through every block. Drawn with OpenCV (no
plotting library); returns uint8 RGB.
"""

from __future__ import annotations

import numpy as np

from ..core.canvas import LABEL_WIDTH, blank_canvas, put_text
from .check import QualityResult

WIDTH = 1280
RIGHT = 20
STRIP = 64
GAP = 6
HEADER = 28
TOP = 40
FAIL = (248, 196, 190)
CUT = (150, 150, 150)
LINE = (40, 90, 170)
THRESHOLD = (200, 60, 40)


def _strips(result: QualityResult) -> list[tuple[str, str, float, bool]]:
    """(figure, label, threshold, higher is better) of the strips drawn for every face."""
    thresholds = result.options.thresholds
    strips = []
    if result.identity["available"]:
        strips.append(("identity", "identity (cos)", thresholds.min_identity, True))
    strips += [("flicker", "flicker (levels)", thresholds.max_flicker, False), ("seam", "seam contrast", thresholds.max_seam, False), ("jitter", "crop jitter", thresholds.max_jitter, False)]
    if result.lip_sync["available"]:
        strips.append(("lse_c", "LSE-C (sync)", thresholds.min_lse_c, True))
    return strips


def _series(result: QualityResult, face: int, name: str) -> np.ndarray:
    """(frames,) values of one strip: the per-frame figure, or LSE-C held over each segment."""
    if name != "lse_c":
        return result.figures[name][face]
    values = np.full(result.tracks.frame_count, np.nan)
    for number, segment in enumerate(result.segments):
        value = result.segment_figures[number].get("lse_c")
        if segment.track_index == face and value is not None:
            values[segment.start : segment.stop] = value
    return values


def plot_quality(result: QualityResult) -> np.ndarray:
    """(H, WIDTH, 3) uint8 RGB picture of the check (see the module docstring)."""
    import cv2

    tracks = result.tracks
    frames = max(tracks.frame_count, 1)
    strips = _strips(result)
    block = HEADER + len(strips) * (STRIP + GAP)
    height = TOP + max(len(tracks), 1) * block + 24
    canvas = blank_canvas(height, WIDTH)
    span = WIDTH - LABEL_WIDTH - RIGHT

    def x_of(frame: float) -> int:
        return LABEL_WIDTH + int(round(frame / frames * span))

    put_text(canvas, f"FUSE quality check: {tracks.frame_count} frames at {float(tracks.fps):g} fps. Red: failed segments. Grey: shot cuts. Dashed: thresholds.", 10, 24, 0.5)
    if not len(tracks):
        put_text(canvas, "no faces", LABEL_WIDTH, TOP + 30)
    for face in range(len(tracks)):
        top = TOP + face * block
        name = f"face {tracks.track_id[face]}" + ("" if tracks.identity is None else f" ({tracks.identity[face]})")
        put_text(canvas, name, 10, top + 18, 0.55)
        body_top, body_bottom = top + HEADER, top + block - GAP
        for number, segment in enumerate(result.segments):
            if segment.track_index == face and result.failures[number]:
                cv2.rectangle(canvas, (x_of(segment.start), body_top), (max(x_of(segment.stop) - 1, x_of(segment.start)), body_bottom), FAIL, -1)
        for row, (name, label, threshold, higher_is_better) in enumerate(strips):
            y0 = body_top + row * (STRIP + GAP)
            y1 = y0 + STRIP
            cv2.rectangle(canvas, (LABEL_WIDTH, y0), (WIDTH - RIGHT, y1), (200, 200, 200), 1)
            values = _series(result, face, name)
            finite = values[np.isfinite(values)]
            low = 0.0 if name != "identity" else min(0.0, float(finite.min()) if len(finite) else 0.0)
            high = max([threshold * 2 if threshold > 0 else 1.0, float(finite.max()) if len(finite) else 0.0, 1e-6])
            if name == "identity":
                high = 1.0

            def y_of(value: float) -> int:
                return int(round(y1 - (value - low) / (high - low) * STRIP))

            put_text(canvas, label, 10, y0 + STRIP // 2 + 5)
            put_text(canvas, f"{high:.3g}", LABEL_WIDTH - 40, y0 + 12, 0.35)
            put_text(canvas, f"{low:.3g}", LABEL_WIDTH - 40, y1 - 2, 0.35)
            if threshold > 0:
                y = y_of(threshold)
                for x in range(LABEL_WIDTH, WIDTH - RIGHT, 12):
                    cv2.line(canvas, (x, y), (min(x + 6, WIDTH - RIGHT), y), THRESHOLD, 1)
            measured = np.flatnonzero(np.isfinite(values))
            for a, b in zip(measured, measured[1:]):
                if b == a + 1:
                    cv2.line(canvas, (x_of(a + 0.5), y_of(values[a])), (x_of(b + 0.5), y_of(values[b])), LINE, 1, cv2.LINE_AA)
            if len(measured) <= span // 2:  # few points: mark each, so lone frames show too
                for t in measured:
                    cv2.circle(canvas, (x_of(t + 0.5), y_of(values[t])), 2, LINE, -1)
    for cut in result.cuts.tolist():
        cv2.line(canvas, (x_of(cut), TOP), (x_of(cut), height - 24), CUT, 1)
    put_text(canvas, "frame", 10, height - 8, 0.4)
    for tick in np.linspace(0, tracks.frame_count, 9).round().astype(int):
        put_text(canvas, str(tick), x_of(tick) - 10, height - 8, 0.4)
    return canvas
