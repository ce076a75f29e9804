"""nodes/host.py's model folders: ComfyUI's folder_paths inside ComfyUI, models/store.py outside."""

import os
import sys
import types

import pytest

from fuse_fake_host import put_model_file

from comfyui_fuse.models.store import ModelStore, list_files
from comfyui_fuse.nodes import host


def test_outside_comfyui_the_folders_are_a_store_below_fuse_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    assert isinstance(host.model_store(), ModelStore) and host.model_store().root == str(tmp_path)
    assert host.model_files("ultralytics_bbox") == ["face_yolov8n.pt"]
    assert host.model_path("ultralytics_bbox", "face_yolov8n.pt") == str(tmp_path / "ultralytics" / "bbox" / "face_yolov8n.pt")
    assert host.model_folder_dirs("lipsync") == [str(tmp_path / "lipsync")]
    with pytest.raises(ValueError, match="model must be a file name inside the ultralytics_bbox model folder"):
        host.model_path("ultralytics_bbox", "../../secret.pt")


def fake_folder_paths(models_dir) -> types.ModuleType:
    """The part of ComfyUI's folder_paths FUSE uses, over real directories (as in ComfyUI 0.3.64)."""
    module = types.ModuleType("folder_paths")
    module.models_dir = str(models_dir)
    module.folder_names_and_paths = {"ultralytics_bbox": ([str(models_dir / "impact")], {".pt"})}  # as another pack registered it

    def get_filename_list(folder):
        paths, extensions = module.folder_names_and_paths[folder]  # KeyError for an unknown folder, as ComfyUI
        return sorted({name for path in paths for name in list_files(path, tuple(extensions))})

    def get_full_path(folder, name):
        if folder not in module.folder_names_and_paths:
            return None
        name = os.path.relpath(os.path.join("/", name), "/")
        for path in module.folder_names_and_paths[folder][0]:
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        return None

    module.get_filename_list, module.get_full_path = get_filename_list, get_full_path
    return module


@pytest.fixture
def comfyui(tmp_path, monkeypatch):
    folder_paths = fake_folder_paths(tmp_path)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    monkeypatch.setattr(host, "in_comfyui", lambda: True)
    host.register_model_folders()
    return folder_paths


def test_inside_comfyui_the_folders_are_comfyuis(comfyui, tmp_path):
    paths, extensions = comfyui.folder_names_and_paths["ultralytics_bbox"]
    assert paths == [str(tmp_path / "impact"), str(tmp_path / "ultralytics" / "bbox")], "another pack's paths are kept, ours added"
    assert extensions == {".pt", ".onnx"}, "our extensions are added to the folder's"
    assert set(comfyui.folder_names_and_paths) == {"ultralytics_bbox", "insightface", "facerestore_models", "lipsync", "syncnet"}
    put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    assert isinstance(host.model_store(), host.ComfyModelFolders)
    assert host.model_files("ultralytics_bbox") == ["face_yolov8n.pt"]
    assert host.model_path("ultralytics_bbox", "face_yolov8n.pt") == str(tmp_path / "ultralytics" / "bbox" / "face_yolov8n.pt")
    with pytest.raises(FileNotFoundError, match=r"model file 'gone.pt' was not found in ultralytics_bbox .*; put it there and refresh the node"):
        host.model_path("ultralytics_bbox", "gone.pt")
    with pytest.raises(ValueError, match="model must be a file name inside the ultralytics_bbox model folder"):
        host.model_path("ultralytics_bbox", "../bbox/face_yolov8n.pt")
    assert host.model_files("not_a_folder") == []


@pytest.mark.parametrize(
    "fingerprints, expected",
    [(("a",), "a"), (("a", "b"), "a\nb"), ((), "")],
)
def test_is_changed_joins_fingerprints(fingerprints, expected):
    assert host.is_changed(*fingerprints) == expected


def test_is_changed_runs_every_time_when_a_value_is_unknown():
    value = host.is_changed("a", None)
    assert value != value, "NaN: ComfyUI never finds it equal to the last run's"
