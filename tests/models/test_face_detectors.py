"""The detector registry (options, auto order, loading, cache) and the detect_faces loop."""

import os

import numpy as np
import pytest
import torch

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.models import face_detectors
from comfyui_fuse.models.face_detectors import (
    DETECTORS,
    HAAR_OPTION,
    MTCNN_OPTION,
    DetectorLoadError,
    detect_faces,
    detector_options,
    load_face_detector,
    resolve_detector_option,
    sampled_frame_indices,
)
from comfyui_fuse.models.registry import ModelBackend
from comfyui_fuse.models.store import ModelStore
from comfyui_fuse.core.types import FaceDetections

YOLO_FILES = ["face_yolov8n.pt", "hand_yolov8s.pt", "sub/face_yolov8m.onnx"]
INSIGHTFACE_FILES = ["antelopev2/scrfd_10g_bnkps.onnx", "buffalo_l/1k3d68.onnx", "buffalo_l/det_10g.onnx", "buffalo_l/w600k_r50.onnx", "inswapper_128.onnx"]
NO_FILES = FakeModelFolders()


def folders(yolo_files=(), insightface_files=()) -> FakeModelFolders:
    return FakeModelFolders({"ultralytics_bbox": yolo_files, "insightface": insightface_files})


def pretend_mtcnn(monkeypatch, installed: bool) -> None:
    """Pretend facenet_pytorch is (not) installed."""
    monkeypatch.setattr("comfyui_fuse.models.detector_mtcnn.mtcnn_available", lambda: installed)


@pytest.fixture(params=[False, True], ids=["without_mtcnn", "with_mtcnn"])
def mtcnn_installed(request, monkeypatch) -> bool:
    pretend_mtcnn(monkeypatch, request.param)
    return request.param


def test_options_list_auto_files_then_builtins(mtcnn_installed):
    options = detector_options(folders(YOLO_FILES, INSIGHTFACE_FILES))
    expected = (
        ["auto", "yolo/face_yolov8n.pt", "yolo/hand_yolov8s.pt", "yolo/sub/face_yolov8m.onnx"]
        + ["insightface/antelopev2/scrfd_10g_bnkps.onnx", "insightface/buffalo_l/det_10g.onnx"]  # detectors only
        + ([MTCNN_OPTION] if mtcnn_installed else [])
        + [HAAR_OPTION]
    )
    assert options == expected


def test_options_without_model_files(mtcnn_installed):
    assert detector_options(NO_FILES) == ["auto"] + ([MTCNN_OPTION] if mtcnn_installed else []) + [HAAR_OPTION]


@pytest.mark.parametrize(
    "yolo_files, insightface_files, mtcnn, expected",
    [
        (YOLO_FILES, INSIGHTFACE_FILES, True, ("yolo", "face_yolov8n.pt")),
        (["hand_yolov8s.pt", "person_yolov8m-seg.pt", "face_yolov8m.pt"], [], True, ("yolo", "face_yolov8m.pt")),  # never a hand model
        (["hand_yolov8s.pt"], INSIGHTFACE_FILES, True, ("insightface", "antelopev2/scrfd_10g_bnkps.onnx")),
        (["hand_yolov8s.pt"], ["buffalo_l/w600k_r50.onnx"], True, ("mtcnn", None)),
        ([], [], False, ("haar", None)),
    ],
)
def test_auto_prefers_yolo_face_then_insightface_then_mtcnn_then_haar(monkeypatch, yolo_files, insightface_files, mtcnn, expected):
    pretend_mtcnn(monkeypatch, mtcnn)
    backend, file = resolve_detector_option("auto", folders(yolo_files, insightface_files))
    assert (backend.id, file) == expected


@pytest.mark.parametrize(
    "option, expected",
    [
        ("yolo/face_yolov8n.pt", ("yolo", "face_yolov8n.pt")),
        ("yolo/sub/dir/face.onnx", ("yolo", "sub/dir/face.onnx")),
        ("insightface/buffalo_l/det_10g.onnx", ("insightface", "buffalo_l/det_10g.onnx")),
        (HAAR_OPTION, ("haar", None)),
        (MTCNN_OPTION, ("mtcnn", None)),
    ],
)
def test_resolve_named_options(option, expected):
    backend, file = resolve_detector_option(option)
    assert (backend.id, file) == expected


@pytest.mark.parametrize("option, error", [("retinaface", ValueError), ("yolo/", ValueError), ("haar", ValueError), (3, TypeError)])
def test_unknown_options_are_refused(option, error):
    with pytest.raises(error, match="detector must be"):
        resolve_detector_option(option)


def test_backend_ids_are_unique():
    with pytest.raises(ValueError, match="must be unique"):
        DETECTORS.register(ModelBackend(id="haar", load=lambda *a: None, option="another haar"))


def test_missing_model_file_names_the_file_and_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'face_yolov8n.pt' was not found in .*ultralytics/bbox"):
        load_face_detector("yolo/face_yolov8n.pt", ModelStore(str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=r"'yolo/face_yolov8n.pt' was not found .* ultralytics_bbox model folder"):
        load_face_detector("yolo/face_yolov8n.pt", FakeModelFolders(directory=tmp_path))


def test_model_folders_get_the_folder_name_and_file():
    models = folders(["face_yolov8n.pt"], ["buffalo_l/det_10g.onnx"])
    with pytest.raises(FileNotFoundError):
        load_face_detector("auto", models)
    assert models.resolved == [("ultralytics_bbox", "face_yolov8n.pt")]


def test_loaded_detectors_are_cached_until_the_file_changes(tmp_path, build_scrfd_onnx):
    path = build_scrfd_onnx(tmp_path / "det_10g.onnx")
    models = FakeModelFolders(directory=tmp_path)
    first = load_face_detector("insightface/det_10g.onnx", models)
    assert load_face_detector("insightface/det_10g.onnx", models) is first, "a re-run must not reload the model"
    status = os.stat(path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    assert load_face_detector("insightface/det_10g.onnx", models) is not first, "a changed file must be reloaded"


def test_haar_is_cached_and_named(monkeypatch):
    pretend_mtcnn(monkeypatch, False)
    detector = load_face_detector(HAAR_OPTION, NO_FILES)
    assert detector.name == HAAR_OPTION
    assert load_face_detector(HAAR_OPTION, NO_FILES) is detector
    assert load_face_detector("auto", NO_FILES) is detector, "auto without model files is the same cached Haar cascade"


def test_mtcnn_without_facenet_pytorch_says_how_to_get_it(monkeypatch):
    pretend_mtcnn(monkeypatch, False)
    with pytest.raises(DetectorLoadError, match="pip install facenet-pytorch"):
        face_detectors.load_face_detector(MTCNN_OPTION, NO_FILES)


@pytest.mark.parametrize(
    "before, after, changed",
    [
        ({}, {"ultralytics_bbox": ["face_yolov8n.pt"]}, True),  # a face model put in the folder later
        ({}, {"ultralytics_bbox": ["hand_yolov8s.pt"]}, False),  # auto never picks a hand model
        ({"ultralytics_bbox": ["face_yolov8n.pt"]}, {"ultralytics_bbox": ["face_yolov8n.pt"], "insightface": ["buffalo_l/det_10g.onnx"]}, False),  # YOLO still first
        ({}, {"insightface": ["buffalo_l/w600k_r50.onnx"]}, False),  # a recogniser is no detector
    ],
)
def test_the_auto_fingerprint_changes_with_what_auto_would_load(tmp_path, monkeypatch, before, after, changed):
    pretend_mtcnn(monkeypatch, False)
    for files in before.get("ultralytics_bbox", []) + before.get("insightface", []):
        (tmp_path / files.rsplit("/", 1)[-1]).write_bytes(b"weights")
    for files in after.get("ultralytics_bbox", []) + after.get("insightface", []):
        (tmp_path / files.rsplit("/", 1)[-1]).write_bytes(b"weights")
    first = DETECTORS.fingerprint("auto", FakeModelFolders(before, directory=tmp_path))
    second = DETECTORS.fingerprint("auto", FakeModelFolders(after, directory=tmp_path))
    assert (first != second) == changed, f"auto fingerprint before {first!r}, after {second!r}"
    assert DETECTORS.fingerprint("auto", FakeModelFolders(after, directory=tmp_path)) == second, "an unchanged folder gives the same fingerprint"


class ScriptedDetector:
    """Returns given faces per frame; frame i is recognised by its pixel value i."""

    name = "scripted"

    def __init__(self, faces_by_frame=None, landmarks=False):
        self.faces_by_frame = faces_by_frame or {}
        self.landmarks = landmarks
        self.batches = []

    def detect_batch(self, frames_rgb_uint8, score_threshold=0.5):
        assert frames_rgb_uint8.dtype == np.uint8 and frames_rgb_uint8.shape[-1] == 3
        indices = [int(frame[0, 0, 0]) for frame in frames_rgb_uint8]
        self.batches.append(indices)
        results = []
        for index in indices:
            rows = self.faces_by_frame.get(index, [])
            xyxy = np.array([row[:4] for row in rows], np.float32).reshape(-1, 4)
            score = np.array([row[4] for row in rows], np.float32)
            landmarks = np.repeat(xyxy[:, None, :2], 5, axis=1) if self.landmarks else None
            results.append((xyxy, score, landmarks))
        return results


def numbered_frames(count: int, height: int = 40, width: int = 60) -> np.ndarray:
    """(count,H,W,3) uint8 frames whose pixels all hold the frame index."""
    return np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None, None], (count, height, width, 3)).copy()


def test_detect_faces_clips_filters_and_keeps_landmarks():
    detector = ScriptedDetector(
        {
            0: [(10, 10, 30, 30, 0.9), (-5, -5, 20, 50, 0.8)],  # the second is clipped to (0, 0, 20, 40)
            1: [(5, 5, 15, 15, 0.9), (5, 5, 40, 40, 0.3)],  # too small (10 px < 16), below the threshold
            2: [(50, 20, 90, 60, 0.7), (30, 30, 20, 20, 0.99)],  # clipped to 10 px wide: too small; inverted
        },
        landmarks=True,
    )
    faces = detect_faces(detector, numbered_frames(3), score_threshold=0.5, min_face_size=16)
    assert isinstance(faces, FaceDetections)
    assert faces.frame.tolist() == [0, 0]
    np.testing.assert_allclose(faces.xyxy, [[10, 10, 30, 30], [0, 0, 20, 40]])
    np.testing.assert_allclose(faces.score, [0.9, 0.8])
    assert faces.landmarks.shape == (2, 5, 2)
    np.testing.assert_allclose(faces.landmarks[1, 0], [-5, -5], err_msg="landmarks are not clipped")
    assert faces.detector == "scripted" and faces.frame_size == (40, 60) and faces.frame_count == 3
    assert faces.sampled_frames is None


def test_no_face_anywhere_is_an_empty_result_not_an_error():
    faces = detect_faces(ScriptedDetector(), numbered_frames(4))
    assert len(faces) == 0 and faces.frame_count == 4 and faces.frame_size == (40, 60)
    assert faces.landmarks is None and faces.sampled_frames is None


@pytest.mark.parametrize(
    "frame_count, detect_every, expected",
    [(10, 1, list(range(10))), (10, 3, [0, 3, 6, 9]), (10, 4, [0, 4, 8, 9]), (1, 5, [0]), (5, 100, [0, 4]), (0, 2, [])],
)
def test_sampled_frame_indices(frame_count, detect_every, expected):
    assert sampled_frame_indices(frame_count, detect_every).tolist() == expected


def test_detect_every_runs_on_the_stride_and_marks_the_sampled_frames():
    detector = ScriptedDetector({4: [(0, 0, 20, 20, 0.9)], 5: [(0, 0, 20, 20, 0.9)], 9: [(0, 0, 30, 30, 0.9)]})
    faces = detect_faces(detector, numbered_frames(10), detect_every=4, batch_size=2)
    assert detector.batches == [[0, 4], [8, 9]], "frames 0, 4, 8 and the last, two per call"
    assert faces.sampled_frames.tolist() == [0, 4, 8, 9]
    assert faces.frame.tolist() == [4, 9], "frame 5 was never looked at"
    assert faces.is_sampled.tolist() == [True, False, False, False, True, False, False, False, True, True]


def test_detect_every_with_no_face_still_marks_the_sampled_frames():
    faces = detect_faces(ScriptedDetector(), numbered_frames(7), detect_every=3)
    assert len(faces) == 0 and faces.sampled_frames.tolist() == [0, 3, 6]


def test_progress_adds_up_to_the_frame_count_and_interrupts_are_checked_per_batch():
    steps, interrupts = [], []
    detect_faces(ScriptedDetector(), numbered_frames(10), detect_every=3, batch_size=3, on_progress=steps.append, check_interrupt=lambda: interrupts.append(1))
    assert sum(steps) == 10, f"progress steps {steps} must cover the 10 frames"
    assert len(interrupts) == 2, "sampled frames 0, 3, 6, 9 in batches of 3: two batches"


def test_an_interrupt_stops_detection():
    detector = ScriptedDetector()

    def interrupt():
        if detector.batches:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_faces(detector, numbered_frames(10), batch_size=4, check_interrupt=interrupt)
    assert detector.batches == [[0, 1, 2, 3]]


def test_torch_float_frames_reach_the_detector_as_the_same_uint8_frames():
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 8, 10, 3), dtype=np.uint8)
    seen = []

    class Recorder(ScriptedDetector):
        def detect_batch(self, frames_rgb_uint8, score_threshold=0.5):
            seen.append(frames_rgb_uint8.copy())
            return [(np.zeros((0, 4)), np.zeros(0), None)] * len(frames_rgb_uint8)

    images = torch.from_numpy(frames).float() / 255
    rgba = torch.cat([images, torch.ones(3, 8, 10, 1)], dim=-1)
    for batch in (frames, images, rgba):
        seen.clear()
        detect_faces(Recorder(), batch, min_face_size=0, batch_size=2)
        np.testing.assert_array_equal(np.concatenate(seen), frames)
    assert images.shape == (3, 8, 10, 3), "the input must not be changed"


@pytest.mark.parametrize(
    "frames, error, message",
    [
        (torch.zeros(0, 32, 32, 3), ValueError, "images must hold at least one frame"),
        (torch.zeros(32, 32, 3), ValueError, r"images must be a 4D \[B,H,W,3\] RGB batch"),
        (torch.zeros(2, 32, 32, 1), ValueError, r"images must be a 4D \[B,H,W,3\] RGB batch"),
        (torch.zeros(2, 3, 32, 32), ValueError, r"images must be a 4D \[B,H,W,3\] RGB batch"),
        (np.zeros((2, 32, 32, 3), np.int32), TypeError, "images must be float 0..1 or uint8"),
        ([[[[0, 0, 0]]]], TypeError, "images must be a torch.Tensor or np.ndarray"),
        (torch.full((2, 8, 8, 3), 200.0), ValueError, r"images must hold float pixels in 0..1 .* up to 200; these look like 0..255 pixels: divide them by 255"),
        (np.full((2, 8, 8, 3), 255.0, np.float32), ValueError, "these look like 0..255 pixels"),
        (torch.zeros(3, 8, 8, 3).index_fill_(0, torch.tensor([2]), float("nan")), ValueError, "images must hold finite pixel values, but frame 2 holds NaN or inf"),
        (torch.zeros(9, 8, 8, 3).index_fill_(0, torch.tensor([8]), float("inf")), ValueError, "but frame 8 holds NaN or inf"),
    ],
    ids=["empty", "3d", "one-channel", "channels-first", "int32", "list", "0-255-torch", "0-255-numpy", "nan-frame", "inf-in-a-later-batch"],
)
def test_bad_images_are_refused_with_the_input_named(frames, error, message):
    with pytest.raises(error, match=message):
        detect_faces(ScriptedDetector(), frames)


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"score_threshold": 1.5}, "score_threshold must be a number in"),
        ({"score_threshold": float("nan")}, "score_threshold must be a number in"),  # NaN compares false with both bounds
        ({"min_face_size": -1}, "min_face_size must be a number >= 0"),
        ({"detect_every": 0}, "detect_every must be an int >= 1"),
        ({"detect_every": 1.5}, "detect_every must be an int >= 1"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"score_threshold": float("nan")}, "score_threshold must be a number in"),
        ({"min_face_size": float("nan")}, "min_face_size must be a number >= 0"),
        ({"min_face_size": float("inf")}, "min_face_size must be a number >= 0"),
    ],
)
def test_bad_parameters_are_refused(parameters, message):
    """NaN compares false with every bound, so it passed range checks and silently found no face."""
    with pytest.raises(ValueError, match=message):
        detect_faces(ScriptedDetector(), numbered_frames(2), **parameters)


class RecordingShots:
    """Stands in for media.shots.ShotDetector: records the frame ranges it is fed."""

    def __init__(self):
        self.ranges = []

    def feed(self, frames_bhwc, start, stop):
        self.ranges.append((start, stop))

    def finish(self):
        return np.array([5])


def test_the_shot_detector_sees_every_frame_in_the_same_pass_and_its_cuts_are_kept():
    shots = RecordingShots()
    faces = detect_faces(ScriptedDetector(), numbered_frames(10), detect_every=4, batch_size=2, shot_detector=shots)
    assert shots.ranges == [(0, 5), (5, 10)], "frames skipped by detect_every must still reach the shot detector, in order"
    assert faces.cuts.tolist() == [5]
    assert detect_faces(ScriptedDetector(), numbered_frames(4)).cuts is None, "no shot detector: shots were not looked for"


def test_real_cuts_come_through_detect_faces():
    from comfyui_fuse.media.shots import ShotDetector
    from comfyui_fuse.media.synthetic import textured_background

    frames = np.stack([textured_background(72, 128, 1)] * 20 + [textured_background(72, 128, 2)] * 20)
    assert detect_faces(ScriptedDetector(), frames, shot_detector=ShotDetector()).cuts.tolist() == [20]
