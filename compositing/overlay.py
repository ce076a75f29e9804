"""Draw face tracks over video frames: boxes, "id N" labels and state colours, for previews.

Shot boundaries are drawn too: the first CUT_MARK_FRAMES frames of every shot after a cut get a
magenta border and a "cut -> shot N" label, so a cut the detector missed (or found wrongly) is
easy to see and to fix with the cut list of FUSE Track Faces.

Host-independent (OpenCV). Pixels not covered by a drawing stay bit-identical to the input.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch

from ..core.checks import check_number
from ..core.images import check_video_frames
from ..core.types import DETECTED, INTERPOLATED, FaceTracks

# RGB colour of a box per track state (absent faces are not drawn).
STATE_COLOURS = {DETECTED: (0, 255, 0), INTERPOLATED: (255, 255, 0)}
LABEL_TEXT_COLOUR = (0, 0, 0)
CUT_COLOUR = (255, 0, 255)
CUT_MARK_FRAMES = 3  # frames after a cut that carry its mark
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_frames_match_tracks(frames_bhwc: torch.Tensor, tracks: FaceTracks) -> None:
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be a FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    check_video_frames("images", frames_bhwc, tracks.frame_count, tracks.frame_size, source="the tracks came from", fix="connect the same images that went into the detector")


def _label(tracks: FaceTracks, index: int) -> str:
    label = f"id {int(tracks.track_id[index])}"
    if tracks.identity is not None and tracks.identity[index]:
        label += f" {tracks.identity[index]}"
    return label


def _cut_marks(tracks: FaceTracks) -> dict[int, int]:
    """frame -> the shot number (from 1) whose cut mark it carries."""
    marks = {}
    edges = [*tracks.cut_frames.tolist(), tracks.frame_count]
    for shot, (cut, stop) in enumerate(zip(edges[:-1], edges[1:]), start=2):
        for frame in range(cut, min(cut + CUT_MARK_FRAMES, stop)):
            marks[frame] = shot
    return marks


def _draw_frame(pixels: np.ndarray, tracks: FaceTracks, frame: int, thickness: int, cut_shot: int | None = None) -> np.ndarray:
    """Draw the tracks present in `frame` (and its cut mark: cut_shot, the shot it starts) on
    (H,W,3) float32 0..1 pixels; returns a new array."""
    height, width = pixels.shape[:2]
    # Draw on a uint8 canvas plus a coverage mask, then copy only covered pixels: the rest of the
    # frame keeps its exact float values (no round trip through uint8).
    canvas = np.zeros((height, width, 3), np.uint8)
    covered = np.zeros((height, width), np.uint8)
    font_scale = max(0.4, min(height, width) / 900.0)
    text_thickness = max(1, thickness // 2)
    if cut_shot is not None:
        border = 2 * thickness
        cv2.rectangle(canvas, (0, 0), (width - 1, height - 1), CUT_COLOUR, border)
        cv2.rectangle(covered, (0, 0), (width - 1, height - 1), 255, border)
        text = f"cut -> shot {cut_shot} (frame {frame})"
        (text_width, text_height), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
        label_box = ((border, border), (border + text_width + 4, border + text_height + baseline + 2))
        cv2.rectangle(canvas, *label_box, CUT_COLOUR, cv2.FILLED)
        cv2.rectangle(covered, *label_box, 255, cv2.FILLED)
        cv2.putText(canvas, text, (border + 2, border + text_height + 1), FONT, font_scale, LABEL_TEXT_COLOUR, text_thickness, cv2.LINE_AA)
    for index in range(len(tracks)):
        state = int(tracks.state[index, frame])
        if state not in STATE_COLOURS:
            continue
        colour = STATE_COLOURS[state]
        x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[index, frame])
        if x2 < -thickness or y2 < -thickness or x1 > width + thickness or y1 > height + thickness:
            continue  # wholly outside the frame: nothing of it shows
        # OpenCV takes int32 points: a box reaching far outside (x = 1e12) is cut just past the
        # frame edge, which draws the same visible pixels.
        x1, x2 = (int(round(min(max(v, -thickness - 1.0), width + thickness + 1.0))) for v in (x1, x2))
        y1, y2 = (int(round(min(max(v, -thickness - 1.0), height + thickness + 1.0))) for v in (y1, y2))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        cv2.rectangle(covered, (x1, y1), (x2, y2), 255, thickness)
        text = _label(tracks, index)
        (text_width, text_height), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
        # The label sits on top of the box, or inside it when the box touches the top edge.
        top = y1 - text_height - baseline - 2 if y1 - text_height - baseline - 2 >= 0 else y1
        label_box = ((x1, top), (x1 + text_width + 4, top + text_height + baseline + 2))
        cv2.rectangle(canvas, *label_box, colour, cv2.FILLED)
        cv2.rectangle(covered, *label_box, 255, cv2.FILLED)
        cv2.putText(canvas, text, (x1 + 2, top + text_height + 1), FONT, font_scale, LABEL_TEXT_COLOUR, text_thickness, cv2.LINE_AA)
    out = pixels.copy()
    mask = covered > 0
    out[mask] = canvas[mask].astype(np.float32) / 255.0
    return out


def draw_tracks(
    frames_bhwc: torch.Tensor,
    tracks: FaceTracks,
    *,
    thickness: int = 2,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Frames with every present face drawn: a box in its state colour and an "id N" label.

    frames_bhwc: IMAGE float32 [N,H,W,C] 0..1, C = 3 (or 4: the alpha channel is kept as is);
    tracks: FaceTracks of the same N frames and (H, W), boxes in source pixels, xyxy.
    Detected faces are green, interpolated ones (gap filling) yellow; the label adds the identity
    name when the tracks carry one. The first frames of each shot after a cut carry a magenta
    border and a "cut -> shot N" label. Returns a new tensor of the same shape, dtype and device;
    pixels that no drawing covers are bit-identical to the input, which is never changed.
    on_progress(n) counts frames.
    """
    _check_frames_match_tracks(frames_bhwc, tracks)
    check_number("thickness", thickness, 1, integer=True)
    out = frames_bhwc.clone()
    marks = _cut_marks(tracks)
    drawn_frames = np.union1d(np.unique(tracks.row_frame), np.array(sorted(marks), np.int64))
    done = 0
    for frame in drawn_frames:
        if check_interrupt is not None:
            check_interrupt()
        pixels = frames_bhwc[frame, :, :, :3].detach().cpu().float().numpy()
        drawn = _draw_frame(pixels, tracks, int(frame), int(thickness), marks.get(int(frame)))
        out[frame, :, :, :3] = torch.from_numpy(drawn).to(dtype=out.dtype, device=out.device)
        if on_progress is not None:
            on_progress(int(frame) + 1 - done)
            done = int(frame) + 1
    if on_progress is not None and done < tracks.frame_count:
        on_progress(tracks.frame_count - done)
    return out
