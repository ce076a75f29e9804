"""Model names from workflows and the command line never reach a file outside the model folders."""

import sys
import types

import pytest
from fuse_cli_runner import run_cli

from comfyui_fuse.media import synthetic
from comfyui_fuse.media.video import write_video
from comfyui_fuse.nodes import host

REFUSED = "inside the .* model folder"


@pytest.fixture
def models(tmp_path, monkeypatch):
    """FUSE_MODELS_DIR=<tmp>/models with a model in each folder, and files beside and outside it."""
    root = tmp_path / "models"
    for relative in ("ultralytics/bbox/face.pt", "ultralytics/bbox/sub/face2.pt", "facerestore_models/GFPGANv1.4.pth", "lipsync/wav2lip.pth", "outside.pth"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"model")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.pt").write_bytes(b"not yours")
    monkeypatch.setenv("FUSE_MODELS_DIR", str(root))
    return root


@pytest.mark.parametrize(
    "folder, name",
    [
        ("ultralytics_bbox", "/etc/passwd"),  # what "yolo//etc/passwd" names
        ("ultralytics_bbox", "../../../outside/x.pt"),
        ("ultralytics_bbox", "sub/../../../../outside/x.pt"),
        ("facerestore_models", "../outside.pth"),
        ("lipsync", "../outside.pth"),
        ("lipsync", "./wav2lip.pth"),
        ("ultralytics_bbox", "sub//face2.pt"),
        ("ultralytics_bbox", ""),
    ],
)
def test_a_name_that_leaves_its_folder_is_refused(models, folder, name):
    with pytest.raises(ValueError, match=REFUSED) as error:
        host.model_path(folder, name)
    assert repr(name) in str(error.value), "the error must show the refused name"


@pytest.mark.parametrize("folder, name, relative", [("ultralytics_bbox", "face.pt", "ultralytics/bbox/face.pt"), ("ultralytics_bbox", "sub/face2.pt", "ultralytics/bbox/sub/face2.pt"), ("lipsync", "wav2lip.pth", "lipsync/wav2lip.pth")])
def test_names_inside_the_folder_resolve(models, folder, name, relative):
    assert host.model_path(folder, name) == str(models / relative)


def test_inside_comfyui_a_bad_name_never_reaches_folder_paths(models, monkeypatch):
    asked = []
    fake = types.SimpleNamespace(get_full_path=lambda folder, name: asked.append(name) or str(models / "outside.pth"), folder_names_and_paths={})
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    monkeypatch.setattr(host, "in_comfyui", lambda: True)
    with pytest.raises(ValueError, match=REFUSED):
        host.model_path("facerestore_models", "../outside.pth")
    assert asked == []
    assert host.model_path("facerestore_models", "GFPGANv1.4.pth") == str(models / "outside.pth"), "good names still go to ComfyUI"


@pytest.mark.parametrize("detector", ["yolo//etc/passwd", "yolo/../../../outside/x.pt", "insightface/../ultralytics/bbox/face.pt"])
def test_the_command_line_refuses_a_detector_outside_its_folder(models, tmp_path, detector):
    video = tmp_path / "clip.mp4"
    write_video(video, synthetic.render(synthetic.demo_scene(frame_count=2, frame_size=(64, 64))), 25)
    code, _, err = run_cli(["track", video, "--detector", detector, "--models-dir", models, "--out", tmp_path / "report.json"])
    assert code == 2, f"expected the user-error exit code 2, got {code}: {err}"
    assert "model folder" in err and "pick one of the listed models" in err, err
    assert not (tmp_path / "report.json").exists()


def test_the_restore_and_lipsync_nodes_refuse_a_model_outside_their_folder(models):
    from comfyui_fuse.nodes import lipsync, restore

    with pytest.raises(ValueError, match="inside the facerestore_models model folder"):
        restore.FUSERestoreFaces().restore(None, None, model="../outside.pth")
    with pytest.raises(ValueError, match="inside the lipsync model folder"):
        lipsync.FUSELipsync().lipsync(None, None, None, "../outside.pth")
