"""Table tests for FaceDetections and FaceTracks construction (supervision-style)."""

from contextlib import nullcontext as does_not_raise
from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.core.types import ABSENT, DETECTED, INTERPOLATED, FaceDetections, FaceTracks, check_fps


def detections(n=2, frame_count=3, **overrides):
    """Builder: n faces spread over frame_count frames of a 100x200 clip."""
    values = dict(
        frame=np.arange(n) % max(frame_count, 1),
        xyxy=np.tile(np.array([[10, 20, 50, 70]], np.float32), (n, 1)),
        score=np.full(n, 0.9, np.float32),
        frame_count=frame_count,
        frame_size=(100, 200),
    )
    values.update(overrides)
    return FaceDetections(**values)


@pytest.mark.parametrize(
    "overrides, expectation",
    [
        ({}, does_not_raise()),
        ({"n": 0}, does_not_raise()),
        ({"landmarks": np.zeros((2, 5, 2))}, does_not_raise()),
        ({"embedding": np.zeros((2, 512))}, does_not_raise()),
        ({"xyxy": np.zeros((2, 3))}, pytest.raises(ValueError, match=r"xyxy must be a 2D np.ndarray with shape \(2, 4\), but got shape \(2, 3\)")),
        ({"score": np.zeros(3)}, pytest.raises(ValueError, match=r"score must be .* shape \(2,\)")),
        ({"xyxy": np.array([[0, 0, np.nan, 5], [0, 0, 5, 5]])}, pytest.raises(ValueError, match="finite")),
        ({"xyxy": np.array([[10, 0, 5, 5], [0, 0, 5, 5]])}, pytest.raises(ValueError, match="x2 >= x1")),
        ({"frame": np.array([0, 3])}, pytest.raises(ValueError, match=r"frame must hold indices in \[0, 3\)")),
        ({"frame_size": (0, 10)}, pytest.raises(ValueError, match="frame_size must be positive")),
        ({"frame_size": "big"}, pytest.raises(ValueError, match="frame_size must be")),
        ({"frame_count": -1}, pytest.raises(ValueError, match="frame_count must be")),
        ({"landmarks": np.zeros((2, 4, 2))}, pytest.raises(ValueError, match="landmarks must be")),
        ({"embedding": np.zeros((3, 8))}, pytest.raises(ValueError, match="embedding must be")),
        ({"sampled_frames": np.array([0, 2])}, pytest.raises(ValueError, match="sampled_frames must include every frame")),
        ({"sampled_frames": np.array([0, 1, 5])}, pytest.raises(ValueError, match="sampled_frames must hold indices")),
    ],
)
def test_face_detections_construction(overrides, expectation):
    n = overrides.pop("n", 2)
    if n == 0:
        overrides.update(frame=np.zeros(0), xyxy=np.zeros((0, 4)), score=np.zeros(0))
    with expectation:
        result = detections(n=n, **overrides)
        assert len(result) == n
        assert result.xyxy.dtype == np.float32 and result.frame.dtype == np.int64


def test_face_detections_are_immutable_and_copied():
    source = np.array([[10, 20, 50, 70]], np.float32)
    faces = detections(n=1, xyxy=source)
    source[0, 0] = 99
    assert faces.xyxy[0, 0] == 10, "constructor must copy its arrays"
    with pytest.raises(ValueError):
        faces.xyxy[0, 0] = 5
    with pytest.raises(AttributeError):
        faces.frame_count = 7


def test_select_in_frame_empty_and_merge():
    faces = detections(n=3, frame_count=2, score=np.array([0.9, 0.5, 0.7], np.float32))
    assert faces.in_frame(0).score.tolist() == pytest.approx([0.9, 0.7])
    assert len(faces.select(faces.score > 0.8)) == 1
    empty = FaceDetections.empty(5, (10, 20))
    assert len(empty) == 0 and empty.frame_count == 5 and empty.is_sampled.all()
    merged = FaceDetections.merge([faces.in_frame(1), faces.in_frame(0)])
    assert merged.frame.tolist() == [0, 0, 1], "merge must sort by frame"
    with pytest.raises(ValueError, match="one clip"):
        FaceDetections.merge([faces, FaceDetections.empty(9, (100, 200))])


def tracks(k=1, n=4, **overrides):
    """Builder: k tracks present in every frame of an n-frame 100x200 clip."""
    values = dict(
        track_id=np.arange(1, k + 1),
        xyxy=np.tile(np.array([10, 20, 50, 70], np.float32), (k, n, 1)),
        state=np.full((k, n), DETECTED, np.uint8),
        score=np.full((k, n), 0.9, np.float32),
        frame_count=n,
        frame_size=(100, 200),
        fps=Fraction(30000, 1001),
    )
    values.update(overrides)
    return FaceTracks(**values)


@pytest.mark.parametrize(
    "overrides, expectation",
    [
        ({}, does_not_raise()),
        ({"k": 0}, does_not_raise()),
        ({"identity": np.array(["alice"])}, does_not_raise()),
        ({"landmarks": np.zeros((1, 4, 5, 2))}, does_not_raise()),
        ({"track_id": np.array([0])}, pytest.raises(ValueError, match="track_id must start at 1")),
        ({"k": 2, "track_id": np.array([3, 3])}, pytest.raises(ValueError, match="track_id must be unique")),
        ({"state": np.full((1, 4), 7)}, pytest.raises(ValueError, match="state must hold only")),
        ({"xyxy": np.full((1, 4, 4), np.nan)}, pytest.raises(ValueError, match="finite wherever state is not absent")),
        ({"xyxy": np.zeros((1, 3, 4))}, pytest.raises(ValueError, match=r"xyxy must be a 3D np.ndarray with shape \(1, 4, 4\)")),
        ({"fps": 0}, pytest.raises(ValueError, match="fps must be a positive number")),
        ({"identity": np.array(["a", "b"])}, pytest.raises(ValueError, match="identity must be")),
    ],
)
def test_face_tracks_construction(overrides, expectation):
    k = overrides.pop("k", 1)
    if k == 0:
        overrides.update(track_id=np.zeros(0), xyxy=np.zeros((0, 4, 4)), state=np.zeros((0, 4)), score=np.zeros((0, 4)))
    if "track_id" in overrides and k == 2:
        overrides.update(xyxy=np.zeros((2, 4, 4)), state=np.ones((2, 4)), score=np.ones((2, 4)))
    with expectation:
        result = tracks(k=k, **overrides)
        assert len(result) == k


def test_absent_frames_become_nan_and_runs_are_found():
    state = np.array([[DETECTED, ABSENT, INTERPOLATED, DETECTED]], np.uint8)
    result = tracks(state=state)
    assert np.isnan(result.xyxy[0, 1]).all(), "absent frames must hold NaN boxes"
    assert result.score[0, 1] == 0
    assert result.runs(0) == [(0, 1), (2, 4)]
    assert result.index_of(1) == 0
    with pytest.raises(ValueError, match="track_id must be one of"):
        result.index_of(9)


@pytest.mark.parametrize(
    "fps, expected",
    [(25, Fraction(25)), (29.97, Fraction(30000, 1001)), ("30000/1001", Fraction(30000, 1001)), (Fraction(24000, 1001), Fraction(24000, 1001)), (23.976, Fraction(24000, 1001)), (59.94, Fraction(60000, 1001))],
)
def test_fps_is_kept_exact(fps, expected):
    assert check_fps(fps) == expected


@pytest.mark.parametrize("fps", [0, -1, float("nan"), "fast", None])
def test_bad_fps_is_rejected(fps):
    with pytest.raises(ValueError, match="fps must be"):
        check_fps(fps)


# --- sparse storage and shots -------------------------------------------------------------------


def sparse_tracks(cuts=None, **overrides):
    """Builder: track 1 on frames 0-3, track 2 on frames 2-7, of an 8-frame clip."""
    values = dict(
        track_id=np.array([1, 2]),
        offsets=np.array([0, 4, 10]),
        frame=np.array([0, 1, 2, 3, 2, 3, 4, 5, 6, 7]),
        xyxy=np.tile(np.array([10, 20, 50, 70], np.float32), (10, 1)),
        state=np.array([DETECTED, DETECTED, INTERPOLATED, DETECTED] + [DETECTED] * 6, np.uint8),
        score=np.full(10, 0.9, np.float32),
        frame_count=8,
        frame_size=(100, 200),
        cuts=cuts,
    )
    values.update(overrides)
    return FaceTracks.from_rows(**values)


def test_rows_and_dense_views_agree():
    result = sparse_tracks()
    assert result.present.sum() == 10 and result.present[0].tolist() == [True] * 4 + [False] * 4
    assert result.state[0, 2] == INTERPOLATED and result.state[1, 0] == ABSENT
    assert np.isnan(result.xyxy[0, 5]).all() and result.score[1, 1] == 0
    dense = FaceTracks(result.track_id, result.xyxy, result.state, result.score, 8, (100, 200))
    np.testing.assert_array_equal(dense.row_frame, result.row_frame)
    np.testing.assert_array_equal(dense.offsets, result.offsets)
    assert result.frames_of(1).tolist() == [2, 3, 4, 5, 6, 7]


def test_runs_and_selection_stop_at_cuts():
    result = sparse_tracks(cuts=[5, 3])  # unsorted input is sorted
    assert result.cuts.tolist() == [3, 5]
    assert result.shots == [(0, 3), (3, 5), (5, 8)]
    assert result.runs(0) == [(0, 3), (3, 4)], "a run must never cross a cut"
    assert result.runs(1) == [(2, 3), (3, 5), (5, 8)]
    picked = result.select([1])
    assert picked.cuts.tolist() == [3, 5] and picked.track_id.tolist() == [2] and picked.runs(0) == [(2, 3), (3, 5), (5, 8)]
    assert "3 shots" in repr(result)


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"cuts": [0]}, r"cuts must be frame numbers in \[1, 7\]"),
        ({"cuts": [8]}, r"cuts must be frame numbers in \[1, 7\].*but got \[8\]"),
        ({"cuts": [2.5]}, "cuts must be whole frame numbers"),
        ({"offsets": np.array([0, 4, 9])}, "offsets must rise from 0 to the row count 10"),
        ({"frame": np.array([0, 1, 2, 3, 2, 3, 4, 4, 6, 7])}, "frame must increase strictly within each track"),
        ({"state": np.zeros(10, np.uint8)}, "state must be DETECTED or INTERPOLATED on every row"),
        ({"xyxy": np.full((10, 4), np.nan, np.float32)}, "xyxy must be finite"),
    ],
)
def test_bad_rows_are_named(overrides, words):
    with pytest.raises(ValueError, match=words):
        sparse_tracks(**overrides)


def test_face_tracks_cannot_be_changed():
    result = sparse_tracks()
    with pytest.raises(AttributeError, match="immutable"):
        result.cuts = np.array([2])
    with pytest.raises(ValueError):
        result.row_xyxy[0, 0] = 1
    with pytest.raises(ValueError):
        result.xyxy[0, 0, 0] = 1


def test_face_detections_carry_cuts():
    faces = detections(n=2, frame_count=6, cuts=[4, 2, 2])
    assert faces.cuts.tolist() == [2, 4]
    assert faces.select([0]).cuts.tolist() == [2, 4]
    assert detections(n=2, frame_count=6).cuts is None, "None: shots were not looked for"
    with pytest.raises(ValueError, match="cuts must be frame numbers"):
        detections(n=2, frame_count=6, cuts=[6])
