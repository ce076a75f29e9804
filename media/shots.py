"""Shot boundaries (cuts) found while the frames stream past, on a downscaled copy.

PySceneDetect (BSD-3, a maintained library made for this) does the detection; it takes one frame
at a time, so it runs in the same pass as face detection:
- hard cuts: AdaptiveDetector, which compares each frame's colour/brightness change with the
  change of its neighbours, so steady camera motion does not count as a cut;
- fades through black: ThresholdDetector, the cut placed in the middle of the dark frames.
One check of ours follows: a whip pan changes the whole picture in one frame like a cut does,
but the new frame is the old one shifted. Each candidate cut is checked by phase correlation; if
shifting the previous frame explains the new one (the difference left after the shift is under
PAN_RESIDUAL_RATIO of the difference before it, and the match is clear, response >=
PAN_MIN_RESPONSE), it is camera motion, not a cut.
Dissolves are found when they are short (a few frames change as much as a cut); a slow dissolve
is not a cut to these detectors, and the user's cut list (tracking/cuts.py) can add it.

A cut at frame c means frame c starts a new shot. Frames are downscaled to ANALYSIS_WIDTH
pixels wide (area average) before anything else, so the cost per frame is small and fixed.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from ..core.images import image_to_uint8

log = logging.getLogger(__name__)

ANALYSIS_WIDTH = 256  # px: PySceneDetect's own default downscale target
DEFAULT_THRESHOLD = 3.0  # AdaptiveDetector's adaptive_threshold: a frame's change vs its neighbours'
DEFAULT_MIN_SHOT_FRAMES = 8  # no two cuts closer than this (a flash is not two cuts)
MIN_CONTENT_CHANGE = 15.0  # AdaptiveDetector's min_content_val: the change a cut needs at least
FADE_LEVEL = 12  # mean 8-bit level at or under which a frame is black (ThresholdDetector's default)
PAN_MIN_RESPONSE = 0.1  # phase-correlation peak a shift needs to count as found
PAN_RESIDUAL_RATIO = 0.5  # after the shift, at most this much of the frame difference may remain
_TIMECODE_FPS = 1000.0  # PySceneDetect works in timecodes; lengths here are in frames, so any rate does


class ShotDetector:
    """Feed it the frames of a clip in order (feed), then read the cuts (finish).

    threshold: AdaptiveDetector's adaptive threshold (higher finds fewer cuts); min_shot_frames:
    the shortest shot; fades: look for fades through black as well.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, min_shot_frames: int = DEFAULT_MIN_SHOT_FRAMES, fades: bool = True) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) or not np.isfinite(threshold) or threshold <= 1.0:
            raise ValueError(f"cut_threshold must be a number > 1 (a frame's change over its neighbours'), but got {threshold!r}")
        if isinstance(min_shot_frames, bool) or not isinstance(min_shot_frames, (int, np.integer)) or min_shot_frames < 1:
            raise ValueError(f"min_shot_frames must be an int >= 1, but got {min_shot_frames!r}")
        from scenedetect.detectors import AdaptiveDetector, ThresholdDetector

        self.min_shot_frames = int(min_shot_frames)
        self._content = AdaptiveDetector(adaptive_threshold=float(threshold), min_scene_len=self.min_shot_frames, min_content_val=MIN_CONTENT_CHANGE)
        self._fade = ThresholdDetector(threshold=FADE_LEVEL, min_scene_len=self.min_shot_frames) if fades else None
        # grey frames kept for the pan check: the content detector reports a cut window_width late
        self._grey: deque[tuple[int, np.ndarray]] = deque(maxlen=self._content.window_width + 3)
        self._found: list[int] = []
        self._next = 0
        self._last_timecode = None

    @property
    def frames_seen(self) -> int:
        return self._next

    def feed(self, frames_bhwc, start: int = 0, stop: int | None = None) -> None:
        """Look at frames_bhwc[start:stop] (torch float [B,H,W,C] 0..1, or np uint8 RGB), the next
        frames of the clip: calls must cover the clip in order, without gaps (a whole IMAGE batch
        a range at a time, or a decoded chunk at a time)."""
        stop = len(frames_bhwc) if stop is None else stop
        for offset in range(start, stop, 16):
            small = downscale_rgb(frames_bhwc, offset, min(offset + 16, stop))
            for frame in small:
                self.feed_small(frame)

    def feed_small(self, rgb: np.ndarray) -> None:
        """Look at the next frame, already downscaled: (h,w,3) uint8 RGB."""
        from scenedetect import FrameTimecode

        index = self._next
        self._next += 1
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        timecode = FrameTimecode(index, fps=_TIMECODE_FPS)
        self._last_timecode = timecode
        self._grey.append((index, _grey(bgr)))
        for cut in self._content.process_frame(timecode, bgr):
            if not self._is_pan(cut.frame_num):
                self._found.append(cut.frame_num)
        if self._fade is not None:
            self._found += [cut.frame_num for cut in self._fade.process_frame(timecode, bgr)]

    def finish(self) -> np.ndarray:
        """The cuts found: (c,) int64 sorted frames in [1, frames seen), at least min_shot_frames apart."""
        if self._last_timecode is not None:
            for detector in (self._content, self._fade):
                if detector is not None:
                    self._found += [cut.frame_num for cut in detector.post_process(self._last_timecode)]
        cuts: list[int] = []
        for frame in sorted(set(self._found)):
            if 0 < frame < self._next and (not cuts or frame - cuts[-1] >= self.min_shot_frames):
                cuts.append(frame)
        log.info("found %d cuts in %d frames", len(cuts), self._next)
        return np.array(cuts, np.int64)

    def _is_pan(self, frame: int) -> bool:
        """Is the change into `frame` the previous frame shifted (camera motion)?"""
        kept = dict(self._grey)
        if frame - 1 not in kept or frame not in kept:
            return False
        return is_shift(kept[frame - 1], kept[frame])


def _grey(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)


def is_shift(previous: np.ndarray, current: np.ndarray) -> bool:
    """Does shifting the (h,w) float32 grey `previous` explain `current` (see the module docstring)?"""
    import cv2

    height, width = previous.shape
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(previous.copy(), current.copy(), window)  # it may write to its inputs
    if response < PAN_MIN_RESPONSE or abs(dx) >= width / 2 or abs(dy) >= height / 2:
        return False
    shifted = cv2.warpAffine(previous, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height), flags=cv2.INTER_LINEAR)
    x0, x1 = int(np.ceil(max(dx, 0))), width - int(np.ceil(max(-dx, 0)))
    y0, y1 = int(np.ceil(max(dy, 0))), height - int(np.ceil(max(-dy, 0)))
    if x1 - x0 < width // 4 or y1 - y0 < height // 4:
        return False
    before = float(np.abs(current - previous)[y0:y1, x0:x1].mean())
    after = float(np.abs(current - shifted)[y0:y1, x0:x1].mean())
    return after <= PAN_RESIDUAL_RATIO * before


def downscale_rgb(frames_bhwc, start: int, stop: int) -> np.ndarray:
    """Frames start..stop-1 as (n,h,ANALYSIS_WIDTH,3) uint8 RGB, area-averaged (frames narrower
    than ANALYSIS_WIDTH keep their size). frames_bhwc: torch float [B,H,W,C] 0..1 or np uint8/float."""
    import torch

    if not isinstance(frames_bhwc, torch.Tensor):
        chunk = np.asarray(frames_bhwc[start:stop, ..., :3])
        if chunk.dtype == np.uint8 and chunk.shape[2] <= ANALYSIS_WIDTH:
            return np.ascontiguousarray(chunk)
        if chunk.dtype == np.uint8:  # decoded frames (the VIDEO path): OpenCV's area resize, no float copy
            import cv2

            height, width = chunk.shape[1:3]
            size = (ANALYSIS_WIDTH, max(1, round(height * ANALYSIS_WIDTH / width)))  # (w, h) for OpenCV
            return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in chunk]) if len(chunk) else np.zeros((0, size[1], size[0], 3), np.uint8)
        chunk = torch.from_numpy(np.ascontiguousarray(chunk))
        chunk = chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float()
    else:
        chunk = frames_bhwc[start:stop, ..., :3].float()
    height, width = chunk.shape[1:3]
    if width > ANALYSIS_WIDTH:
        size = (max(1, round(height * ANALYSIS_WIDTH / width)), ANALYSIS_WIDTH)
        chunk = torch.nn.functional.interpolate(chunk.permute(0, 3, 1, 2), size=size, mode="area").permute(0, 2, 3, 1)  # BHWC -> BCHW -> BHWC
    return image_to_uint8(chunk)


def detect_cuts(frames_bhwc, threshold: float = DEFAULT_THRESHOLD, min_shot_frames: int = DEFAULT_MIN_SHOT_FRAMES, fades: bool = True) -> np.ndarray:
    """The cuts of a whole clip at once (the same as feeding it to a ShotDetector)."""
    detector = ShotDetector(threshold, min_shot_frames, fades)
    detector.feed(frames_bhwc, 0, int(frames_bhwc.shape[0]))
    return detector.finish()
