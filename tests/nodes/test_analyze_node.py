"""FUSEAnalyzeFaces: declaration, a run with and without models, reference images, errors."""

import json

import jsonschema
import numpy as np
import pytest
import torch

from fuse_fake_host import install_models_dir, put_model_file
from fuse_insightface_models import arcface_onnx, landmark_3d68_onnx

from comfyui_fuse.media import synthetic
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, analyze
from comfyui_fuse.analysis.report import report_schema
from comfyui_fuse.core.types import DETECTED, FaceDetections, FaceTracks

FRAMES = 8


@pytest.fixture(scope="module")
def clip():
    """The demo scene's frames as an IMAGE and its ground-truth tracks (two people)."""
    scene = synthetic.demo_scene(frame_count=FRAMES)
    frames = synthetic.render(scene)
    boxes = np.stack(scene.boxes).astype(np.float32)
    tracks = FaceTracks(
        track_id=np.array([1, 2]), xyxy=boxes, state=np.full((2, FRAMES), DETECTED, np.uint8), score=np.full((2, FRAMES), 0.8, np.float32),
        frame_count=FRAMES, frame_size=scene.frame_size, fps=scene.fps,
    )
    return torch.from_numpy(frames).float() / 255, tracks


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A FUSE_MODELS_DIR with a random-weight ArcFace in insightface/buffalo_l."""
    arcface_onnx(tmp_path / "insightface" / "buffalo_l" / "w600k_r50.onnx")
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def empty_models(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    return tmp_path


DEFAULTS = dict(sample_fps=0.0, similarity_threshold=0.5, merge_identities=True, max_yaw=45.0, min_face_px=64, min_confidence=0.5)


def test_node_is_declared_for_comfyui(models_dir):
    node = analyze.FUSEAnalyzeFaces
    types = node.INPUT_TYPES()
    assert set(types["required"]) == {"images", "embedder", "landmarks_3d", *DEFAULTS}
    assert set(types["optional"]) == {"tracks", "faces", "fps", "reference_images", "reference_names"}
    for name, (_, options) in {**types["required"], **types["optional"]}.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert types["required"]["embedder"][0] == ["auto", "none", "insightface/buffalo_l/w600k_r50.onnx"], "the embedder combo lists models/insightface recognisers"
    assert types["required"]["landmarks_3d"][0] == ["auto", "none"]
    assert node.RETURN_TYPES == ("STRING", "FUSE_TRACKS") and len(node.OUTPUT_TOOLTIPS) == 2
    assert node.CATEGORY == "FUSE/analyze" and node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))
    assert analyze.NODE_CLASS_MAPPINGS == {"FUSEAnalyzeFaces": node}
    assert NODE_CLASS_MAPPINGS["FUSEAnalyzeFaces"] is node, "the analyze stage must be registered in nodes/__init__.py"


def test_without_models_every_track_is_an_unknown_face(clip, empty_models, monkeypatch):
    images, tracks = clip
    before = images.clone()
    steps = []
    monkeypatch.setattr(analyze.host, "progress_callback", lambda total: steps.append)
    output = analyze.FUSEAnalyzeFaces().analyze(images, "auto", "auto", tracks=tracks, **DEFAULTS)
    text, named = output["result"]
    report = json.loads(text)
    jsonschema.validate(report, report_schema())
    assert output["ui"]["text"] == [text]
    assert named.identity.tolist() == ["face_1", "face_2"]
    assert len(report["frames"]) == FRAMES and report["settings"]["embedder"] is None
    assert sum(steps) == FRAMES
    assert torch.equal(images, before), "the node must not change its input"


def test_reference_images_name_the_characters(clip, models_dir):
    """Random ArcFace weights: references cut from the frames themselves are the closest match."""
    images, tracks = clip
    frames = (images * 255).round().to(torch.uint8).numpy()
    crops = []
    for index in range(2):
        x1, y1, x2, y2 = np.round(tracks.xyxy[index, 0]).astype(int)
        crops.append(torch.from_numpy(np.ascontiguousarray(frames[0, y1 : y1 + 100, x1 : x1 + 100])).float() / 255)
    references = torch.stack(crops)
    output = analyze.FUSEAnalyzeFaces().analyze(images, "auto", "none", tracks=tracks, reference_images=references, reference_names="alice, bob", **{**DEFAULTS, "sample_fps": 10.0})
    text, named = output["result"]
    report = json.loads(text)
    jsonschema.validate(report, report_schema())
    assert report["settings"]["embedder"] == "insightface/buffalo_l/w600k_r50.onnx"
    assert [r["character_id"] for r in report["references"]] == ["alice", "bob"]
    assert named.identity.tolist() == ["alice", "bob"], f"each person should match the reference cut from them, got {named.identity.tolist()}"


def test_faces_are_tracked_when_no_tracks_come(clip, empty_models):
    images, tracks = clip
    frames = np.repeat(np.arange(FRAMES), 2)
    detections = FaceDetections(frame=frames, xyxy=tracks.xyxy.transpose(1, 0, 2).reshape(-1, 4), score=np.full(2 * FRAMES, 0.8), frame_count=FRAMES, frame_size=tracks.frame_size)
    text, named = analyze.FUSEAnalyzeFaces().analyze(images, "none", "none", faces=detections, fps=29.97, **DEFAULTS)["result"]
    assert len(named) == 2 and json.loads(text)["fps"] == "30000/1001"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "tracks or faces must be connected"),
        ({"reference_images": torch.zeros(2, 32, 32, 3), "reference_names": "alice, bob, carol"}, "one name per reference image"),
    ],
)
def test_errors_name_the_input(clip, models_dir, kwargs, message):
    images, tracks = clip
    if kwargs:
        kwargs["tracks"] = tracks
    with pytest.raises(ValueError, match=message):
        analyze.FUSEAnalyzeFaces().analyze(images, "auto", "none", **kwargs, **DEFAULTS)


# Every "auto" model choice must run the node again when what it resolves to changes.
def analyze_is_changed(embedder="auto", landmarks_3d="auto", **links):
    """IS_CHANGED as ComfyUI calls it: widget values, None for each linked input."""
    return analyze.FUSEAnalyzeFaces.IS_CHANGED(images=None, embedder=embedder, landmarks_3d=landmarks_3d, tracks=None, **DEFAULTS, **links)


def test_models_added_later_make_auto_choices_run_again(tmp_path, monkeypatch):
    install_models_dir(monkeypatch, tmp_path)
    empty = analyze_is_changed()
    assert analyze_is_changed() == empty and empty == empty, "nothing changed: ComfyUI may reuse the result"
    arcface_onnx(tmp_path / "insightface" / "buffalo_l" / "w600k_r50.onnx")
    with_embedder = analyze_is_changed()
    assert with_embedder != empty, "embedder auto now loads w600k_r50.onnx"
    assert analyze_is_changed(embedder="none") == analyze_is_changed(embedder="none"), "none is none whatever the folder holds"
    landmark_3d68_onnx(tmp_path / "insightface" / "buffalo_l" / "1k3d68.onnx")
    assert analyze_is_changed() != with_embedder, "landmarks_3d auto now loads 1k3d68.onnx"


def test_the_reference_detector_counts_only_when_references_are_connected(tmp_path, monkeypatch):
    install_models_dir(monkeypatch, tmp_path)
    without, with_references = analyze_is_changed(), analyze_is_changed(reference_images=None)
    put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    assert analyze_is_changed() == without, "no reference images: no detector runs here"
    assert analyze_is_changed(reference_images=None) != with_references, "reference images are detected with auto, which now picks the YOLO model"
