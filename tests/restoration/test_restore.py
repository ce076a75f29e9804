"""Face restorers: loading (arch detection, safe formats), calling the nets right, batching.

Random-weight nets are built from spandrel's real architecture classes at test time and saved as
.pth and .safetensors. spandrel's GFPGAN / CodeFormer loaders fix the full 512 configuration
(~86 M / ~68 M parameters, 10-20 s per forward on one CPU thread), so each runs ONE forward;
RestoreFormer reads its size from the weights and is built small. Batching, progress and the
[-1, 1] round trip are checked with a cheap stand-in for the net's call.
"""

import dataclasses
import importlib.util
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
from comfyui_fuse.restoration import restore as restorers
from comfyui_fuse.restoration.restore import RESTORERS, FaceRestorer, load_restorer, restore_face_sequences, restore_faces, restorer_from_descriptor
from comfyui_fuse.media.synthetic import face_sprites

# CodeFormer lives in spandrel_extra_arches (non-commercial licence), a test-only requirement
needs_extra_arches = pytest.mark.skipif(importlib.util.find_spec("spandrel_extra_arches") is None, reason="spandrel_extra_arches (CodeFormer) is not installed")


def case(arch, *values):
    """A parametrize case for arch, skipped for CodeFormer when its package is missing."""
    return pytest.param(arch, *values, marks=needs_extra_arches if arch == "CodeFormer" else ())


ARCHS = [case("GFPGAN"), case("RestoreFormer"), case("CodeFormer")]


def build_net(arch: str) -> torch.nn.Module:
    """A random-weight net of the real architecture, shaped so spandrel's loader can rebuild it."""
    torch.manual_seed(0)
    if arch == "GFPGAN":
        from spandrel.architectures.GFPGAN import GFPGAN

        return GFPGAN().eval()
    if arch == "RestoreFormer":
        from spandrel.architectures.RestoreFormer import RestoreFormer

        # six levels bring 512 down to the 16x16 latent the attention expects; 32 channels is the
        # fewest GroupNorm(32) allows; head_size 8 is what spandrel's loader assumes
        return RestoreFormer(n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), num_res_blocks=1, z_channels=32, resolution=512, attn_resolutions=(16,), head_size=8).eval()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    return CodeFormer(dim_embd=64, n_head=8, n_layers=1, codebook_size=64, connect_list=["32", "64"]).eval()


def face_crops(count: int, size: int) -> torch.Tensor:
    """(count,size,size,3) float32 crops of a real face, slightly shifted from row to row."""
    sprite = face_sprites()[0].pixels
    rows = []
    for index in range(count):
        shifted = np.roll(sprite, index, axis=1)
        rows.append(cv2.resize(shifted, (size, size), interpolation=cv2.INTER_AREA))
    return torch.from_numpy(np.stack(rows).astype(np.float32) / 255.0)


def identity_plan(lengths, size) -> CropPlan:
    """A plan of sequences with the given lengths, crops size x size (affines are irrelevant here)."""
    sequences, frame = [], 0
    for track, length in enumerate(lengths, start=1):
        affine = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (length, 1, 1))
        sequences.append(FaceSequence(track, np.arange(frame, frame + length), affine, (size, size)))
        frame += length
    return CropPlan(tuple(sequences), (size, size), frame, Fraction(25), np.zeros((frame, 16, 16, 3), np.uint8))


def stand_in(call, arch="RestoreFormer") -> FaceRestorer:
    """A restorer whose net call is `call(net, x, fidelity)` (a cheap stand-in for a real forward)."""
    return FaceRestorer(dataclasses.replace(RESTORERS[arch], call=call), torch.nn.Linear(1, 1), "stand-in")


# (arch, file format) pairs saved and loaded: both formats for the small net, one each for the big
# ones (300 MB files; the format path does not depend on the architecture)
SAVED = [("GFPGAN", ".pth"), ("CodeFormer", ".safetensors"), ("RestoreFormer", ".pth"), ("RestoreFormer", ".safetensors")]
INSTALLED = {spec.arch_id for spec in restorers.installed_restorers()}


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """arch -> (state_dict, {extension: path}), each net built once."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("facerestore_models")
    models = {}
    for arch, extension in SAVED:
        if arch not in INSTALLED:
            continue
        if arch not in models:
            models[arch] = ({k: v.contiguous() for k, v in build_net(arch).state_dict().items()}, {})
        state, paths = models[arch]
        paths[extension] = str(folder / f"{arch}{extension}")
        if extension == ".pth":
            torch.save({"params_ema": state}, paths[extension])  # the layout of the released GFPGAN / CodeFormer files
        else:
            save_file(state, paths[extension])
    return models


@pytest.fixture(scope="module")
def loaded_restorers(saved_models):
    """arch -> FaceRestorer loaded once from its first saved file."""
    return {arch: load_restorer(next(iter(paths.values()))) for arch, (_, paths) in saved_models.items()}


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
        restorers.register_restorer(spec)


@pytest.mark.parametrize("arch, extension", [case(arch, extension) for arch, extension in SAVED])
def test_load_restorer_detects_the_architecture(saved_models, loaded_restorers, arch, extension):
    state, paths = saved_models[arch]
    restorer = loaded_restorers[arch] if next(iter(paths)) == extension else load_restorer(paths[extension])
    assert restorer.spec.arch_id == arch, f"{paths[extension]} was detected as {restorer.spec.arch_id}"
    assert not restorer.net.training, "a loaded restorer must be in eval mode"
    loaded = restorer.net.state_dict()
    for key in list(state)[:: max(len(state) // 12, 1)]:
        assert torch.equal(loaded[key].cpu(), state[key]), f"weight {key} did not survive the {extension} round trip"


def _record_inputs(net, records):
    def hook(module, args, kwargs):
        records.append((args[0].detach().clone(), dict(kwargs)))

    return net.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("arch", ARCHS)
def test_real_net_gets_minus_one_to_one_at_512_and_output_maps_back(loaded_restorers, arch):
    restorer = loaded_restorers[arch]
    records, weights = [], []
    handles = [_record_inputs(restorer.net, records)]
    if arch == "CodeFormer":  # the fidelity weight must reach the fusion layers, not stop at forward()
        for block in restorer.net.fuse_convs_dict.values():
            handles.append(block.register_forward_pre_hook(lambda module, args, kwargs: weights.append(args[2] if len(args) > 2 else kwargs.get("w")), with_kwargs=True))
    crops = face_crops(1, 192)  # not 512: resized to the net's size and back
    try:
        restored = restore_faces(restorer, crops, fidelity=0.7, device="cpu")
    finally:
        for handle in handles:
            handle.remove()
    (x, kwargs), = records
    assert tuple(x.shape) == (1, 3, 512, 512), f"{arch} must get 512x512 input, but got {tuple(x.shape)}"
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.8 and x.max() > 0.8, f"{arch} input must span [-1, 1], but got {x.min():.3f}..{x.max():.3f}"
    assert restored.shape == crops.shape and restored.dtype == torch.float32
    assert torch.isfinite(restored).all() and restored.min() >= 0 and restored.max() <= 1, "output must be mapped back to 0..1"
    if arch == "GFPGAN":
        assert kwargs.get("randomize_noise") is False, "GFPGAN must use its stored noise, or every frame gets new noise"
    if arch == "CodeFormer":
        assert weights and all(w == pytest.approx(0.7) for w in weights), f"CodeFormer fusion layers got weights {weights}, expected the fidelity 0.7"


@pytest.mark.parametrize(
    "net_output, expected",
    [
        (lambda x: x, "input"),  # a net that returns its input gives the crops back
        (lambda x: torch.full_like(x, -1.0), 0.0),
        (lambda x: torch.full_like(x, 1.0), 1.0),
        (lambda x: torch.full_like(x, 3.0), 1.0),  # clamped
    ],
)
def test_pixels_go_in_as_minus_one_to_one_and_come_back(net_output, expected):
    seen = []

    def call(net, x, fidelity):
        seen.append(x.clone())
        return net_output(x)

    crops = face_crops(2, 512)
    restored = restore_faces(stand_in(call), crops)
    assert torch.allclose(seen[0], crops.permute(0, 3, 1, 2) * 2 - 1, atol=1e-6), "the net must receive crops * 2 - 1"
    target = crops if expected == "input" else torch.full_like(crops, expected)
    assert torch.allclose(restored, target, atol=1e-6), f"(y + 1) / 2 should give {expected}, max error {(restored - target).abs().max():.2e}"


def test_batches_progress_interrupt_and_alpha():
    sizes, steps, checks = [], [], []

    def call(net, x, fidelity):
        sizes.append(len(x))
        return -x  # an inverting "restorer": easy to check per row

    crops = torch.cat([face_crops(5, 512), torch.rand(5, 512, 512, 1)], dim=-1)
    restored = restore_faces(stand_in(call), crops, batch_size=2, on_progress=steps.append, check_interrupt=lambda: checks.append(1))
    assert sizes == [2, 2, 1] and steps == [2, 2, 1] and len(checks) == 3, f"batches {sizes}, progress {steps}, interrupt checks {len(checks)}"
    assert torch.equal(restored[..., 3], crops[..., 3]), "the alpha channel must pass through"
    inverted = 1 - crops[..., :3]
    assert (restored[..., :3] - inverted).abs().max() < 1e-5, "each row must come back from its own crop, in order"

    def interrupt():
        raise InterruptedError

    with pytest.raises(InterruptedError):
        restore_faces(stand_in(call), crops, check_interrupt=interrupt)


@pytest.mark.parametrize(
    "crops, kwargs, message",
    [
        (torch.rand(2, 64, 64), {}, r"crops must be an IMAGE batch \[B,H,W,C\] with C 3 or 4"),
        (np.zeros((2, 64, 64, 3), np.float32), {}, r"crops must be an IMAGE torch.Tensor \[B,H,W,C\], but got ndarray"),
        (torch.rand(2, 64, 64, 3), {"fidelity": 1.5}, r"fidelity must be in \[0, 1\]"),
        (torch.rand(2, 64, 64, 3), {"batch_size": 0}, "batch_size must be at least 1"),
    ],
)
def test_restore_faces_rejects_bad_input(crops, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        restore_faces(stand_in(lambda net, x, f: x), crops, **kwargs)


def test_restorer_from_descriptor_accepts_face_models_only(saved_models):
    import spandrel
    from spandrel.architectures.Compact import Compact

    face = spandrel.ModelLoader().load_from_state_dict(saved_models["RestoreFormer"][0])  # as the host's loader does
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


@needs_extra_arches
def test_a_codeformer_file_without_extra_arches_says_what_to_install(saved_models, monkeypatch):
    monkeypatch.setitem(RESTORERS, "CodeFormer", dataclasses.replace(RESTORERS["CodeFormer"], package="spandrel_extra_arches_not_installed"))
    with pytest.raises(ValueError, match="needs the spandrel_extra_arches package"):
        load_restorer(saved_models["CodeFormer"][1][".safetensors"])


def test_restore_face_sequences_blends_by_strength_and_checks_the_plan():
    plan = identity_plan([3, 2], 64)
    crops = face_crops(5, 64)
    darker = stand_in(lambda net, x, f: x - 0.4)  # restores every pixel 0.2 darker (in 0..1)
    full = restore_face_sequences(darker, crops, plan, strength=1.0, temporal_smoothing=0.0)
    half = restore_face_sequences(darker, crops, plan, strength=0.5, temporal_smoothing=0.0)
    untouched = restore_face_sequences(darker, crops, plan, strength=0.0)
    inside = crops > 0.3  # away from the clamp at 0
    assert (crops - full)[inside].mean() == pytest.approx(0.2, abs=0.02), "strength 1 must give the restored crop"
    assert (crops - half)[inside].mean() == pytest.approx(0.1, abs=0.01), "strength 0.5 must go halfway"
    assert torch.equal(untouched, crops), "strength 0 must give the input back exactly"
    with pytest.raises(ValueError, match=r"crops must have 5 rows, one per crop of the crop plan \(2 sequences\), but got 4"):
        restore_face_sequences(darker, crops[:4], plan)
    with pytest.raises(ValueError, match=r"crops must be 64x64 \(the crop plan's size\)"):
        restore_face_sequences(darker, face_crops(5, 32), plan)
