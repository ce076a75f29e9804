"""The model folders: listing, resolving a name inside its folder, file stamps, fingerprints."""

import os

import pytest

from fuse_fake_host import put_model_file

from comfyui_fuse.models.store import MODEL_FOLDERS, MODEL_SUBDIRS, ModelStore, check_model_name, file_fingerprint, file_stamp, list_files, models_root, resolve


def test_every_model_folder_has_a_subdirectory_and_extensions():
    assert set(MODEL_FOLDERS) == set(MODEL_SUBDIRS) == {"ultralytics_bbox", "insightface", "facerestore_models", "lipsync", "syncnet"}
    assert MODEL_SUBDIRS["ultralytics_bbox"] == os.path.join("ultralytics", "bbox"), "shared with the Impact Pack's folder"


def test_files_are_listed_relative_sorted_and_filtered_by_extension(tmp_path):
    store = ModelStore(str(tmp_path))
    for name in ("face_yolov8n.pt", "sub/face_yolov8m.ONNX", "readme.txt", "a/b/hand.pt"):
        put_model_file(tmp_path, "ultralytics_bbox", name)
    assert store.files("ultralytics_bbox") == ["a/b/hand.pt", "face_yolov8n.pt", "sub/face_yolov8m.ONNX"]
    assert store.files("insightface") == [], "a missing folder has no files"
    assert list_files(str(tmp_path / "ultralytics" / "bbox")) == ["a/b/hand.pt", "face_yolov8n.pt", "readme.txt", "sub/face_yolov8m.ONNX"], "no extensions: every file"


def test_the_root_is_fuse_models_dir_else_models_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    assert models_root() == str(tmp_path) and ModelStore().root == str(tmp_path)
    monkeypatch.delenv("FUSE_MODELS_DIR")
    monkeypatch.chdir(tmp_path)
    assert ModelStore().dirs("lipsync") == [os.path.join(str(tmp_path), "models", "lipsync")]


def test_path_finds_a_file_or_names_the_folder(tmp_path):
    store = ModelStore(str(tmp_path))
    path = put_model_file(tmp_path, "insightface", "buffalo_l/det_10g.onnx")
    assert store.path("insightface", "buffalo_l/det_10g.onnx") == str(path)
    with pytest.raises(FileNotFoundError, match=r"model file 'w600k_r50.onnx' was not found in .*insightface; put it there or set FUSE_MODELS_DIR"):
        store.path("insightface", "w600k_r50.onnx")


@pytest.mark.parametrize(
    "name, error",
    [
        ("../secret.pt", ValueError), ("sub/../../secret.pt", ValueError), ("..", ValueError), ("/etc/passwd", ValueError),
        ("sub//face.pt", ValueError),  # what "yolo//etc/passwd" leaves after the prefix: an empty part
        ("./face.pt", ValueError), ("", ValueError), (None, TypeError),
    ],
)
def test_names_that_could_leave_the_folder_are_refused(tmp_path, name, error):
    with pytest.raises(error, match="model must be a file name"):
        resolve(str(tmp_path), name, "lipsync")
    with pytest.raises(error, match="model must be a file name .*lipsync model folder"):
        ModelStore(str(tmp_path)).path("lipsync", name)
    with pytest.raises(error, match="lipsync model folder"):
        check_model_name("lipsync", name)


@pytest.mark.parametrize("name, parts", [("wav2lip.pth", ["wav2lip.pth"]), ("a/b.pth", ["a", "b.pth"]), ("a..b.pth", ["a..b.pth"])])
def test_names_inside_the_folder_resolve_below_it(tmp_path, name, parts):
    assert resolve(str(tmp_path), name, "lipsync") == os.path.join(str(tmp_path), *parts)
    assert check_model_name("lipsync", name) == parts


def test_the_stamp_and_fingerprint_change_when_the_file_is_replaced(tmp_path):
    store = ModelStore(str(tmp_path))
    assert "FileNotFoundError" in file_fingerprint(store, "lipsync", "wav2lip.pth"), "a missing file is described, not raised"
    path = put_model_file(tmp_path, "lipsync", "wav2lip.pth", b"1234")
    stamp, fingerprint = file_stamp(str(path)), file_fingerprint(store, "lipsync", "wav2lip.pth")
    assert stamp == (str(path), os.stat(path).st_mtime_ns, 4)
    os.utime(path, ns=(stamp[1], stamp[1] + 10**9))
    assert file_stamp(str(path)) != stamp and file_fingerprint(store, "lipsync", "wav2lip.pth") != fingerprint
    assert file_fingerprint(store, "lipsync", None) is None, "a value the host does not tell (a linked input) has no fingerprint"
