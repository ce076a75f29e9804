"""Loading lipsync checkpoints: the released layout (with and without "module."), safetensors,
strict loading, and clear errors for files that are not Wav2Lip."""

import pytest
import torch

from comfyui_fuse.lipsync.backends import REGISTRY, LipsyncArchitecture, UnsupportedLipsyncModel, load_lipsync_model, read_state_dict


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
        (lambda p: torch.save({"state_dict": Pickled()}, p), "loadable with weights_only=True"),
        (lambda p: p.write_bytes(b"not a checkpoint"), "bad.pth must be a torch checkpoint"),
        (lambda p: torch.save([torch.zeros(1)], p), "must hold a state_dict of tensors"),
    ],
    ids=["pickled-object", "garbage", "a-list"],
)
def test_unsafe_or_corrupt_files_are_refused(tmp_path, write, fragment):
    path = tmp_path / "bad.pth"
    write(path)
    with pytest.raises(UnsupportedLipsyncModel, match=fragment):
        load_lipsync_model(str(path))


def test_registry_rejects_a_duplicate_id():
    duplicate = LipsyncArchitecture("wav2lip", lambda sd: False, lambda sd: None, 96, 16, "BGR", "")
    with pytest.raises(ValueError, match="'wav2lip' is already registered"):
        REGISTRY.add(duplicate)
