"""Association: the gate (IoU or face-size-scaled distance) and the global assignment."""

import numpy as np
import pytest

from comfyui_fuse.tracking.associate import assign, association_cost, distance_gate


def box(cx, cy, size):
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


@pytest.mark.parametrize(
    "track, detection, allowed, why",
    [
        (box(500, 300, 120), box(510, 300, 120), True, "a small move overlaps"),
        (box(500, 300, 300), box(620, 300, 300), True, "a big face moving far still overlaps (IoU route)"),
        (box(500, 300, 100), box(590, 300, 100), True, "within 100 px (distance route)"),
        (box(500, 300, 100), box(610, 300, 100), False, "beyond 100 px and no overlap"),
        (box(500, 300, 20), box(530, 300, 20), False, "a 20 px face: the radius shrinks to 20 px"),
        (box(500, 300, 20), box(515, 300, 20), True, "a 20 px face within one face width"),
    ],
)
def test_gate(track, detection, allowed, why):
    cost = association_cost(np.array([track]), np.array([detection]), iou_threshold=0.3, distance_threshold=100.0)
    assert np.isfinite(cost[0, 0]) == allowed, why


def test_distance_gate_is_pixels_for_big_faces_and_face_widths_for_small_ones():
    np.testing.assert_allclose(distance_gate(np.array([400.0, 100.0, 50.0, 10.0]), 100.0), [100.0, 100.0, 50.0, 10.0])


def test_radius_scale_widens_the_gate():
    track, detection = np.array([box(500, 300, 100)]), np.array([box(640, 300, 100)])
    assert np.isinf(association_cost(track, detection, iou_threshold=0.3, distance_threshold=100.0))[0, 0]
    assert np.isfinite(association_cost(track, detection, iou_threshold=0.3, distance_threshold=100.0, radius_scale=np.array([1.5])))[0, 0]


def test_cost_prefers_the_closer_and_same_sized_face():
    track = np.array([box(500, 300, 100)])
    cost = association_cost(track, np.array([box(505, 300, 100), box(530, 300, 100), box(505, 300, 160)]), iou_threshold=0.3, distance_threshold=100.0)
    assert cost[0, 0] < cost[0, 1] and cost[0, 0] < cost[0, 2]


def test_global_assignment_does_not_let_one_track_steal_anothers_face():
    # Greedy in track order, track 0 would take detection 0 (its best) and leave track 1 nothing;
    # the global optimum gives each track a face.
    cost = np.array([[0.1, 0.2], [0.15, np.inf]])
    pairs = assign(cost)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_assign_with_nothing_to_match(shape):
    assert assign(np.zeros(shape)).shape == (0, 2)


def test_assign_drops_forbidden_pairs():
    pairs = assign(np.array([[np.inf, np.inf], [np.inf, 0.5]]))
    assert pairs.tolist() == [[1, 1]]
