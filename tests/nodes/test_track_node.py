"""FUSETrackFaces and FUSETracksToJSON: declarations, and runs without ComfyUI."""

import json
from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.nodes import host, track
from comfyui_fuse.tracking.report import tracks_from_dict
from comfyui_fuse.core.types import FaceDetections, FaceTracks


def make_faces(frames=20) -> FaceDetections:
    t = np.arange(frames, dtype=np.float32)
    left = np.stack([100 + 2 * t, np.full(frames, 100), 200 + 2 * t, np.full(frames, 210)], axis=1)
    right = np.stack([500 - t, np.full(frames, 120), 590 - t, np.full(frames, 220)], axis=1)
    keep = np.ones(frames, bool)
    keep[7] = False  # one missed detection of the left face
    xyxy = np.concatenate([left[keep], right])
    frame = np.concatenate([np.flatnonzero(keep), np.arange(frames)])
    order = np.argsort(frame, kind="stable")
    return FaceDetections(frame=frame[order], xyxy=xyxy[order], score=np.full(len(frame), 0.9, np.float32), frame_count=frames, frame_size=(360, 640))


def node_defaults() -> dict:
    return {name: options["default"] for name, (_, options) in track.FUSETrackFaces.INPUT_TYPES()["required"].items() if "default" in options}


@pytest.mark.parametrize("node", [track.FUSETrackFaces, track.FUSETracksToJSON])
def test_nodes_are_declared_for_comfyui(node):
    inputs = node.INPUT_TYPES()["required"]
    for name, (_, options) in inputs.items():
        assert options.get("tooltip"), f"{node.__name__} input {name!r} needs a tooltip"
    assert node.CATEGORY == "FUSE/track"
    assert len(node.RETURN_TYPES) == len(node.RETURN_NAMES) == len(node.OUTPUT_TOOLTIPS)
    assert callable(getattr(node, node.FUNCTION)) and node.DESCRIPTION


def test_track_node_keeps_the_seed_inputs_and_defaults():
    inputs = track.FUSETrackFaces.INPUT_TYPES()["required"]
    assert inputs["faces"][0] == "FUSE_FACES" and track.FUSETrackFaces.RETURN_TYPES == ("FUSE_TRACKS",)
    assert set(inputs) == {"faces", "fps", "iou_threshold", "distance_threshold", "max_gap", "min_hits", "smooth_boxes", "smooth_window", "link_gaps"}
    assert node_defaults() == {"fps": 25.0, "iou_threshold": 0.3, "distance_threshold": 100.0, "max_gap": 15, "min_hits": 3, "smooth_boxes": True, "smooth_window": 3, "link_gaps": True}


def test_new_inputs_are_optional_and_last():
    optional = track.FUSETrackFaces.INPUT_TYPES()["optional"]
    assert list(optional) == ["cuts", "max_jump"] and optional["cuts"][1]["default"] == "" and optional["max_jump"][1]["default"] == 2.5
    assert all(options.get("tooltip") for _, options in optional.values())


def test_the_cut_list_reaches_the_tracks_and_the_json():
    faces = make_faces(20)
    faces = FaceDetections(frame=faces.frame, xyxy=faces.xyxy, score=faces.score, frame_count=20, frame_size=(360, 640), cuts=[10])
    (tracks,) = track.FUSETrackFaces().track(faces, **node_defaults())
    assert tracks.cuts.tolist() == [10] and len(tracks) == 4, "two faces, each followed in both shots, no embeddings: four ids"
    (tracks,) = track.FUSETrackFaces().track(faces, **node_defaults(), cuts="none")
    assert tracks.cuts.tolist() == [] and len(tracks) == 2
    (tracks,) = track.FUSETrackFaces().track(faces, **node_defaults(), cuts="+15")
    data = json.loads(track.FUSETracksToJSON().to_json(tracks)["result"][0])
    assert data["cuts"] == [10, 15] and data["shots"] == [[0, 10], [10, 15], [15, 20]]
    with pytest.raises(ValueError, match=r"cuts must be frame numbers in \[1, 19\]"):
        track.FUSETrackFaces().track(faces, **node_defaults(), cuts="25")


def test_registered_with_display_names():
    assert track.NODE_DISPLAY_NAME_MAPPINGS == {"FUSETrackFaces": "FUSE Track Faces", "FUSETracksToJSON": "FUSE Tracks To JSON"}
    assert set(track.NODE_CLASS_MAPPINGS) == set(track.NODE_DISPLAY_NAME_MAPPINGS)
    assert track.FUSETracksToJSON.OUTPUT_NODE is True and track.FUSETracksToJSON.RETURN_TYPES == ("STRING",)


def test_track_node_runs_reports_progress_and_snaps_fps(monkeypatch):
    totals, steps = [], []

    def fake_progress(total):
        totals.append(total)
        return steps.append

    monkeypatch.setattr(host, "progress_callback", fake_progress)
    faces = make_faces()
    xyxy_before = faces.xyxy.copy()
    (tracks,) = track.FUSETrackFaces().track(faces, **{**node_defaults(), "fps": 29.97})
    assert isinstance(tracks, FaceTracks) and len(tracks) == 2, "two faces, one missed detection: two tracks"
    assert tracks.fps == Fraction(30000, 1001), "29.97 must become the exact NTSC rate"
    assert totals == [20] and sum(steps) == 20
    np.testing.assert_array_equal(faces.xyxy, xyxy_before)


def test_track_node_passes_the_interrupt_through(monkeypatch):
    class Interrupted(Exception):
        pass

    def interrupt():
        raise Interrupted

    monkeypatch.setattr(host, "check_interrupt", interrupt)
    with pytest.raises(Interrupted):
        track.FUSETrackFaces().track(make_faces(), **node_defaults())


def test_track_node_names_a_wrong_input():
    with pytest.raises(TypeError, match="detections must be a FaceDetections"):
        track.FUSETrackFaces().track("not faces", **node_defaults())


def test_json_node_shows_and_returns_the_same_text():
    (tracks,) = track.FUSETrackFaces().track(make_faces(), **node_defaults())
    out = track.FUSETracksToJSON().to_json(tracks)
    assert out["ui"]["text"] == [out["result"][0]]
    back = tracks_from_dict(json.loads(out["result"][0]))
    np.testing.assert_array_equal(back.state, tracks.state)
    np.testing.assert_array_equal(back.xyxy, tracks.xyxy)
