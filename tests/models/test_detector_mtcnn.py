"""MTCNN through the optional facenet_pytorch package (skipped when it is not installed)."""

import numpy as np
import pytest

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.media import synthetic
from comfyui_fuse.models.face_detectors import MTCNN_OPTION, detect_faces, detector_options, load_face_detector

pytest.importorskip("facenet_pytorch", reason="facenet-pytorch is optional (it pins old torch); pip install facenet-pytorch to test MTCNN")


def test_mtcnn_is_offered_when_installed():
    assert MTCNN_OPTION in detector_options(FakeModelFolders())


def test_mtcnn_finds_real_faces_with_landmarks():
    frames_count = 4
    scene = synthetic.Scene(frames_count, (200, 280), [synthetic.linear_path(frames_count, (20, 30, 120, 130), (150, 50, 260, 160))], [0])
    detector = load_face_detector(MTCNN_OPTION, FakeModelFolders())
    faces = detect_faces(detector, synthetic.render(scene), batch_size=4)
    assert faces.landmarks is not None and faces.landmarks.shape == (len(faces), 5, 2)
    for frame in range(frames_count):
        found = faces.in_frame(frame)
        truth = scene.boxes[0][frame]
        assert len(found) >= 1, f"frame {frame}: MTCNN found no face"
        best = found.xyxy[np.argmax(found.score)]
        inter = np.clip(np.minimum(best[2:], truth[2:]) - np.maximum(best[:2], truth[:2]), 0, None).prod()
        union = np.prod(best[2:] - best[:2]) + np.prod(truth[2:] - truth[:2]) - inter
        assert inter / union >= 0.5, f"frame {frame}: best box {best} is off the face {truth}"
        eyes = found.landmarks[np.argmax(found.score), :2]
        assert eyes[0, 0] < eyes[1, 0], "the left eye (image left) comes first"
