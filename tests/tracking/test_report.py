"""tracks_to_dict / tracks_from_dict: JSON-able and an exact round trip."""

import json
from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.tracking.report import tracks_from_dict, tracks_to_dict, tracks_to_json
from comfyui_fuse.tracking.track import track_faces
from comfyui_fuse.core.types import FaceTracks


@pytest.fixture
def tracks(builders):
    paths = [builders.drop(builders.moving_box(12, 100, 100, 80, vx=3.3), [5]), builders.moving_box(12, 600, 200, 90)]
    return track_faces(builders.detections(paths, landmarks=True), fps=Fraction(30000, 1001))


def assert_same_tracks(a: FaceTracks, b: FaceTracks) -> None:
    np.testing.assert_array_equal(a.track_id, b.track_id)
    np.testing.assert_array_equal(a.state, b.state)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert (a.frame_count, a.frame_size, a.fps) == (b.frame_count, b.frame_size, b.fps)


def test_round_trip_through_json_text(tracks):
    data = json.loads(json.dumps(tracks_to_dict(tracks)))
    assert_same_tracks(tracks, tracks_from_dict(data))


def test_layout(tracks):
    data = tracks_to_dict(tracks)
    assert data["fps"] == "30000/1001" and data["fps_float"] == pytest.approx(29.97003)
    assert data["frame_size"] == [720, 1280] and data["frame_count"] == 12
    first = data["tracks"][0]
    assert first["id"] == 1 and first["identity"] is None
    assert [f["state"] for f in first["frames"]][4:7] == ["detected", "interpolated", "detected"]
    assert set(first["frames"][0]) == {"frame", "xyxy", "state", "score", "landmarks"}


def test_identity_and_no_landmarks_round_trip():
    tracks = FaceTracks(
        track_id=np.array([1, 2]),
        xyxy=np.tile(np.array([10, 10, 50, 60], np.float32), (2, 3, 1)),
        state=np.array([[1, 2, 0], [1, 1, 1]], np.uint8),
        score=np.full((2, 3), 0.5, np.float32),
        frame_count=3,
        frame_size=(100, 100),
        fps=Fraction(24),
        identity=np.array(["anna", "ben"]),
    )
    back = tracks_from_dict(json.loads(tracks_to_json(tracks)))
    assert back.identity.tolist() == ["anna", "ben"] and back.landmarks is None
    np.testing.assert_array_equal(back.state, tracks.state)


def test_empty_tracks_round_trip():
    empty = FaceTracks.empty(4, (10, 20), fps=Fraction(25))
    back = tracks_from_dict(tracks_to_dict(empty))
    assert len(back) == 0 and back.frame_count == 4 and back.frame_size == (10, 20)


@pytest.mark.parametrize(
    "broken, words",
    [
        (lambda d: d.pop("fps"), "'fps'"),
        (lambda d: d["tracks"][0]["frames"][0].update(state="absent"), "state must be 'detected' or 'interpolated'"),
        (lambda d: d["tracks"][0]["frames"][0].update(frame=99), r"frame must be in \[0, 12\)"),
    ],
)
def test_bad_dicts_are_named(tracks, broken, words):
    data = tracks_to_dict(tracks)
    broken(data)
    with pytest.raises(ValueError, match=words):
        tracks_from_dict(data)


def test_tracks_must_be_face_tracks():
    with pytest.raises(TypeError, match="tracks must be a FaceTracks"):
        tracks_to_dict({"tracks": []})
