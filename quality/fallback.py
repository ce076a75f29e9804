"""Putting the original face back where a segment failed.

For every face and frame a weight w in 0..1 says how much of the original replaces the processed
face: 1 inside a failing segment, 0 elsewhere, ramping over `fade_frames` at an edge the segment
shares with a passing segment of the same face in the same shot (a cross-fade). At a shot cut,
or where the face's track starts or ends, the switch is immediate: nothing on screen connects the
two sides. In a frame, the weight applies inside the face region (metrics.face_region), with a
linear feather over its outer FEATHER fraction; frames where every weight is 0 are returned
unchanged, so the result differs from the processed video only in the failing segments.
"""

from __future__ import annotations

import numpy as np

from ..core.types import FaceTracks
from .metrics import face_region
from .segments import Segment

FEATHER = 0.15  # fraction of the face region's side over which the replaced area fades out


def fallback_weights(tracks: FaceTracks, segments: list[Segment], failed: list[bool], fade_frames: int) -> np.ndarray:
    """(faces, frames) float32: how much of the original face each frame takes."""
    if not isinstance(fade_frames, (int, np.integer)) or fade_frames < 0:
        raise ValueError(f"fade_frames must be an int >= 0, but got {fade_frames!r}")
    if len(failed) != len(segments):
        raise ValueError(f"failed must hold one flag per segment ({len(segments)}), but got {len(failed)}")
    weights = np.zeros((len(tracks), tracks.frame_count), np.float32)
    for number, segment in enumerate(segments):
        if not failed[number]:
            continue
        ramp = np.ones(len(segment), np.float32)
        steps = (np.arange(1, fade_frames + 1, dtype=np.float32) / (fade_frames + 1))[: len(segment)]
        if _neighbour_passes(segments, failed, number, before=True):
            ramp[: len(steps)] = np.minimum(ramp[: len(steps)], steps)
        if _neighbour_passes(segments, failed, number, before=False):
            ramp[len(ramp) - len(steps) :] = np.minimum(ramp[len(ramp) - len(steps) :], steps[::-1])
        weights[segment.track_index, segment.start : segment.stop] = ramp
    return weights


def _neighbour_passes(segments: list[Segment], failed: list[bool], number: int, before: bool) -> bool:
    """A passing segment of the same face and shot touches this one's start (or stop)."""
    segment = segments[number]
    for other_number, other in enumerate(segments):
        touches = other.stop == segment.start if before else other.start == segment.stop
        if touches and other.track_index == segment.track_index and other.shot == segment.shot:
            return not failed[other_number]
    return False


def _feathered_region(xyxy, margin: float, frame_size: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The face region clipped to the frame, and its (h,w) float32 mask: 1 inside, falling
    linearly to 0 over the outer FEATHER of each side of the whole (unclipped) region, so a face
    at the frame's edge is not feathered along the edge."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    half = max(x2 - x1, y2 - y1) * (0.5 + margin)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    region = face_region(xyxy, margin, frame_size)
    ramp = max(2 * half * FEATHER, 1.0)

    def profile(start: int, stop: int, centre: float) -> np.ndarray:
        position = np.arange(start, stop, dtype=np.float32) + 0.5
        return np.clip((half - np.abs(position - centre)) / ramp, 0, 1)

    x0, y0, x1, y1 = region
    return region, profile(y0, y1, centre_y)[:, None] * profile(x0, x1, centre_x)[None, :]


def apply_fallback(original_rgb: np.ndarray, processed_rgb: np.ndarray, start: int, tracks: FaceTracks, weights: np.ndarray, margin: float) -> np.ndarray:
    """One chunk (n,H,W,C) of the result: the processed frames with the original faces put back
    by `weights` (fallback_weights) inside each face region; every other pixel keeps its value
    exactly. uint8 frames are rounded, float frames (IMAGE, 0..1) stay float. A new array;
    the inputs are not changed."""
    out = processed_rgb.copy()
    exact = np.issubdtype(out.dtype, np.integer)
    for offset in range(len(processed_rgb)):
        t = start + offset
        for face in np.flatnonzero(weights[:, t] > 0):
            (x0, y0, x1, y1), mask = _feathered_region(tracks.xyxy[face, t], margin, tracks.frame_size)
            if x1 <= x0 or y1 <= y0:
                continue
            alpha = (weights[face, t] * mask)[..., None]
            mixed = out[offset, y0:y1, x0:x1].astype(np.float32) * (1 - alpha) + original_rgb[offset, y0:y1, x0:x1].astype(np.float32) * alpha
            out[offset, y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, 255) if exact else mixed
    return out


def fallback_chunks(original, processed, tracks: FaceTracks, weights: np.ndarray, margin: float, chunk_frames: int = 16, check_interrupt=None):
    """(start, uint8 chunk) of the result over two quality.frames sources: processed chunks pass
    through untouched unless a face in them takes the original back."""
    from .frames import paired_chunks

    for start, before, after in paired_chunks(original, processed, chunk_frames):
        if check_interrupt is not None:
            check_interrupt()
        if weights[:, start : start + len(after)].any():
            after = apply_fallback(before, after, start, tracks, weights, margin)
        yield start, after


def write_fallback_video(original, processed, tracks: FaceTracks, weights: np.ndarray, margin: float, path: str, *, codec: str = "h264", crf: int = 18,
                         audio_source: str | None = None, on_progress=None, check_interrupt=None) -> str:
    """Encode the result (fallback_chunks) into `path` with the audio of audio_source; the file
    appears only when complete (media.stream.finish_video)."""
    import os

    from ..media.stream import SEGMENT_EXTENSION, SegmentWriter, check_output_path, finish_video

    path = check_output_path(path, codec)
    segment = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.qc{SEGMENT_EXTENSION}")
    try:
        with SegmentWriter(segment, fps=tracks.fps, size=tracks.frame_size[::-1], codec=codec, crf=crf) as writer:
            for _, chunk in fallback_chunks(original, processed, tracks, weights, margin, check_interrupt=check_interrupt):
                writer.write(chunk)
                if on_progress is not None:
                    on_progress(len(chunk))
        finish_video([segment], path, audio_source=audio_source, check_interrupt=check_interrupt)
    finally:
        if os.path.exists(segment):
            os.remove(segment)
    return path
