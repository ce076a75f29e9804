"""Letterboxing and NMS shared by the detector backends."""

import numpy as np
import pytest

from comfyui_fuse.models.detector_common import Letterbox, letterbox_batch, nms, top_candidates


@pytest.mark.parametrize(
    "boxes, scores, iou_threshold, expected",
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7], 0.5, [0, 2]),  # IoU 0.68 suppressed
        ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7], 0.7, [0, 1, 2]),  # 0.68 <= 0.7 kept
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.3, 0.6], 0.5, [1]),  # the higher score wins whatever the order
        ([[0, 0, 10, 10], [10, 0, 20, 10]], [0.5, 0.5], 0.0, [0, 1]),  # touching boxes do not overlap
        (np.zeros((0, 4)), [], 0.5, []),
    ],
)
def test_nms_keeps_the_best_of_each_overlapping_group(boxes, scores, iou_threshold, expected):
    kept = nms(np.array(boxes, np.float32), np.array(scores, np.float32), iou_threshold)
    assert kept.tolist() == expected, f"NMS kept {kept.tolist()}, expected {expected}"


def test_nms_stops_at_max_keep():
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], np.float32)
    kept = nms(boxes, np.linspace(0.9, 0.5, 5), 0.5, max_keep=2)
    assert kept.tolist() == [0, 1]


def test_top_candidates_caps_the_count_by_score():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.95], np.float32)
    assert sorted(top_candidates(scores, 0.5, 10).tolist()) == [1, 2, 3, 4]
    assert sorted(top_candidates(scores, 0.5, 2).tolist()) == [1, 4], "the cap must keep the highest scores"


@pytest.mark.parametrize(
    "frame_hw, input_hw, centered, expected",
    [
        ((100, 200), (64, 64), True, Letterbox(0.32, 0.32, 0, 16)),  # wide frame: bars above and below
        ((200, 100), (64, 64), True, Letterbox(0.32, 0.32, 16, 0)),  # tall frame: bars left and right
        ((100, 200), (64, 64), False, Letterbox(0.32, 0.32, 0, 0)),  # insightface: image at top-left
        ((64, 64), (64, 64), True, Letterbox(1.0, 1.0, 0, 0)),
    ],
)
def test_letterbox_keeps_aspect_and_maps_back(frame_hw, input_hw, centered, expected):
    frames = np.full((2,) + frame_hw + (3,), 200, np.uint8)
    batch, box = letterbox_batch(frames, input_hw, pad_value=114, centered=centered)
    assert batch.shape == (2,) + input_hw + (3,)
    assert box == expected
    # The padding holds the pad value, the image area the frame.
    x1, y1 = box.left, box.top
    x2, y2 = x1 + round(frame_hw[1] * box.scale_x), y1 + round(frame_hw[0] * box.scale_y)
    assert (batch[:, y1:y2, x1:x2] == 200).all()
    assert (batch == 114).sum() == batch.size - (batch[:, y1:y2, x1:x2].size), "pixels outside the image must be padding"
    # Input pixels of the frame's corners map back to the frame's corners.
    corners = box.xyxy_to_source(np.array([[x1, y1, x2, y2]], np.float32))
    np.testing.assert_allclose(corners, [[0, 0, frame_hw[1], frame_hw[0]]], atol=1e-4)
