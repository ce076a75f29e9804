"""Box geometry: conversions, face size, IoU, border contact."""

import numpy as np
import pytest

from comfyui_fuse.tracking.boxes import cxcywh_to_xyxy, face_size, iou_matrix, touches_border, xyxy_to_cxcywh


def test_centre_size_round_trip():
    xyxy = np.array([[10, 20, 50, 100], [0, 0, 1, 1]], np.float32)
    np.testing.assert_allclose(xyxy_to_cxcywh(xyxy), [[30, 60, 40, 80], [0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes: no overlap, no division by zero
    ],
)
def test_iou(a, b, expected):
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_iou_matrix_shape_and_empty_inputs():
    assert iou_matrix(np.zeros((3, 4)), np.zeros((0, 4))).shape == (3, 0)
    assert iou_matrix(np.array([[0, 0, 10, 10]] * 2), np.array([[0, 0, 10, 10]] * 5)).shape == (2, 5)


def test_face_size_is_the_side_of_an_equal_square_and_never_zero():
    np.testing.assert_allclose(face_size(np.array([[0, 0, 40, 90], [5, 5, 5, 5]])), [60.0, 1.0])


@pytest.mark.parametrize(
    "box, touches",
    [
        ([100, 100, 200, 200], False),
        ([0, 100, 100, 200], True),
        ([1200, 100, 1280, 200], True),
        ([500, 640, 600, 720], True),
        ([10, 100, 110, 200], True),  # the margin is 1% of the longer side + 1 px: 13.8 px here
        ([20, 100, 120, 200], False),
    ],
)
def test_touches_border(box, touches):
    assert bool(touches_border(np.array(box, np.float64), (720, 1280))) == touches
