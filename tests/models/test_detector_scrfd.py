"""SCRFD (insightface det_10g layout) on onnxruntime: decoding, letterbox mapping, NMS, loading."""

import numpy as np
import pytest

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.media import synthetic
from comfyui_fuse.models.detector_scrfd import ScrfdFaceDetector, anchor_centers, decode_scrfd_outputs
from comfyui_fuse.models.face_detectors import DetectorLoadError, detect_faces, load_face_detector

INPUT_HW = (64, 64)  # strides 8, 16, 32 -> 8x8, 4x4, 2x2 cells, 2 anchors each


def blank_outputs(landmarks: bool = True) -> list[np.ndarray]:
    """det_10g-ordered outputs for a 64x64 input, all scores 0."""
    rows = [8 * 8 * 2, 4 * 4 * 2, 2 * 2 * 2]
    outputs = [np.zeros((n, 1), np.float32) for n in rows] + [np.zeros((n, 4), np.float32) for n in rows]
    if landmarks:
        outputs += [np.zeros((n, 10), np.float32) for n in rows]
    return outputs


def outputs_with_one_face() -> list[np.ndarray]:
    """One face at stride 16, cell (row 1, column 2), anchor 1: row (1*4 + 2)*2 + 1 = 13.

    The anchor centre is (2*16, 1*16) = (32, 16). Distances (1, 0.5, 2, 1.5) strides -> box
    (32-16, 16-8, 32+32, 16+24) = (16, 8, 64, 40). Landmark offsets (k*0.25, -k*0.25) strides.
    """
    outputs = blank_outputs()
    outputs[1][13, 0] = 0.9
    outputs[4][13] = [1.0, 0.5, 2.0, 1.5]
    outputs[7][13] = np.array([[k * 0.25, -k * 0.25] for k in range(5)], np.float32).reshape(10)
    return outputs


EXPECTED_XYXY = [16, 8, 64, 40]
EXPECTED_LANDMARKS = [[32 + k * 4, 16 - k * 4] for k in range(5)]


def test_anchor_centers_run_over_cells_row_by_row_with_anchors_together():
    centers = anchor_centers((2, 3), stride=8, anchors=2)
    expected = [[0, 0], [0, 0], [8, 0], [8, 0], [16, 0], [16, 0], [0, 8], [0, 8], [8, 8], [8, 8], [16, 8], [16, 8]]
    np.testing.assert_array_equal(centers, expected)


def test_decode_hand_made_outputs_gives_the_exact_box_and_landmarks():
    xyxy, score, landmarks = decode_scrfd_outputs(outputs_with_one_face(), INPUT_HW, score_threshold=0.5)
    np.testing.assert_allclose(xyxy, [EXPECTED_XYXY])
    np.testing.assert_allclose(score, [0.9])
    np.testing.assert_allclose(landmarks, [EXPECTED_LANDMARKS])


def test_decode_does_not_depend_on_output_order():
    outputs = outputs_with_one_face()
    shuffled = [outputs[i] for i in (8, 0, 4, 2, 6, 1, 5, 3, 7)]
    xyxy, _, landmarks = decode_scrfd_outputs(shuffled, INPUT_HW, score_threshold=0.5)
    np.testing.assert_allclose(xyxy, [EXPECTED_XYXY])
    np.testing.assert_allclose(landmarks, [EXPECTED_LANDMARKS])


@pytest.mark.parametrize(
    "outputs, message",
    [
        (blank_outputs()[:3], "SCRFD outputs must be"),  # scores without boxes
        ([np.zeros((100, 1), np.float32), np.zeros((100, 4), np.float32)], "must have a multiple of 8x8 rows"),
        ([np.zeros((1, 512), np.float32)], "SCRFD outputs must be"),  # an ArcFace embedding
    ],
)
def test_decode_rejects_outputs_without_the_scrfd_layout(outputs, message):
    with pytest.raises(ValueError, match=message):
        decode_scrfd_outputs(outputs, INPUT_HW, score_threshold=0.5)


def test_detector_maps_the_face_back_to_source_pixels():
    """A 128x64 frame is scaled by 0.5 into the 64x64 input at the top-left: input (16,8,64,40) is (32,16,128,80)."""
    calls = []

    def infer(blob):
        calls.append(blob.copy())
        return outputs_with_one_face()

    detector = ScrfdFaceDetector("insightface/test.onnx", infer, INPUT_HW, batched=False, with_landmarks=True)
    frames = np.full((2, 64, 128, 3), 255, np.uint8)
    results = detector.detect_batch(frames, score_threshold=0.5)
    assert len(calls) == 2, "a model with 2D outputs runs one frame per call"
    assert calls[0].shape == (1, 3, 64, 64)
    np.testing.assert_allclose(calls[0][0, :, :32, :], (255 - 127.5) / 128, err_msg="the frame must fill the top of the input, normalised")
    np.testing.assert_allclose(calls[0][0, :, 32:, :], -127.5 / 128, err_msg="the padding below must be black")
    for xyxy, score, landmarks in results:
        np.testing.assert_allclose(xyxy, [[32, 16, 128, 80]])
        np.testing.assert_allclose(landmarks, [np.array(EXPECTED_LANDMARKS) * 2])


@pytest.fixture(scope="module")
def insightface_folder(tmp_path_factory, build_scrfd_onnx) -> str:
    """A models/insightface folder with SCRFD-shaped models (2D outputs like det_10g, batched, no landmarks)."""
    folder = tmp_path_factory.mktemp("insightface")
    (folder / "buffalo_l").mkdir()
    build_scrfd_onnx(folder / "buffalo_l" / "det_10g.onnx")
    build_scrfd_onnx(folder / "det_batched.onnx", batched=True)
    build_scrfd_onnx(folder / "det_no_landmarks.onnx", landmarks=False)
    return str(folder)


def load(folder: str, file: str):
    return load_face_detector(f"insightface/{file}", FakeModelFolders(directory=folder))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return synthetic.render(synthetic.demo_scene(frame_count=4, frame_size=(96, 128)))


@pytest.mark.parametrize("file, with_landmarks", [("buffalo_l/det_10g.onnx", True), ("det_batched.onnx", True), ("det_no_landmarks.onnx", False)])
def test_scrfd_onnx_loads_and_detects(insightface_folder, frames, file, with_landmarks):
    detector = load(insightface_folder, file)
    assert detector.input_hw == (640, 640), "a free input size means insightface's 640x640"
    faces = detect_faces(detector, frames, score_threshold=0.6, min_face_size=0, batch_size=3)
    assert len(faces) > 0, "the random-weight model scores some anchors above 0.6"
    assert (faces.score >= 0.6).all()
    assert (faces.landmarks is not None) == with_landmarks
    if with_landmarks:
        assert faces.landmarks.shape == (len(faces), 5, 2)
    for index, (xyxy, _, _) in enumerate(detector.detect_batch(frames, score_threshold=0.6)):
        overlaps = box_iou(xyxy, xyxy)[np.triu_indices(len(xyxy), 1)]  # before clipping to the frame
        assert (overlaps <= 0.4 + 1e-6).all(), f"frame {index}: NMS left boxes overlapping by IoU {overlaps.max():.2f}"


def test_batched_and_per_frame_models_agree_and_batch_their_calls(insightface_folder, frames, monkeypatch):
    per_frame, batched = load(insightface_folder, "buffalo_l/det_10g.onnx"), load(insightface_folder, "det_batched.onnx")
    assert not per_frame.batched and batched.batched
    calls = {"per_frame": 0, "batched": 0}
    for key, detector in (("per_frame", per_frame), ("batched", batched)):
        infer = detector._infer
        monkeypatch.setattr(detector, "_infer", lambda blob, infer=infer, key=key: calls.__setitem__(key, calls[key] + 1) or infer(blob))
    one = per_frame.detect_batch(frames, score_threshold=0.6)
    other = batched.detect_batch(frames, score_threshold=0.6)
    assert calls == {"per_frame": 4, "batched": 1}
    for (xyxy_a, score_a, landmarks_a), (xyxy_b, score_b, landmarks_b) in zip(one, other):
        np.testing.assert_allclose(xyxy_a, xyxy_b, atol=1e-3)
        np.testing.assert_allclose(score_a, score_b, atol=1e-6)
        np.testing.assert_allclose(landmarks_a, landmarks_b, atol=1e-3)


def test_a_model_that_is_not_a_detector_is_refused(tmp_path):
    """buffalo_l also holds w600k_r50.onnx (ArcFace: one (1,512) output); choosing it must say why it fails."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["683"])]
    graph = helper.make_graph(nodes, "arcface_shaped", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])], [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "w600k_r50.onnx"))
    with pytest.raises(DetectorLoadError, match="w600k_r50.onnx could not be loaded: it has 1 outputs"):
        load(str(tmp_path), "w600k_r50.onnx")


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all" * 40])
def test_corrupt_scrfd_file_raises_detector_load_error(tmp_path, content):
    (tmp_path / "det_10g.onnx").write_bytes(content)
    with pytest.raises(DetectorLoadError, match="det_10g.onnx could not be loaded"):
        load(str(tmp_path), "det_10g.onnx")
