"""Face restorers: the registry, loading (arch detection, safe formats), the dropdown and the cache.

Random-weight nets of the real architectures come from tests/fuse_restorer_models.py (saved once
per session by tests/conftest.py); the cache is checked on a small RestoreFormer.
"""

import os

import pytest
import torch

from fuse_fake_host import install_models_dir, put_model_file
from fuse_restorer_models import SAVED, build_net, case, needs_extra_arches, save_restorer

from comfyui_fuse.models import restorers
from comfyui_fuse.models.cache import ModelCache
from comfyui_fuse.models.restorers import RESTORERS, RestorerSpec, load_face_restorer, load_restorer, restorer_from_descriptor, restorer_options
from comfyui_fuse.models.store import ModelStore


@pytest.mark.parametrize(
    "arch, takes_fidelity, non_commercial, package",
    [case("GFPGAN", False, False, "spandrel"), case("RestoreFormer", False, False, "spandrel"), case("CodeFormer", True, True, "spandrel_extra_arches")],
)
def test_registry_describes_each_restorer(arch, takes_fidelity, non_commercial, package):
    spec = RESTORERS[arch]
    assert (spec.input_size, spec.scale, spec.takes_fidelity, spec.package) == (512, 1, takes_fidelity, package)
    assert ("NON-COMMERCIAL" in spec.licence) == non_commercial, f"{arch} licence note is wrong: {spec.licence!r}"
    assert spec.installed, f"{package} should be installed in the test environment"
    with pytest.raises(ValueError, match="already registered"):
        RESTORERS.register(spec)


def test_registry_keeps_the_order_messages_name():
    assert list(RESTORERS) == ["GFPGAN", "RestoreFormer", "CodeFormer"]
    assert restorers.RESTORER_NAMES == "GFPGAN, RestoreFormer, CodeFormer"


@pytest.mark.parametrize("arch, extension", [case(arch, extension) for arch, extension in SAVED])
def test_load_restorer_detects_the_architecture(saved_restorers, arch, extension):
    state, paths = saved_restorers[arch]
    restorer = load_restorer(paths[extension])
    assert restorer.spec.arch_id == arch, f"{paths[extension]} was detected as {restorer.spec.arch_id}"
    assert not restorer.net.training, "a loaded restorer must be in eval mode"
    loaded = restorer.net.state_dict()
    for key in list(state)[:: max(len(state) // 12, 1)]:
        assert torch.equal(loaded[key].cpu(), state[key]), f"weight {key} did not survive the {extension} round trip"


def test_restorer_from_descriptor_accepts_face_models_only(saved_restorers):
    import spandrel
    from spandrel.architectures.Compact import Compact

    face = spandrel.ModelLoader().load_from_state_dict(saved_restorers["RestoreFormer"][0])  # as the host's loader does
    assert restorer_from_descriptor(face).spec.arch_id == "RestoreFormer"
    upscaler = spandrel.ModelLoader().load_from_state_dict(Compact(num_feat=8, num_conv=2, upscale=2).state_dict())
    with pytest.raises(ValueError, match=r"upscale_model must be a face restoration model \(GFPGAN, RestoreFormer, CodeFormer\), but got Compact"):
        restorer_from_descriptor(upscaler)
    with pytest.raises(TypeError, match="upscale_model must be a spandrel ImageModelDescriptor"):
        restorer_from_descriptor(torch.nn.Identity())


class NotAStateDict:
    pass


def test_load_restorer_rejects_unsafe_unknown_and_unsupported_files(tmp_path):
    from spandrel.architectures.Compact import Compact

    pickled = tmp_path / "evil.pth"
    torch.save({"params": NotAStateDict()}, pickled)
    with pytest.raises(ValueError, match="evil.pth could not be loaded: it is not a plain weights file") as refused:
        load_restorer(str(pickled))
    assert "weights_only" not in str(refused.value), "never suggest loading with weights_only off"
    upscaler = tmp_path / "upscaler.pth"
    torch.save(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), upscaler)
    with pytest.raises(ValueError, match=r"must hold a face restoration model \(GFPGAN, RestoreFormer, CodeFormer\)"):
        load_restorer(str(upscaler))
    with pytest.raises(ValueError, match=r"must be \.pth, \.pt or \.safetensors"):
        load_restorer(str(tmp_path / "model.onnx"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_restorer(str(tmp_path / "missing.pth"))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt.safetensors"):
        load_restorer(str(corrupt))


@pytest.mark.parametrize(
    "content, message",
    [
        ({1: torch.zeros(1)}, r"model file 'odd.pth' must map parameter names \(text\) to tensors, but has keys such as 1 \(int\)"),
        ({"params_ema": {2.5: torch.zeros(1)}}, r"but \['params_ema'\] has keys such as 2.5 \(float\)"),
    ],
    ids=["int-keys", "nested-float-keys"],
)
def test_state_dicts_with_keys_that_are_not_text_are_refused(tmp_path, content, message):
    torch.save(content, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match=message):
        load_restorer(str(tmp_path / "odd.pth"))


def test_an_incomplete_gfpgan_file_says_so(saved_restorers, tmp_path):
    state, _ = saved_restorers["GFPGAN"]
    names = list(state)
    torch.save({"params_ema": {name: state[name] for name in names[: len(names) // 2]}}, tmp_path / "GFPGANv1.4.pth")
    with pytest.raises(ValueError, match=r"model file 'GFPGANv1.4.pth' must hold a complete GFPGAN model, but loading its tensors failed \(.*Missing key.*\); the file is incomplete or not a GFPGAN model: download it again"):
        load_restorer(str(tmp_path / "GFPGANv1.4.pth"))


@needs_extra_arches
def test_a_codeformer_file_without_extra_arches_says_what_to_install(saved_restorers, monkeypatch):
    monkeypatch.setattr(RestorerSpec, "installed", property(lambda spec: spec.arch_id != "CodeFormer"))
    with pytest.raises(ValueError, match="needs the spandrel_extra_arches package"):
        load_restorer(saved_restorers["CodeFormer"][1][".safetensors"])


def test_the_dropdown_lists_the_folder_or_offers_none(tmp_path):
    store = ModelStore(str(tmp_path))
    assert restorer_options(store) == ["none"], "an empty folder offers 'none'"
    with pytest.raises(ValueError, match="model must name a face restorer in models/facerestore_models, but the folder has none"):
        load_face_restorer("none", store)
    put_model_file(tmp_path, "facerestore_models", "GFPGANv1.4.pth")
    put_model_file(tmp_path, "facerestore_models", "notes.txt")
    assert restorer_options(store) == ["GFPGANv1.4.pth"], "only .pth / .pt / .safetensors files are listed"
    with pytest.raises(ValueError, match="model must be a file name inside the facerestore_models model folder"):
        load_face_restorer("../GFPGANv1.4.pth", store)


@pytest.fixture
def counted_loads(monkeypatch):
    """A fresh restorer cache, and the paths load_restorer has read since."""
    monkeypatch.setattr(restorers, "_cache", ModelCache(size=1))
    reads = []
    real_load = restorers.load_restorer

    def counting_load(path):
        reads.append(path)
        return real_load(path)

    monkeypatch.setattr(restorers, "load_restorer", counting_load)
    return reads


def test_a_restorer_is_loaded_once_until_its_file_changes(tmp_path, monkeypatch, counted_loads):
    store = install_models_dir(monkeypatch, tmp_path)
    state = build_net("RestoreFormer").state_dict()
    path = save_restorer(state, put_model_file(tmp_path, "facerestore_models", "RestoreFormer_tiny.pth"))
    first = load_face_restorer("RestoreFormer_tiny.pth", store)
    assert load_face_restorer("RestoreFormer_tiny.pth", store) is first, "a re-run with the unchanged file must reuse the loaded restorer"
    assert len(counted_loads) == 1, f"the file must be read once, but was read {len(counted_loads)} times"

    status = os.stat(path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    touched = load_face_restorer("RestoreFormer_tiny.pth", store)
    assert touched is not first and len(counted_loads) == 2, "a new modification time must reload the file"

    mtime = os.stat(path).st_mtime_ns
    torch.save(state, path)  # the bare state dict: the same weights in a file of another size
    os.utime(path, ns=(mtime, mtime))
    assert os.stat(path).st_size != status.st_size and os.stat(path).st_mtime_ns == mtime
    resized = load_face_restorer("RestoreFormer_tiny.pth", store)
    assert resized is not touched and len(counted_loads) == 3, "a new size with the same modification time must reload the file"
    assert load_face_restorer("RestoreFormer_tiny.pth", store) is resized and len(counted_loads) == 3
