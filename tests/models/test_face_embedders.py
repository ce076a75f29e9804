"""ArcFace on onnxruntime: alignment, preprocessing, loading, options, and the buffalo_l layout end to end."""

import os

import cv2
import numpy as np
import pytest

from fuse_fake_host import FakeModelFolders
from fuse_insightface_models import arcface_onnx, landmark_3d68_onnx

from comfyui_fuse.media import synthetic
from comfyui_fuse.models.face_detectors import detect_faces, detector_options, load_face_detector
from comfyui_fuse.models.face_embedders import (
    ARCFACE_TEMPLATE_112,
    ArcFaceEmbedder,
    FaceEmbedderLoadError,
    alignment_affines,
    box_landmarks,
    embedder_options,
    load_face_embedder,
    resolve_embedder_option,
)
from comfyui_fuse.models.face_landmarks import landmarker_options
from comfyui_fuse.analysis.analyze import characters_from_images


def similarity(scale: float, angle_deg: float, shift) -> np.ndarray:
    angle = np.radians(angle_deg)
    return np.array([[scale * np.cos(angle), -scale * np.sin(angle), shift[0]], [scale * np.sin(angle), scale * np.cos(angle), shift[1]]])


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def test_alignment_puts_the_landmarks_on_the_arcface_template():
    landmarks = apply(similarity(2.5, 20, (300, 150)), ARCFACE_TEMPLATE_112)
    affine = alignment_affines(np.array([[0, 0, 1, 1]]), landmarks[None])[0]
    np.testing.assert_allclose(apply(affine, landmarks), ARCFACE_TEMPLATE_112, atol=1e-9, err_msg="the five points must land on the template")


def test_alignment_without_landmarks_uses_the_box():
    xyxy = np.array([[100.0, 50.0, 300.0, 250.0], [10.0, 10.0, 60.0, 60.0]])
    landmarks = np.stack([apply(similarity(1, 0, (0, 0)), ARCFACE_TEMPLATE_112) + 200, np.full((5, 2), np.nan)])
    affines = alignment_affines(xyxy, landmarks)
    np.testing.assert_allclose(apply(affines[1], box_landmarks(xyxy[1:])[0]), ARCFACE_TEMPLATE_112, atol=20, err_msg="a row with NaN landmarks is aligned by its box")
    assert np.isfinite(affines).all()


def test_aligned_crop_shows_the_face_points_at_the_template():
    frame = np.zeros((400, 600, 3), np.uint8)
    landmarks = apply(similarity(3.0, -15, (250, 120)), ARCFACE_TEMPLATE_112)
    for x, y in np.round(landmarks).astype(int):
        cv2.circle(frame, (int(x), int(y)), 6, (255, 255, 255), -1)
    embedder = ArcFaceEmbedder("test", lambda blob: np.ones((len(blob), 4)), batched=True, dimension=4)
    crop = embedder.align(frame, np.zeros((1, 4)), landmarks[None])[0]
    for x, y in ARCFACE_TEMPLATE_112:
        assert crop[int(round(y)), int(round(x))].min() > 200, f"the template point ({x:.0f}, {y:.0f}) should show a white dot"


def test_the_network_gets_rgb_scaled_to_minus_one_one_nchw():
    blobs = []

    def infer(blob):
        blobs.append(blob)
        return np.tile([3.0, 4.0], (len(blob), 1))

    embedder = ArcFaceEmbedder("test", infer, batched=True, dimension=2)
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[...] = (255, 0, 51)
    vectors = embedder.embed(frame, np.array([[50.0, 50.0, 150.0, 150.0]]))
    blob = blobs[0]
    assert blob.shape == (1, 3, 112, 112) and blob.dtype == np.float32
    np.testing.assert_allclose(blob[0, :, 56, 56], [1.0, -1.0, (51 - 127.5) / 127.5], atol=1e-6, err_msg="channels must be R, G, B as (x - 127.5) / 127.5")
    np.testing.assert_allclose(vectors, [[0.6, 0.8]], err_msg="embeddings are L2-normalised")


@pytest.fixture(scope="module")
def buffalo_l(tmp_path_factory, build_scrfd_onnx):
    """A models/insightface folder in the buffalo_l layout with random-weight models."""
    folder = tmp_path_factory.mktemp("insightface")
    pack = folder / "buffalo_l"
    pack.mkdir()
    build_scrfd_onnx(pack / "det_10g.onnx")
    arcface_onnx(pack / "w600k_r50.onnx")
    landmark_3d68_onnx(pack / "1k3d68.onnx")
    arcface_onnx(folder / "arcface_batch1.onnx", batch=1)
    files = sorted(os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/") for root, _, names in os.walk(folder) for name in names)
    return folder, files


def insightface(folder, files) -> FakeModelFolders:
    """The insightface model folder holding `files` in `folder`."""
    return FakeModelFolders({"insightface": files}, directory=folder)


def test_each_model_of_the_pack_is_offered_where_it_belongs(buffalo_l):
    folder, files = buffalo_l
    models = insightface(folder, files)
    assert embedder_options(models) == ["auto", "none", "insightface/arcface_batch1.onnx", "insightface/buffalo_l/w600k_r50.onnx"]
    assert [o for o in detector_options(models) if o.startswith("insightface/")] == ["insightface/buffalo_l/det_10g.onnx"]
    assert landmarker_options(models) == ["auto", "none", "insightface/buffalo_l/1k3d68.onnx"]
    assert resolve_embedder_option("auto", insightface(folder, [])) is None, "auto without a recogniser means no embedder"
    assert resolve_embedder_option("none", models) is None
    with pytest.raises(ValueError, match="embedder must be one of 'auto', 'none' or a listed model"):
        resolve_embedder_option("w600k_r50.onnx", models)


def test_a_random_arcface_gives_unit_512_vectors_batched_or_not(buffalo_l):
    folder, files = buffalo_l
    batched = load_face_embedder("insightface/buffalo_l/w600k_r50.onnx", insightface(folder, files))
    single = load_face_embedder("insightface/arcface_batch1.onnx", insightface(folder, files))
    assert (batched.batched, single.batched, batched.dimension) == (True, False, 512)
    faces = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    a, b = batched.embed_aligned(faces), single.embed_aligned(faces)
    assert a.shape == (3, 512) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5, err_msg="the same weights must give the same embeddings one by one and in a batch")
    assert load_face_embedder("auto", insightface(folder, files)) is single, "auto takes the first file and the cache returns the loaded model"


@pytest.mark.parametrize("file, message", [("buffalo_l/det_10g.onnx", "input has shape .1, 3, 'height', 'width'., not"), ("buffalo_l/1k3d68.onnx", "input has shape .'None', 3, 192, 192., not")])
def test_other_models_of_the_pack_are_refused_as_embedders(buffalo_l, file, message):
    folder, files = buffalo_l
    with pytest.raises(FaceEmbedderLoadError, match=message):
        load_face_embedder(f"insightface/{file}", insightface(folder, files))


def test_a_corrupt_file_is_a_load_error(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(FaceEmbedderLoadError, match="not a valid ONNX model"):
        load_face_embedder("insightface/broken.onnx", insightface(tmp_path, ["broken.onnx"]))


def test_buffalo_l_detector_and_recogniser_run_together_on_real_faces(buffalo_l):
    """SCRFD finds (random) faces with landmarks, ArcFace embeds them, references become characters."""
    folder, files = buffalo_l
    detector = load_face_detector("insightface/buffalo_l/det_10g.onnx", insightface(folder, files))
    embedder = load_face_embedder("insightface/buffalo_l/w600k_r50.onnx", insightface(folder, files))
    frames = synthetic.render(synthetic.demo_scene(frame_count=2))
    faces = detect_faces(detector, frames, score_threshold=0.5)
    assert faces.landmarks is not None, "det_10g-shaped models give five landmarks"
    on_frame = faces.in_frame(0)
    vectors = embedder.embed(frames[0], on_frame.xyxy, on_frame.landmarks)
    assert vectors.shape == (len(on_frame), 512)
    sprites = synthetic.face_sprites()
    images = [sprites[0].pixels, sprites[0].pixels.copy(), sprites[2].pixels]
    characters = characters_from_images(images, ["alice", "alice", "bob"], embedder, detector)
    assert characters.names == ("alice", "bob") and characters.reference_count == (2, 1)
    assert characters.embedding.shape == (2, 512)
