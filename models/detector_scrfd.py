"""InsightFace SCRFD face detectors (e.g. buffalo_l/det_10g.onnx) on onnxruntime, without insightface.

What the network expects and gives (SCRFD as insightface exports it):
- input: RGB, (x - 127.5) / 128, NCHW. The frame is resized keeping its aspect into the input
  size (640x640 when the model leaves it free) at the top-left corner; the rest is black (0 before
  normalising).
- outputs, per feature level of stride 8, 16, 32 (and 64, 128 for 5-level models): scores (N,1)
  already through a sigmoid; box distances (N,4) from the anchor centre to the left, top, right
  and bottom sides; optionally 5 landmark offsets (N,10) as (dx, dy) pairs. Distances and offsets
  are in units of the stride. N = cells * anchors per cell; rows run over the cells row by row,
  the anchors of one cell next to each other. insightface orders the outputs all scores, all
  boxes, all landmarks (6 or 9 outputs: 3 levels, 2 anchors; 10 or 15: 5 levels, 1 anchor); we
  group them by their last dimension and level by size instead, which holds for any order.
- det_10g's outputs are 2D (one image per run); an export with 3D (B,N,C) outputs runs batches.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .detector_common import FrameFaces, letterbox_batch, load_error, nms, no_faces, onnx_session, top_candidates

FREE_INPUT_HW = (640, 640)  # insightface's det_size when the model does not fix its input size
INPUT_MEAN = 127.5
INPUT_STD = 128.0
IOU_THRESHOLD = 0.4  # insightface's NMS threshold for SCRFD
MAX_CANDIDATES = 3000  # highest-scoring boxes that enter NMS per frame (bounds the time a broken model takes)
OUTPUT_COUNTS = (6, 9, 10, 15)  # what insightface's SCRFD exports have
LANDMARK_VALUES = 10  # 5 points (x, y)


def anchor_centers(cells_hw: tuple[int, int], stride: int, anchors: int) -> np.ndarray:
    """(cells*anchors, 2) float32 (x, y) input pixels: cells row by row, each cell's anchors together."""
    cells_h, cells_w = cells_hw
    ys, xs = np.mgrid[0:cells_h, 0:cells_w]
    centers = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centers, anchors, axis=0)


def decode_scrfd_outputs(outputs: Sequence[np.ndarray], input_hw: tuple[int, int], score_threshold: float) -> FrameFaces:
    """One image's SCRFD outputs (2D arrays) -> (xyxy (n,4), score (n,), landmarks (n,5,2) or None).

    Input pixels, before NMS. Raises ValueError when the outputs do not have the SCRFD layout.
    """
    by_width = {width: sorted((o for o in outputs if o.ndim == 2 and o.shape[1] == width), key=len, reverse=True) for width in (1, 4, LANDMARK_VALUES)}
    scores, boxes, landmarks = by_width[1], by_width[4], by_width[LANDMARK_VALUES]
    if not scores or len(boxes) != len(scores) or (landmarks and len(landmarks) != len(scores)):
        shapes = [tuple(o.shape) for o in outputs]
        raise ValueError(f"SCRFD outputs must be per level (N,1) scores, (N,4) boxes and optionally (N,10) landmarks, but got shapes {shapes}")
    input_h, input_w = input_hw
    found_xyxy, found_score, found_landmarks = [], [], []
    for level, (score_map, box_map) in enumerate(zip(scores, boxes)):
        stride = 8 * 2**level
        cells = (math.ceil(input_h / stride), math.ceil(input_w / stride))
        anchors = len(score_map) // (cells[0] * cells[1])
        if anchors < 1 or anchors * cells[0] * cells[1] != len(score_map) or len(box_map) != len(score_map):
            raise ValueError(f"SCRFD level {level} (stride {stride}) must have a multiple of {cells[0]}x{cells[1]} rows for a {input_w}x{input_h} input, but got {len(score_map)} scores and {len(box_map)} boxes")
        hit = np.flatnonzero(score_map[:, 0] >= score_threshold)
        centers = anchor_centers(cells, stride, anchors)[hit]
        distances = box_map[hit] * stride
        found_xyxy.append(np.concatenate([centers - distances[:, :2], centers + distances[:, 2:]], axis=1))
        found_score.append(score_map[hit, 0])
        if landmarks:
            offsets = landmarks[level][hit].reshape(-1, 5, 2) * stride
            found_landmarks.append(centers[:, None, :] + offsets)
    return (
        np.concatenate(found_xyxy).astype(np.float32),
        np.concatenate(found_score).astype(np.float32),
        np.concatenate(found_landmarks).astype(np.float32) if landmarks else None,
    )


class ScrfdFaceDetector:
    """An SCRFD detector; infer maps a (b,3,h,w) normalised float32 batch to the list of outputs."""

    def __init__(self, name: str, infer: Callable[[np.ndarray], list[np.ndarray]], input_hw: tuple[int, int], batched: bool, with_landmarks: bool) -> None:
        self.name = name
        self._infer = infer
        self.input_hw = input_hw
        self.batched = batched
        self.with_landmarks = with_landmarks

    def __repr__(self) -> str:
        return f"ScrfdFaceDetector({self.name!r}, input {self.input_hw[1]}x{self.input_hw[0]})"

    def detect_batch(self, frames_rgb_uint8: np.ndarray, score_threshold: float = 0.5) -> list[FrameFaces]:
        """frames (B,H,W,3) uint8 RGB -> per frame (xyxy, score, landmarks), source pixels.

        One network call per batch when the model takes batches, else one per frame.
        """
        letterboxed, box = letterbox_batch(frames_rgb_uint8, self.input_hw, 0, centered=False)
        blob = (letterboxed.transpose(0, 3, 1, 2).astype(np.float32) - INPUT_MEAN) / INPUT_STD  # BHWC -> BCHW
        if self.batched:
            outputs = self._infer(blob)
            per_image = [[np.asarray(o[index]) for o in outputs] for index in range(len(blob))]
        else:
            per_image = [[np.asarray(o).reshape(o.shape[-2:]) for o in self._infer(blob[index : index + 1])] for index in range(len(blob))]
        results = []
        for outputs in per_image:
            xyxy, score, landmarks = decode_scrfd_outputs(outputs, self.input_hw, score_threshold)
            if not len(score):
                results.append(no_faces(self.with_landmarks))
                continue
            candidates = top_candidates(score, score_threshold, MAX_CANDIDATES)
            keep = candidates[nms(xyxy[candidates], score[candidates], IOU_THRESHOLD)]
            results.append((box.xyxy_to_source(xyxy[keep]), score[keep], None if landmarks is None else box.xy_to_source(landmarks[keep])))
        return results


def load_scrfd_detector(name: str, path: str, device=None) -> ScrfdFaceDetector:
    """Load an SCRFD .onnx (CPU onnxruntime; device is accepted for a uniform loader signature)."""
    session = onnx_session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    fix = "choose an SCRFD detector such as buffalo_l/det_10g.onnx (w600k_r50.onnx and the other buffalo_l files are not detectors)"
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise load_error(path, f"it takes {len(inputs)} inputs of shapes {[i.shape for i in inputs]}; an SCRFD detector takes one (batch, 3, height, width) image", fix)
    widths = {o.shape[-1] for o in outputs if o.shape and isinstance(o.shape[-1], int)}
    if len(outputs) not in OUTPUT_COUNTS or not widths <= {1, 4, LANDMARK_VALUES}:
        raise load_error(path, f"it has {len(outputs)} outputs of shapes {[o.shape for o in outputs]}; an SCRFD detector has {', '.join(map(str, OUTPUT_COUNTS))} outputs of (N,1) scores, (N,4) boxes and (N,10) landmarks", fix)
    shape = inputs[0].shape
    input_hw = (shape[2], shape[3]) if all(isinstance(v, int) and v > 0 for v in shape[2:]) else FREE_INPUT_HW
    batched = not isinstance(shape[0], int) and all(len(o.shape) == 3 for o in outputs)
    input_name = inputs[0].name
    output_names = [o.name for o in outputs]

    def infer(blob: np.ndarray) -> list[np.ndarray]:
        return session.run(output_names, {input_name: blob})

    return ScrfdFaceDetector(name, infer, input_hw, batched, with_landmarks=len(outputs) in (9, 15))
