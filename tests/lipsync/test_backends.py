"""Loading lipsync checkpoints: the released layout (with and without "module."), safetensors,
strict loading, clear errors for files that are not Wav2Lip, and the cache of loaded models."""

import os

import pytest
import torch

from comfyui_fuse.lipsync import backends
from comfyui_fuse.lipsync.backends import REGISTRY, LipsyncArchitecture, UnsupportedLipsyncModel, load_lipsync_model, read_state_dict
from comfyui_fuse.models.cache import ModelCache


def run(model):
    with torch.inference_mode():
        return model.net(torch.zeros(2, 1, 80, 16), torch.full((2, 6, 96, 96), 0.5))


def test_released_layout_with_module_prefix_loads_strict_and_runs(wav2lip_checkpoint):
    path, net = wav2lip_checkpoint
    model = load_lipsync_model(str(path))
    assert model.architecture.id == "wav2lip" and model.face_size == 96 and model.mel_step == 16
    assert model.source == "wav2lip.pth"
    assert not model.net.training, "a loaded net is in eval mode"
    with torch.inference_mode():
        expected = net(torch.zeros(2, 1, 80, 16), torch.full((2, 6, 96, 96), 0.5))
    assert torch.allclose(run(model), expected, atol=1e-6), "loaded weights must reproduce the saved net"


def test_released_layout_without_prefix_loads(tmp_path, build):
    net = build.random_wav2lip(seed=1)
    path = tmp_path / "wav2lip_gan.pth"
    build.save_released_layout(net, path, prefix="")
    state = read_state_dict(str(path))
    assert set(state) == set(net.state_dict()), "keys come back without any prefix"
    assert run(load_lipsync_model(str(path))).shape == (2, 3, 96, 96)


def test_safetensors_loads(tmp_path, build):
    from safetensors.torch import save_file

    net = build.random_wav2lip(seed=2)
    path = tmp_path / "wav2lip.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    assert run(load_lipsync_model(str(path))).shape == (2, 3, 96, 96)


def test_a_checkpoint_that_is_not_wav2lip_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": {"conv_body_first.weight": torch.zeros(32, 3, 3, 3)}}, path)
    with pytest.raises(UnsupportedLipsyncModel, match=r"GFPGANv1.4.pth must be a lipsync checkpoint of a known architecture \(wav2lip\)"):
        load_lipsync_model(str(path))


def test_a_truncated_wav2lip_is_refused(tmp_path, build):
    state = build.random_wav2lip().state_dict()
    del state["output_block.0.conv_block.0.bias"]
    path = tmp_path / "broken.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(UnsupportedLipsyncModel, match="broken.pth must hold a complete wav2lip state_dict"):
        load_lipsync_model(str(path))


class Pickled:
    pass


@pytest.mark.parametrize(
    "write, fragment",
    [
        (lambda p: torch.save({"state_dict": Pickled()}, p), "bad.pth could not be loaded: it is not a plain weights file"),
        (lambda p: p.write_bytes(b"not a checkpoint"), "bad.pth could not be loaded: it is not a torch model file"),
        (lambda p: torch.save([torch.zeros(1)], p), "holds a list, not a state dict"),
        (lambda p: torch.save({1: torch.zeros(1)}, p), r"bad.pth must map parameter names \(text\) to tensors, but has keys such as 1 \(int\)"),
        (lambda p: torch.save({"state_dict": {(1, 2): torch.zeros(1)}}, p), r"keys such as \(1, 2\) \(tuple\)"),
    ],
    ids=["pickled-object", "garbage", "a-list", "int-keys", "tuple-keys"],
)
def test_unsafe_or_corrupt_files_are_refused(tmp_path, write, fragment):
    path = tmp_path / "bad.pth"
    write(path)
    with pytest.raises(UnsupportedLipsyncModel, match=fragment):
        load_lipsync_model(str(path))


def test_registry_rejects_a_duplicate_id():
    duplicate = LipsyncArchitecture("wav2lip", lambda sd: False, lambda sd: None, 96, 16, "BGR", "")
    with pytest.raises(ValueError, match="'wav2lip' is already registered"):
        REGISTRY.register(duplicate)


@pytest.fixture
def counted_reads(monkeypatch):
    """A fresh lipsync model cache, and the paths read_state_dict has read since."""
    monkeypatch.setattr(backends, "_cache", ModelCache(size=1))
    reads = []
    real_read = backends.read_state_dict

    def counting_read(path):
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(backends, "read_state_dict", counting_read)
    return reads


def test_an_unchanged_checkpoint_is_loaded_once(wav2lip_checkpoint, counted_reads):
    path, _ = wav2lip_checkpoint
    first = load_lipsync_model(str(path))
    second = load_lipsync_model(str(path))
    assert second is first, "a re-run with the same unchanged file must reuse the loaded model"
    assert counted_reads == [str(path)], f"the checkpoint must be read once, but was read {len(counted_reads)} times"


def test_a_replaced_checkpoint_is_loaded_again(tmp_path, build, counted_reads):
    path = tmp_path / "wav2lip.pth"
    build.save_released_layout(build.random_wav2lip(seed=3), path)
    first = load_lipsync_model(str(path))
    status = os.stat(path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    second = load_lipsync_model(str(path))
    assert second is not first and len(counted_reads) == 2, "a new modification time must reload the file"


@pytest.mark.parametrize("devices, reads", [(["cpu", "cpu"], 1), ([None, "cpu"], 2)], ids=["same-device", "other-device"])
def test_the_cache_is_per_device(wav2lip_checkpoint, counted_reads, devices, reads):
    path, _ = wav2lip_checkpoint
    for device in devices:
        load_lipsync_model(str(path), device=device)
    assert len(counted_reads) == reads, f"devices {devices} must read the file {reads} time(s)"


def test_a_failed_load_is_not_cached(tmp_path, counted_reads):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint")
    for _ in range(2):
        with pytest.raises(UnsupportedLipsyncModel):
            load_lipsync_model(str(path))
    assert len(counted_reads) == 2, "an error must not be remembered: fixing the file must not need a restart"
