"""Temporal stabilisation of processed face sequences, and the flicker measure."""

import cv2
import numpy as np
import pytest
import torch

from comfyui_fuse.restoration.stabilize import flicker_ratio, stabilize_sequence
from comfyui_fuse.media.synthetic import face_sprites

SIZE = 96


def drifting_face(count: int, step: float = 0.3) -> torch.Tensor:
    """(count,SIZE,SIZE,3) float32 aligned crops of a real face drifting `step` px per frame."""
    face = cv2.resize(face_sprites()[0].pixels, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    frames = [cv2.warpAffine(face, np.float32([[1, 0, step * t], [0, 1, 0]]), (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT) for t in range(count)]
    return torch.from_numpy(np.stack(frames))


def flickering_restoration(original: torch.Tensor, noise: float = 0.03, seed: int = 0):
    """A restorer that adds steady detail plus detail invented anew every frame (the flicker)."""
    generator = torch.Generator().manual_seed(seed)
    detail = 0.05 * torch.sin(torch.arange(SIZE, dtype=torch.float32) * 1.3)[None, :, None, None]  # the same on every frame
    invented = noise * torch.randn(original.shape, generator=generator)
    return (original + detail + invented).clamp(0, 1), detail


def test_stabilisation_lowers_flicker_and_keeps_the_restoration():
    original = drifting_face(24)
    restored, detail = flickering_restoration(original)
    before = flicker_ratio(restored, original)
    after = flicker_ratio(stabilize_sequence(restored, original, strength=1.0), original)
    assert before > 2, f"the synthetic restorer should flicker (ratio {before:.2f})"
    assert after < before / 2, f"stabilisation should at least halve the flicker ratio: {before:.2f} -> {after:.2f}"
    stabilized = stabilize_sequence(restored, original, strength=1.0)
    target = (original + detail).clamp(0, 1)
    assert (stabilized - target).abs().mean() < 0.6 * (restored - target).abs().mean(), "the steady part of the restoration must survive"


@pytest.mark.parametrize("strength", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_more_strength_means_less_flicker(strength):
    original = drifting_face(16)
    restored, _ = flickering_restoration(original)
    weaker = flicker_ratio(stabilize_sequence(restored, original, strength=max(strength - 0.25, 0.0)), original)
    ratio = flicker_ratio(stabilize_sequence(restored, original, strength=strength), original)
    assert ratio <= weaker + 1e-9, f"strength {strength} gave flicker {ratio:.3f}, more than {weaker:.3f} at {max(strength - 0.25, 0):.2f}"


def test_identity_processing_and_zero_strength_change_nothing():
    original = drifting_face(6)
    assert torch.equal(stabilize_sequence(original.clone(), original, strength=1.0), original), "no residual, nothing to smooth"
    restored, _ = flickering_restoration(original)
    assert torch.equal(stabilize_sequence(restored, original, strength=0.0), restored), "strength 0 must return the processed crops"
    assert torch.equal(stabilize_sequence(restored[:1], original[:1], strength=1.0), restored[:1]), "one frame has nothing to smooth with"


def test_a_sudden_change_of_the_input_is_not_smeared():
    # the mouth opens at frame 6: the input changes there, and so does what the restorer adds
    count, opens = 12, 6
    original = torch.full((count, SIZE, SIZE, 3), 0.3)
    original[opens:, 40:70, 30:60] = 0.8
    restored = original.clone()
    restored[:opens, 40:70, 30:60] += 0.1
    restored[opens:, 40:70, 30:60] -= 0.1
    stabilized = stabilize_sequence(restored, original, strength=1.0)
    error = (stabilized[opens:, 45:65, 35:55] - restored[opens:, 45:65, 35:55]).abs().max()
    assert error < 0.02, f"where the input moves, the new restoration must come through at once, but it is off by {error:.3f}"


def test_flicker_ratio_measures_change_relative_to_the_input():
    original = drifting_face(8, step=1.0)
    assert flicker_ratio(original, original) == pytest.approx(1.0), "an untouched sequence moves exactly as much as its input"
    frozen = original[:1].repeat(8, 1, 1, 1)
    assert flicker_ratio(frozen, original) == pytest.approx(0.0), "a frozen output does not move at all"
    mask = torch.zeros(SIZE, SIZE)
    mask[:, : SIZE // 2] = 1
    noisy = original.clone()
    noisy[1::2, :, SIZE // 2 :] += 0.2  # flicker only outside the mask
    assert flicker_ratio(noisy, original, mask=mask) == pytest.approx(1.0), "flicker outside the mask must not count"
    two = torch.cat([original, 1 - original])  # two sequences; the jump between them is no flicker
    assert flicker_ratio(two, two, row_offsets=[0, 8, 16]) == pytest.approx(1.0)
    assert flicker_ratio(torch.cat([original, original]), two, row_offsets=[0, 8, 16]) == pytest.approx(1.0, rel=0.2)


@pytest.mark.parametrize(
    "processed, original, strength, message",
    [
        (torch.rand(4, 8, 8, 3), torch.rand(3, 8, 8, 3), 0.5, "must be \\(m,H,W,C\\) of one shape"),
        (torch.rand(4, 8, 8), torch.rand(4, 8, 8), 0.5, "must be \\(m,H,W,C\\) of one shape"),
        (torch.rand(4, 8, 8, 3), torch.rand(4, 8, 8, 3), 1.5, "strength must be in \\[0, 1\\]"),
    ],
)
def test_bad_input_is_named(processed, original, strength, message):
    with pytest.raises(ValueError, match=message):
        stabilize_sequence(processed, original, strength=strength)
