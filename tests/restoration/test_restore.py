"""The restoration pass: calling the nets right ([-1, 1] at 512), batching, blending by strength.

The real architectures (random weights, tests/fuse_restorer_models.py) each run ONE forward;
batching, progress and the [-1, 1] round trip are checked with a cheap stand-in for the net's
call. Loading and the registry are tested in tests/models/test_restorers.py.
"""

import dataclasses
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

from fuse_restorer_models import ARCHS

from comfyui_fuse.compositing.plan import CropPlan, FaceSequence
from comfyui_fuse.media.synthetic import face_sprites
from comfyui_fuse.models.restorers import RESTORERS, FaceRestorer, load_restorer
from comfyui_fuse.restoration.restore import restore_face_sequences, restore_faces


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


@pytest.fixture(scope="module")
def loaded_restorers(saved_restorers):
    """arch -> FaceRestorer loaded once from its first saved file."""
    return {arch: load_restorer(next(iter(paths.values()))) for arch, (_, paths) in saved_restorers.items()}


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
    calls = []
    counting = stand_in(lambda net, x, f: calls.append(1) or x)
    with pytest.raises(ValueError, match="temporal_smoothing must be in \\[0, 1\\], but got nan"):
        restore_face_sequences(counting, crops, plan, temporal_smoothing=float("nan"))
    assert calls == [], "a bad temporal_smoothing must be refused before any crop is restored"
