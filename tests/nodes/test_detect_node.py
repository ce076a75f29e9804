"""FUSE Face Detector node, run against a fake host (no ComfyUI)."""

import os

import numpy as np
import pytest
import torch

from fuse_fake_host import FakeModelFolders, install_models_dir, put_model_file

from comfyui_fuse.media import synthetic
from comfyui_fuse.models.face_detectors import HAAR_OPTION
from comfyui_fuse.nodes import detect, host
from comfyui_fuse.core.types import FaceDetections

YOLO_FILES = ["face_yolov8n.pt", "hand_yolov8s.pt"]
INSIGHTFACE_FILES = ["buffalo_l/det_10g.onnx", "buffalo_l/w600k_r50.onnx"]


class FakeHost:
    """Stands in for nodes/host.py: model folders, a progress bar, interrupts, the device."""

    def __init__(self, files=None):
        self.models = FakeModelFolders(files)
        self.progress_totals, self.progress_steps, self.interrupt_checks = [], [], 0

    def progress_callback(self, total):
        self.progress_totals.append(total)
        return self.progress_steps.append

    def check_interrupt(self):
        self.interrupt_checks += 1

    def install(self, monkeypatch):
        for name in ("progress_callback", "check_interrupt"):
            monkeypatch.setattr(host, name, getattr(self, name))
        monkeypatch.setattr(host, "model_store", lambda: self.models)
        monkeypatch.setattr(host, "torch_device", lambda: torch.device("cpu"))
        return self


@pytest.fixture
def fake_host(monkeypatch) -> FakeHost:
    return FakeHost({"ultralytics_bbox": YOLO_FILES, "insightface": INSIGHTFACE_FILES}).install(monkeypatch)


def test_node_declaration(fake_host):
    node = detect.FUSEFaceDetector
    required = node.INPUT_TYPES()["required"]
    assert list(required) == ["images", "detector", "score_threshold", "min_face_size", "detect_every", "batch_size"]
    for name, (_, options) in required.items():
        assert options.get("tooltip"), f"input {name} has no tooltip"
    options, settings = required["detector"]
    assert options[0] == "auto" and settings["default"] == "auto"
    assert options[1:3] == ["yolo/face_yolov8n.pt", "yolo/hand_yolov8s.pt"]
    assert "insightface/buffalo_l/det_10g.onnx" in options and "insightface/buffalo_l/w600k_r50.onnx" not in options
    assert options[-1] == HAAR_OPTION
    assert "zero-download" in settings["tooltip"] and "low quality" in settings["tooltip"]
    assert required["score_threshold"][1]["default"] == 0.5 and required["min_face_size"][1]["default"] == 16
    assert required["detect_every"][1]["default"] == 1 and required["batch_size"][1]["default"] == 8
    assert node.RETURN_TYPES == ("FUSE_FACES",) and len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_NAMES) == 1
    assert node.CATEGORY == "FUSE/detect" and callable(getattr(node(), node.FUNCTION)) and node.DESCRIPTION
    assert detect.NODE_CLASS_MAPPINGS == {"FUSEFaceDetector": node}
    assert detect.NODE_DISPLAY_NAME_MAPPINGS == {"FUSEFaceDetector": "FUSE Face Detector"}


def test_node_detects_faces_with_haar_reporting_progress(fake_host):
    scene = synthetic.Scene(5, (200, 280), [synthetic.linear_path(5, (20, 30, 120, 130), (150, 50, 260, 160))], [0])
    images = torch.from_numpy(synthetic.render(scene)).float() / 255
    before = images.clone()
    (faces,) = detect.FUSEFaceDetector().detect(images, HAAR_OPTION, 0.5, 16, 2, 2)
    assert isinstance(faces, FaceDetections)
    assert faces.detector == HAAR_OPTION and faces.frame_count == 5 and faces.frame_size == (200, 280)
    assert faces.sampled_frames.tolist() == [0, 2, 4]
    assert sorted(set(faces.frame.tolist())) == [0, 2, 4], "Haar finds the astronaut on every sampled frame"
    assert fake_host.progress_totals == [5] and sum(fake_host.progress_steps) == 5
    assert fake_host.interrupt_checks == 2, "sampled frames 0, 2, 4 in batches of 2"
    assert torch.equal(images, before), "the node must not change its input"


def test_auto_resolves_files_through_the_host(fake_host):
    with pytest.raises(FileNotFoundError, match="face_yolov8n.pt"):
        detect.FUSEFaceDetector().detect(torch.zeros(2, 32, 32, 3), "auto", 0.5, 16, 1, 8)
    assert fake_host.models.resolved == [("ultralytics_bbox", "face_yolov8n.pt")], "auto picks the YOLO face model, not the hand model"


def test_node_passes_its_inputs_to_the_core(fake_host, monkeypatch):
    calls = {}

    class Detector:
        name = "fake"

    def fake_load(option, models, device=None):
        calls["load"] = (option, models, device)
        return Detector()

    def fake_detect(detector, frames, **options):
        calls["detect"] = (detector, frames, options)
        return FaceDetections.empty(len(frames), tuple(frames.shape[1:3]), detector.name)

    monkeypatch.setattr(detect, "load_face_detector", fake_load)
    monkeypatch.setattr(detect, "detect_faces", fake_detect)
    images = torch.zeros(3, 16, 24, 3)
    (faces,) = detect.FUSEFaceDetector().detect(images, "insightface/buffalo_l/det_10g.onnx", 0.7, 20, 4, 16)
    assert calls["load"] == ("insightface/buffalo_l/det_10g.onnx", fake_host.models, torch.device("cpu"))
    detector, frames, options = calls["detect"]
    assert frames is images
    assert {k: options[k] for k in ("score_threshold", "min_face_size", "detect_every", "batch_size")} == {"score_threshold": 0.7, "min_face_size": 20, "detect_every": 4, "batch_size": 16}
    assert options["check_interrupt"] == host.check_interrupt and callable(options["on_progress"])
    assert len(faces) == 0


@pytest.mark.parametrize(
    "images, message",
    [(torch.zeros(0, 32, 32, 3), "images must hold at least one frame"), (torch.zeros(32, 32, 3), r"images must be a 4D \[B,H,W,3\]")],
)
def test_bad_images_raise_a_clear_error(fake_host, images, message):
    with pytest.raises(ValueError, match=message):
        detect.FUSEFaceDetector().detect(images, HAAR_OPTION, 0.5, 16, 1, 8)


@pytest.mark.parametrize(
    "score_threshold, min_face_size, images, message",
    [
        (float("nan"), 16, torch.zeros(2, 32, 32, 3), "score_threshold must be a number in"),
        (0.5, float("nan"), torch.zeros(2, 32, 32, 3), "min_face_size must be a number >= 0"),
        (0.5, 16, torch.full((2, 32, 32, 3), 128.0), "these look like 0..255 pixels"),
        (0.5, 16, None, "images must be a torch.Tensor or np.ndarray"),
    ],
    ids=["nan-score", "nan-size", "0-255-pixels", "no-images"],
)
def test_inputs_that_would_find_no_face_silently_are_refused(fake_host, score_threshold, min_face_size, images, message):
    with pytest.raises((ValueError, TypeError), match=message):
        detect.FUSEFaceDetector().detect(images, HAAR_OPTION, score_threshold, min_face_size, 1, 8)


def test_no_face_is_an_empty_result(fake_host):
    background = np.stack([synthetic.textured_background(120, 160, seed) for seed in range(3)])
    (faces,) = detect.FUSEFaceDetector().detect(torch.from_numpy(background).float() / 255, HAAR_OPTION, 0.5, 16, 1, 8)
    assert len(faces) == 0 and faces.frame_count == 3


def test_a_cancel_stops_the_node(fake_host, monkeypatch):
    class Interrupted(Exception):
        pass

    def interrupt():
        raise Interrupted

    monkeypatch.setattr(host, "check_interrupt", interrupt)
    with pytest.raises(Interrupted):
        detect.FUSEFaceDetector().detect(torch.zeros(2, 32, 32, 3), HAAR_OPTION, 0.5, 16, 1, 8)


# A model added later: run with no model (Haar), put face_yolov8n.pt in models/ultralytics/bbox, run again:
# ComfyUI reuses its cached result unless IS_CHANGED says otherwise. IS_CHANGED gets the widget
# values (None for a linked input) and must change exactly when what the detector choice loads does.
WIDGETS = {"images": None, "score_threshold": 0.5, "min_face_size": 16, "detect_every": 1, "batch_size": 8}


def is_changed(detector):
    return detect.FUSEFaceDetector.IS_CHANGED(detector=detector, **WIDGETS)


def test_a_face_model_added_later_makes_auto_run_again(tmp_path, monkeypatch):
    monkeypatch.setattr("comfyui_fuse.models.detector_mtcnn.mtcnn_available", lambda: False)
    install_models_dir(monkeypatch, tmp_path)
    with_haar = is_changed("auto")
    assert is_changed("auto") == with_haar, "nothing changed: ComfyUI may reuse the result"
    assert with_haar == with_haar, "IS_CHANGED must equal itself (not NaN), or ComfyUI never reuses the result"
    put_model_file(tmp_path, "ultralytics_bbox", "hand_yolov8s.pt")
    assert is_changed("auto") == with_haar, "a hand model is never what auto picks"
    model = put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    with_yolo = is_changed("auto")
    assert with_yolo != with_haar, "auto now loads face_yolov8n.pt, so the node must run again"
    status = os.stat(model)
    os.utime(model, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    assert is_changed("auto") != with_yolo, "a replaced model file must run the node again"


def test_a_chosen_file_runs_again_when_it_changes_and_builtins_never_do(tmp_path, monkeypatch):
    install_models_dir(monkeypatch, tmp_path)
    model = put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    first = is_changed("yolo/face_yolov8n.pt")
    assert is_changed("yolo/face_yolov8n.pt") == first
    model.write_bytes(b"other weights of another size")
    assert is_changed("yolo/face_yolov8n.pt") != first, "a model file of another size must run the node again"
    assert is_changed(HAAR_OPTION) == is_changed(HAAR_OPTION), "the built-in Haar cascade never changes"
    model.unlink()
    assert isinstance(is_changed("yolo/face_yolov8n.pt"), str), "a missing file must not raise in IS_CHANGED (detect reports it)"


def test_a_linked_detector_input_always_runs():
    value = is_changed(None)  # ComfyUI passes None for a linked input
    assert value != value, "NaN (never equal to itself) when the choice is not known"


def test_cut_detection_inputs_come_last_and_optional(fake_host):
    inputs = detect.FUSEFaceDetector.INPUT_TYPES()
    assert list(inputs["optional"]) == ["detect_cuts", "cut_threshold", "min_shot_frames"], "new inputs go at the end, so saved workflows still load"
    assert inputs["optional"]["detect_cuts"][1]["default"] is True
    for name, (_, options) in inputs["optional"].items():
        assert options.get("tooltip"), f"input {name} has no tooltip"


def test_node_finds_the_cuts_in_the_same_pass(fake_host):
    shots = [np.stack([synthetic.textured_background(90, 160, seed)] * 10) for seed in (1, 2)]
    images = torch.from_numpy(np.concatenate(shots)).float() / 255
    (faces,) = detect.FUSEFaceDetector().detect(images, HAAR_OPTION, 0.5, 16, 1, 8)
    assert faces.cuts.tolist() == [10]
    (faces,) = detect.FUSEFaceDetector().detect(images, HAAR_OPTION, 0.5, 16, 1, 8, detect_cuts=False)
    assert faces.cuts is None
