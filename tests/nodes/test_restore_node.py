"""FUSERestoreFaces: declaration, a run on a random-weight RestoreFormer file, the UPSCALE_MODEL path."""

import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
from comfyui_fuse.nodes import restore


def tiny_restoreformer() -> torch.nn.Module:
    from spandrel.architectures.RestoreFormer import RestoreFormer

    torch.manual_seed(0)
    return RestoreFormer(n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), num_res_blocks=1, z_channels=32, resolution=512, attn_resolutions=(16,), head_size=8).eval()


def make_plan(count: int, size: int) -> CropPlan:
    affine = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (count, 1, 1))
    return CropPlan((FaceSequence(1, np.arange(count), affine, (size, size)),), (size, size), count, Fraction(25), np.zeros((count, 16, 16, 3), np.uint8))


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A FUSE_MODELS_DIR with one random-weight RestoreFormer in facerestore_models."""
    folder = tmp_path / "facerestore_models"
    folder.mkdir()
    torch.save(tiny_restoreformer().state_dict(), folder / "RestoreFormer_tiny.pth")
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    return folder


def test_node_is_declared_for_comfyui(models_dir):
    node = restore.FUSERestoreFaces
    types = node.INPUT_TYPES()
    assert set(types["required"]) == {"crops", "crop_plan", "model", "fidelity", "strength", "temporal_smoothing", "batch_size"}
    assert set(types["optional"]) == {"upscale_model"}
    for name, (_, options) in {**types["required"], **types["optional"]}.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert types["required"]["model"][0] == ["RestoreFormer_tiny.pth"], "the model combo lists models/facerestore_models"
    assert node.RETURN_TYPES == ("IMAGE",) and len(node.OUTPUT_TOOLTIPS) == 1
    assert node.CATEGORY == "FUSE/restore" and "NON-COMMERCIAL" in node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))
    assert restore.NODE_CLASS_MAPPINGS == {"FUSERestoreFaces": node}
    assert restore.NODE_DISPLAY_NAME_MAPPINGS == {"FUSERestoreFaces": "FUSE Restore Faces"}


def test_an_empty_folder_offers_none_and_asks_for_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    assert restore.FUSERestoreFaces.INPUT_TYPES()["required"]["model"][0] == ["none"]
    with pytest.raises(ValueError, match="model must name a face restorer in models/facerestore_models"):
        restore.FUSERestoreFaces().restore(torch.rand(2, 64, 64, 3), make_plan(2, 64), model="none")


def test_restore_runs_the_model_file_and_leaves_the_input_alone(models_dir, monkeypatch):
    steps = []
    monkeypatch.setattr(restore.host, "progress_callback", lambda total: steps.append)
    crops = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    before = crops.clone()
    (restored,) = restore.FUSERestoreFaces().restore(crops, make_plan(2, 64), model="RestoreFormer_tiny.pth", strength=1.0, temporal_smoothing=0.5, batch_size=2)
    assert torch.equal(crops, before), "the node must not mutate its input IMAGE"
    assert restored.shape == crops.shape and restored.dtype == torch.float32 and restored.device.type == "cpu"
    assert (restored - crops).abs().mean() > 0.01, "a random-weight restorer should change the crops"
    assert sum(steps) == 2, f"progress should count the crops, but got {steps}"
    (blended,) = restore.FUSERestoreFaces().restore(crops, make_plan(2, 64), model="RestoreFormer_tiny.pth", strength=0.0)
    assert torch.equal(blended, crops), "strength 0 must give the crops back"


def test_upscale_model_input_must_be_a_face_restorer(models_dir):
    import spandrel
    from spandrel.architectures.Compact import Compact

    upscaler = spandrel.ModelLoader().load_from_state_dict(Compact(num_feat=8, num_conv=2, upscale=2).state_dict())
    with pytest.raises(ValueError, match=r"upscale_model must be a face restoration model \(.*\), but got Compact"):
        restore.FUSERestoreFaces().restore(torch.rand(1, 64, 64, 3), make_plan(1, 64), model="RestoreFormer_tiny.pth", upscale_model=upscaler)
    face = spandrel.ModelLoader().load_from_state_dict(tiny_restoreformer().state_dict())
    (restored,) = restore.FUSERestoreFaces().restore(torch.rand(1, 64, 64, 3), make_plan(1, 64), model="none", upscale_model=face)
    assert restored.shape == (1, 64, 64, 3), "a face restorer from the host's loader is used instead of the combo"


def test_restore_runs_again_when_the_model_file_is_replaced(models_dir):
    first = restore.FUSERestoreFaces.IS_CHANGED(crops=None, crop_plan=None, model="RestoreFormer_tiny.pth", fidelity=0.5)
    assert restore.FUSERestoreFaces.IS_CHANGED(model="RestoreFormer_tiny.pth") == first, "an unchanged file: ComfyUI may reuse the result"
    status = (models_dir / "RestoreFormer_tiny.pth").stat()
    os.utime(models_dir / "RestoreFormer_tiny.pth", ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))  # a newer copy of the file
    assert restore.FUSERestoreFaces.IS_CHANGED(model="RestoreFormer_tiny.pth") != first, "a replaced model file must run the node again"
    assert restore.FUSERestoreFaces.IS_CHANGED(model="none", upscale_model=None) == "", "a connected upscale_model replaces the file"
