"""YOLO face detectors: safe .pt loading, .onnx, batching, decoding, filters, bad files.

The models are random-weight ultralytics yolov8n / yolov8n-pose nets built by tests/models/conftest.py.
"""

import logging
import os
import shutil

import numpy as np
import pytest
import torch

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.media import synthetic
from comfyui_fuse.models.detector_yolo import YoloLayout, decode_yolo_output, face_class_indices, load_ultralytics_checkpoint
from comfyui_fuse.models.face_detectors import DetectorLoadError, detect_faces, load_face_detector
from comfyui_fuse.core.types import FaceDetections

FRAME_HW = (96, 128)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return synthetic.render(synthetic.demo_scene(frame_count=5, frame_size=FRAME_HW))


def load(path) -> object:
    """Load through the public entry point, from the temporary ultralytics_bbox folder."""
    folder, file = os.path.split(path)
    return load_face_detector(f"yolo/{file}", FakeModelFolders(directory=folder))


def layout(**changes) -> YoloLayout:
    base = dict(face_classes=(0,), class_count=1, keypoints=None, end2end=False, imgsz=64, stride=32, fixed_input_hw=None, fixed_batch=None)
    return YoloLayout(**{**base, **changes})


@pytest.mark.parametrize(
    "model, with_landmarks",
    [("face.pt", False), ("face.onnx", False), ("face_batch2.onnx", False), ("pose.pt", True), ("pose.onnx", True)],
)
def test_yolo_models_load_and_detect(yolo_models, frames, model, with_landmarks):
    detector = load(yolo_models[model])
    faces = detect_faces(detector, torch.from_numpy(frames).float() / 255, score_threshold=0.05, min_face_size=0, batch_size=2)
    assert isinstance(faces, FaceDetections)
    assert faces.frame_count == 5 and faces.frame_size == FRAME_HW
    assert len(faces) > 0, "the random-weight model scores some anchors above 0.05; finding none means decoding lost them"
    assert faces.xyxy.dtype == np.float32 and faces.score.dtype == np.float32
    assert (faces.xyxy >= 0).all() and (faces.xyxy[:, [2, 3]] <= [FRAME_HW[1], FRAME_HW[0]]).all(), "boxes must be clipped to the frame"
    assert (faces.score >= 0.05).all() and (faces.score <= 1).all()
    assert faces.detector == f"yolo/{os.path.basename(yolo_models[model])}"
    if with_landmarks:
        assert faces.landmarks is not None and faces.landmarks.shape == (len(faces), 5, 2), "a 5-keypoint pose model's keypoints are the landmarks"
    else:
        assert faces.landmarks is None


@pytest.mark.parametrize(
    "model, frame_count, batch_size, expected_calls",
    [
        ("face.pt", 5, 2, 3),  # batches of 2, 2, 1: one network call each
        ("face.onnx", 5, 5, 1),
        ("face_batch2.onnx", 5, 3, 3),  # fixed batch 2: a batch of 3 takes two calls (the second padded), then 2 take one
    ],
)
def test_one_network_call_per_batch(yolo_models, frames, monkeypatch, model, frame_count, batch_size, expected_calls):
    detector = load(yolo_models[model])
    calls = []
    infer = detector._infer

    def counting_infer(blob):
        calls.append(blob.shape[0])
        return infer(blob)

    monkeypatch.setattr(detector, "_infer", counting_infer)
    detect_faces(detector, frames[:frame_count], score_threshold=0.05, batch_size=batch_size)
    assert len(calls) == expected_calls, f"expected {expected_calls} network calls, got batches of {calls}"


@pytest.mark.parametrize("model", ["pose.pt", "face.onnx"])
def test_a_batch_gives_the_same_faces_as_frame_by_frame(yolo_models, frames, model):
    detector = load(yolo_models[model])
    together = detector.detect_batch(frames, score_threshold=0.05)
    for index, (xyxy, score, landmarks) in enumerate(together):
        alone = detector.detect_batch(frames[index : index + 1], score_threshold=0.05)[0]
        np.testing.assert_allclose(xyxy, alone[0], atol=0.01, err_msg=f"frame {index} differs between batched and single runs")
        np.testing.assert_allclose(score, alone[1], atol=1e-4)


def test_threshold_and_min_size_keep_exactly_the_qualifying_faces(yolo_models, frames):
    detector = load(yolo_models["pose.pt"])
    loose = detect_faces(detector, frames, score_threshold=0.05, min_face_size=0)
    strict = detect_faces(detector, frames, score_threshold=0.3, min_face_size=30)
    shorter = np.minimum(loose.xyxy[:, 2] - loose.xyxy[:, 0], loose.xyxy[:, 3] - loose.xyxy[:, 1])
    expected = loose.select((loose.score >= 0.3) & (shorter >= 30))
    assert 0 < len(strict) < len(loose), f"the filters should keep some faces and drop others (kept {len(strict)} of {len(loose)})"
    assert len(strict) == len(expected), "a higher threshold must keep exactly the faces that score above it (NMS order is by score)"
    np.testing.assert_array_equal(strict.frame, expected.frame)
    for index in range(strict.frame_count):
        got = strict.in_frame(index)
        want = expected.in_frame(index)
        np.testing.assert_allclose(got.xyxy[np.argsort(-got.score)], want.xyxy[np.argsort(-want.score)], atol=1e-4)


def test_matches_ultralytics_own_predictor(yolo_models, frames):
    """Our letterbox, decoding and NMS give ultralytics' predictions (which clip boxes and keypoints)."""
    from ultralytics import YOLO

    detector = load(yolo_models["pose.onnx"])
    ours = detector.detect_batch(frames, score_threshold=0.05)
    # the reference run goes through ultralytics' own loader (weights_only switched off): acceptable only for this file we built.
    reference = YOLO(str(yolo_models["pose.onnx"]), task="pose").predict(list(frames[..., ::-1]), conf=0.05, iou=0.5, imgsz=160, verbose=False)
    height, width = FRAME_HW
    for index, ((xyxy, score, landmarks), result) in enumerate(zip(ours, reference)):
        order, reference_order = np.argsort(-score), np.argsort(-result.boxes.conf.numpy())
        clipped = np.clip(xyxy, 0, [width, height, width, height])
        clipped_landmarks = np.clip(landmarks, 0, [width, height])
        assert len(xyxy) == len(result.boxes), f"frame {index}: {len(xyxy)} faces, ultralytics found {len(result.boxes)}"
        np.testing.assert_allclose(clipped[order], result.boxes.xyxy.numpy()[reference_order], atol=0.05)
        np.testing.assert_allclose(score[order], result.boxes.conf.numpy()[reference_order], atol=1e-5)
        np.testing.assert_allclose(clipped_landmarks[order], result.keypoints.xy.numpy()[reference_order], atol=0.05)


@pytest.mark.parametrize("model", ["face", "pose"])
def test_pt_and_its_onnx_export_run_the_same_network(yolo_models, frames, model):
    """The safely loaded .pt computes what ultralytics' ONNX export of it computes.

    Raw outputs, not final faces: a random net's scores and overlaps sit so close to the thresholds
    that float rounding between the two runtimes can flip a face in or out.
    """
    from_pt, from_onnx = load(yolo_models[f"{model}.pt"]), load(yolo_models[f"{model}.onnx"])
    assert from_pt.input_hw(FRAME_HW) == from_onnx.input_hw(FRAME_HW) == (128, 160)
    blob = np.random.default_rng(0).random((2, 3, 128, 160), dtype=np.float32)
    np.testing.assert_allclose(from_pt._infer(blob), from_onnx._infer(blob), rtol=1e-3, atol=0.05)


def test_onnx_without_metadata_reads_its_layout_off_the_output(yolo_models, frames, tmp_path):
    import onnx

    model = onnx.load(str(yolo_models["pose.onnx"]))
    del model.metadata_props[:]
    path = tmp_path / "third_party_face.onnx"
    onnx.save(model, str(path))
    detector = load(path)
    assert detector.layout.keypoints == (5, 3), "4 + 1 class + 15 channels is a 5-keypoint face model"
    assert detector.layout.end2end is False
    faces = detect_faces(detector, frames[:2], score_threshold=0.05, min_face_size=0)
    assert faces.landmarks is not None


@pytest.mark.parametrize(
    "output, layout_changes, expected_xyxy, expected_score",
    [
        # raw head: (B, 4+nc, anchors) of cx, cy, w, h, score; anchor 1 is the face
        (np.array([[[10, 40], [10, 30], [4, 20], [4, 10], [0.1, 0.9]]], np.float32), {}, [[30, 25, 50, 35]], [0.9]),
        # two classes, the face is class 1: only its column counts
        (np.array([[[10, 40], [10, 30], [4, 20], [4, 10], [0.95, 0.1], [0.6, 0.2]]], np.float32), {"class_count": 2, "face_classes": (1,)}, [[8, 8, 12, 12]], [0.6]),
        # end-to-end head: (B, rows, 6) of x1, y1, x2, y2, score, class
        (np.array([[[1, 2, 11, 12, 0.7, 0], [5, 5, 9, 9, 0.2, 0], [0, 0, 4, 4, 0.99, 3]]], np.float32), {"end2end": True}, [[1, 2, 11, 12]], [0.7]),
    ],
)
def test_decode_yolo_output(output, layout_changes, expected_xyxy, expected_score):
    ((xyxy, score, landmarks),) = decode_yolo_output(output, layout(**layout_changes), 0.5)
    np.testing.assert_allclose(xyxy, expected_xyxy)
    np.testing.assert_allclose(score, expected_score, rtol=1e-6)
    assert landmarks is None


def test_decode_yolo_output_reads_five_keypoints_as_landmarks():
    keypoints = np.arange(15, dtype=np.float32).reshape(15, 1)  # (x, y, visibility) x 5, one anchor
    output = np.concatenate([np.array([[50], [50], [20], [20], [0.9]], np.float32), keypoints])[None]
    ((xyxy, score, landmarks),) = decode_yolo_output(output, layout(keypoints=(5, 3)), 0.5)
    assert landmarks.shape == (1, 5, 2)
    np.testing.assert_allclose(landmarks[0], keypoints.reshape(5, 3)[:, :2])


@pytest.mark.parametrize(
    "names, expected",
    [
        ({0: "face"}, (0,)),
        ({0: "person", 1: "Face", 2: "hand"}, (1,)),
        ({0: "face_front", 1: "face_side"}, (0, 1)),
        ({0: "0"}, (0,)),  # an unnamed single-class model: taken as a face model, with a warning
    ],
)
def test_face_class_indices(names, expected):
    assert face_class_indices(names, "model.pt") == expected


def test_a_multi_class_model_without_faces_is_refused():
    with pytest.raises(DetectorLoadError, match="none of them a face"):
        face_class_indices({0: "person", 1: "hand"}, "person_yolov8m.pt")


def test_a_single_non_face_class_warns(caplog):
    with caplog.at_level(logging.WARNING):
        face_class_indices({0: "hand"}, "hand_yolov8n.pt")
    assert "not 'face'" in caplog.text


class _RunsCode:
    """Unpickling this calls open(marker, "w"): what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "face_evil.pt"
    torch.save({"model": _RunsCode(str(marker))}, path)
    with pytest.raises(DetectorLoadError, match="io.open"):
        load_ultralytics_checkpoint(str(path))
    assert not marker.exists(), "the checkpoint's code ran"


def _truncated(source, target):
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "file_name, make, message",
    [
        ("face_random.pt", lambda src, dst: dst.write_bytes(np.random.default_rng(0).bytes(4096)), "not a torch model file"),
        ("face_random.onnx", lambda src, dst: dst.write_bytes(np.random.default_rng(0).bytes(4096)), "not a valid ONNX model"),
        ("face_truncated.pt", _truncated, "could not be loaded"),
        ("face_weights_only.pt", lambda src, dst: torch.save({"model": {"w": torch.zeros(2)}}, dst), "holds no model"),
        ("face_tensor.pt", lambda src, dst: torch.save(torch.zeros(3), dst), "not an ultralytics checkpoint dict"),
        ("face_empty.onnx", lambda src, dst: dst.write_bytes(b""), "could not be loaded"),
    ],
)
def test_bad_model_files_raise_detector_load_error(yolo_models, tmp_path, file_name, make, message):
    path = tmp_path / file_name
    make(yolo_models["face.pt"], path)
    with pytest.raises(DetectorLoadError, match=message) as error:
        load(path)
    assert file_name in str(error.value), "the error must name the file"


def test_unsupported_suffix_is_refused(tmp_path, yolo_models):
    path = tmp_path / "face.engine"
    shutil.copy(yolo_models["face.pt"], path)
    with pytest.raises(DetectorLoadError, match=".pt or .onnx"):
        load(path)


def test_checkpoint_pickle_globals_are_only_layers(yolo_models):
    """The allow-list sees what a real ultralytics save names: layer classes, nothing callable."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(str(yolo_models["pose.pt"]))
    assert names and all(name.startswith(("torch.nn.modules.", "ultralytics.nn.")) for name in names), names
    checkpoint = load_ultralytics_checkpoint(str(yolo_models["pose.pt"]))
    assert isinstance(checkpoint["model"], torch.nn.Module)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("torch.nn.modules.conv.Conv2d", "torch.nn.modules.conv.Conv2d"),
        ("ultralytics.nn.modules.head.Detect", "ultralytics.nn.modules.head.Detect"),
        ("ultralytics.nn.modules.Conv", "ultralytics.nn.modules.conv.Conv"),  # 8.0.x: classes named from the package
        ("ultralytics.nn.modules.block.Silence", "torch.nn.modules.linear.Identity"),  # removed class, YOLOv9e
        ("ultralytics.nn.tasks.YOLOv10DetectionModel", "ultralytics.nn.tasks.DetectionModel"),
        ("ultralytics.yolo.utils.IterableSimpleNamespace", "ultralytics.utils.IterableSimpleNamespace"),  # moved module
        ("ultralytics.utils.loss.v8DetectionLoss", "ultralytics.utils.loss.v8DetectionLoss"),
        ("pathlib.PosixPath", None),  # plain data: safe_load rebuilds it as a pure path, not as a class
        ("posix.system", None),
        ("builtins.eval", None),
        ("ultralytics.nn.tasks.torch_safe_load", None),  # a function, not a layer class
        ("ultralytics.utils.downloads.attempt_download_asset", None),
        ("ultralytics.utils.loss.torch", None),  # a module imported there, not a class defined there
        ("torch.nn.modules.module.nonexistent", None),
    ],
)
def test_checkpoint_class_allow_list(name, expected):
    from comfyui_fuse.models.detector_yolo import ultralytics_class

    found = ultralytics_class(name)
    if expected is None:
        assert found is None, f"{name} must be refused, but resolved to {found!r}"
    else:
        assert found is not None and f"{found.__module__}.{found.__qualname__}" == expected


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"end2end": "True"}, True),  # YOLOv10 / YOLO26 heads
        ({"end2end": "False", "args": "{'batch': 1, 'nms': True}"}, True),  # exported with NMS inside
        ({"end2end": "False", "args": "{'batch': 1, 'nms': None}"}, False),
        ({}, None),  # no metadata: decided from the output shape
    ],
)
def test_onnx_output_layout_from_metadata(metadata, expected):
    from comfyui_fuse.models.detector_yolo import _onnx_end2end

    assert _onnx_end2end(metadata) is expected


@pytest.mark.parametrize("frame_hw, input_hw, top, left", [((720, 1280), (384, 640), 12, 0), ((1280, 720), (640, 384), 0, 12), ((480, 480), (640, 640), 0, 0)])
def test_frames_are_padded_to_the_stride_only_and_boxes_map_back_exactly(frame_hw, input_hw, top, left):
    """A network with a known output: one face at a known place in its input. 16:9 frames go in at
    640x384 (the long side at imgsz, the short side padded only up to the stride, half the padding
    on each side), and the box comes back in frame pixels exactly."""
    from comfyui_fuse.models.detector_yolo import YoloFaceDetector

    seen = []
    scale = 640 / max(frame_hw)
    face = np.array([200.0, 100.0, 400.0, 300.0], np.float32)  # frame pixels, xyxy

    def infer(blob):
        seen.append(blob.shape)
        output = np.zeros((len(blob), 5, 4), np.float32)  # (B, 4 + nc, anchors), boxes as xywh in input pixels
        x0, y0, x1, y1 = face * scale + np.array([left, top, left, top], np.float32)
        output[:, :, 0] = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.9]
        return output

    detector = YoloFaceDetector("yolo/known.pt", infer, layout(imgsz=640, stride=32))
    frames = np.zeros((3, *frame_hw, 3), np.uint8)
    found = detector.detect_batch(frames, score_threshold=0.5)
    assert seen == [(3, 3, *input_hw)], "one call for the batch, at the stride-padded size"
    for xyxy, score, landmarks in found:
        np.testing.assert_allclose(xyxy, face[None], atol=1e-4)
        np.testing.assert_allclose(score, [0.9])
