"""Colour matching in a ring around the seam: known shifts are corrected, corrections do not flicker."""

import cv2
import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.color import lab_to_rgb, match_color, rgb_to_lab, seam_ring, smooth_over_time
from comfyui_fuse.compositing.masks import ellipse_mask
from comfyui_fuse.media.synthetic import face_sprites, textured_background

SIZE = 128


def face_crop(seed: int = 0) -> np.ndarray:
    """(SIZE,SIZE,3) float32: a real face over a textured background, like a crop from a video."""
    sprite = face_sprites()[0].pixels
    face = cv2.resize(sprite, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    background = textured_background(SIZE, SIZE, seed).astype(np.float32) / 255
    alpha = ellipse_mask((SIZE, SIZE), 0.2).numpy()[..., None]
    return face * alpha + background * (1 - alpha)


def colour_shift(rgb: np.ndarray) -> np.ndarray:
    """A processor that returns the face warmer and brighter: per-channel gain and offset in sRGB."""
    return np.clip(rgb * np.array([1.12, 0.97, 0.88], np.float32) + 0.04, 0, 1)


def lab_shift(rgb: np.ndarray) -> np.ndarray:
    """A processor that returns the face with more contrast, darker and with a green-blue cast."""
    lab = rgb_to_lab(rgb) * np.array([1.1, 1.0, 1.0], np.float32) + np.array([-4.0, 5.0, -6.0], np.float32)
    return np.clip(lab_to_rgb(lab), 0, 1)


def flatter(rgb: np.ndarray) -> np.ndarray:
    """A processor that returns the face with less contrast, a little darker."""
    return np.clip(rgb * 0.85 + 0.05, 0, 1)


def ring_error(a: torch.Tensor, b: torch.Tensor, ring: np.ndarray) -> float:
    ring = torch.from_numpy(ring).bool()
    return float((a - b).abs().mean(dim=-1)[:, ring].mean())


BLEND = ellipse_mask((SIZE, SIZE), 0.3)


@pytest.mark.parametrize(
    "mask, width, expected_pixels",
    [
        (np.ones((64, 64)), 4, 64 * 64 - 56 * 56),  # a full mask: the seam is the crop's edge
        (np.zeros((64, 64)), 4, 0),  # nothing pasted: no seam
        (np.pad(np.ones((32, 32)), 16), 2, 36 * 36 - 28 * 28),  # a square: 2 px to either side of its edge
    ],
)
def test_seam_ring_is_a_band_around_the_half_level(mask, width, expected_pixels):
    ring = seam_ring(mask, width)
    assert ring.shape == mask.shape and set(np.unique(ring)) <= {0.0, 1.0}
    # the elliptical kernel rounds the square's corners, so allow a few pixels there
    assert abs(int(ring.sum()) - expected_pixels) <= 8, f"ring should hold about {expected_pixels} pixels, got {int(ring.sum())}"


@pytest.mark.parametrize(
    "shift, factor",
    [
        (lab_shift, 10),  # exactly a Lab mean/std change: undone almost fully
        (flatter, 10),
        # a white-balance cast made in sRGB is no Lab mean/std change (and clips), so only part of
        # it is undone by the transfer
        (colour_shift, 2.5),
    ],
)
def test_a_known_colour_shift_is_corrected_in_the_ring(shift, factor):
    original = torch.from_numpy(face_crop())[None]
    processed = torch.from_numpy(shift(face_crop()))[None]
    matched = match_color(processed, original, BLEND, ring_width=8)
    ring = seam_ring(BLEND.numpy(), 8)
    before, after = ring_error(processed, original, ring), ring_error(matched, original, ring)
    assert after < before / factor, f"colour matching should cut the ring error at least {factor}x: {before:.4f} -> {after:.4f}"
    inside = torch.from_numpy(BLEND.numpy() > 0.99)
    interior = float((matched - original).abs().mean(dim=-1)[0][inside].mean())
    assert interior < float((processed - original).abs().mean(dim=-1)[0][inside].mean()) / 2, "the transfer applies inside the face too"


def test_no_shift_means_no_change():
    crop = torch.from_numpy(face_crop())[None]
    matched = match_color(crop.clone(), crop, BLEND, ring_width=8)
    assert (matched - crop).abs().max() < 1e-4, "matching a crop to itself must leave it unchanged"


def test_strength_and_pixels_outside_the_frame():
    original = torch.from_numpy(face_crop())[None]
    processed = torch.from_numpy(lab_shift(face_crop()))[None]
    untouched = match_color(processed, original, BLEND, strength=0.0)
    assert torch.equal(untouched, processed), "strength 0 must leave the crop exactly as it is"
    # the left half of the crop reached outside the frame: there the original repeats an edge colour
    garbage = original.clone()
    garbage[:, :, : SIZE // 2] = torch.tensor([1.0, 0.0, 1.0])
    valid = torch.ones(1, SIZE, SIZE)
    valid[:, :, : SIZE // 2] = 0
    matched = match_color(processed, garbage, BLEND, ring_width=8, valid_bhw=valid)
    ring = seam_ring(BLEND.numpy(), 8) * valid[0].numpy()
    after = ring_error(matched, original, ring)
    assert after < ring_error(processed, original, ring) / 5, f"padding outside the frame must not enter the statistics, error {after:.4f}"


def test_smoothing_keeps_the_correction_from_flickering():
    rng = np.random.default_rng(1)
    count = 24
    ring = seam_ring(BLEND.numpy(), 8).astype(bool)
    base = face_crop()
    originals, processed = [], []
    for _ in range(count):
        # the footage around the face flickers (a light, moving hair): the ring changes every frame
        frame = base.copy()
        frame[ring & (BLEND.numpy() < 0.5)] = np.clip(frame[ring & (BLEND.numpy() < 0.5)] + rng.normal(0, 0.06), 0, 1)
        originals.append(frame)
        processed.append(colour_shift(base))  # the processor returns one steady face
    originals = torch.from_numpy(np.stack(originals))
    processed = torch.from_numpy(np.stack(processed))
    face = torch.from_numpy(BLEND.numpy() > 0.5)

    def change(frames):  # mean frame-to-frame change inside the face
        return float((frames[1:] - frames[:-1]).abs().mean(dim=-1)[:, face].mean())

    per_frame = match_color(processed, originals, BLEND, ring_width=8, temporal_sigma=0.0)
    smoothed = match_color(processed, originals, BLEND, ring_width=8, temporal_sigma=4.0)
    footage = float((originals[1:] - originals[:-1]).abs().mean(dim=-1)[:, torch.from_numpy(ring)].mean())
    assert change(smoothed) < change(per_frame) / 2, f"smoothing should calm the correction: {change(per_frame):.4f} -> {change(smoothed):.4f}"
    assert change(smoothed) < footage, f"the corrected face must change less from frame to frame ({change(smoothed):.4f}) than the footage around it ({footage:.4f})"
    assert ring_error(smoothed, originals, ring.astype(np.float32)) < ring_error(processed, originals, ring.astype(np.float32)), "smoothed matching must still correct the shift"


def test_sequences_are_smoothed_separately():
    original = torch.from_numpy(face_crop())[None].repeat(6, 1, 1, 1)
    processed = original.clone()
    processed[:3] = (processed[:3] + 0.1).clamp(0, 1)  # sequence 1 came back brighter
    processed[3:] = (processed[3:] - 0.1).clamp(0, 1)  # sequence 2 darker
    ring = seam_ring(BLEND.numpy(), 8)
    together = match_color(processed, original, BLEND, ring_width=8, temporal_sigma=50.0)
    apart = match_color(processed, original, BLEND, ring_width=8, temporal_sigma=50.0, row_offsets=[0, 3, 6])
    assert ring_error(apart, original, ring) < ring_error(together, original, ring) / 3, "the correction of one sequence must not leak into another"


@pytest.mark.parametrize(
    "values, sigma, known, expected",
    [
        (np.array([1.0, 1.0, 1.0]), 2.0, None, [1.0, 1.0, 1.0]),  # a constant stays put, ends included
        (np.array([0.0, 5.0, 10.0]), 0.0, None, [0.0, 5.0, 10.0]),  # sigma 0: unchanged
        (np.array([2.0, 99.0, 2.0]), 0.0, [True, False, True], [2.0, np.nan, 2.0]),  # unknown, nothing in reach
        (np.array([2.0, 99.0, 2.0]), 1.0, [True, False, True], [2.0, 2.0, 2.0]),  # unknown, filled from neighbours
    ],
)
def test_smooth_over_time(values, sigma, known, expected):
    np.testing.assert_allclose(smooth_over_time(values, sigma, known), expected)


@pytest.mark.parametrize(
    "processed, original, mask, kwargs, message",
    [
        (torch.rand(2, 32, 32, 3), torch.rand(2, 32, 32, 3), np.ones((16, 16)), {}, "blend_mask must be 32x32 like the crops"),
        (torch.rand(2, 32, 32, 3), torch.rand(1, 32, 32, 3), np.ones((32, 32)), {}, "must be \\(B,H,W,3\\) of one shape"),
        (torch.rand(2, 32, 32, 3), torch.rand(2, 32, 32, 3), np.ones((1, 32, 32)), {}, "blend_mask must be a 2D"),
        (torch.rand(2, 32, 32, 3), torch.rand(2, 32, 32, 3), np.ones((32, 32)), {"strength": 2.0}, "strength must be in \\[0, 1\\]"),
        (torch.rand(2, 32, 32, 3), torch.rand(2, 32, 32, 3), np.ones((32, 32)), {"ring_width": 0}, "ring_width must be at least 1"),
        (torch.rand(2, 32, 32, 3), torch.rand(2, 32, 32, 3), np.ones((32, 32)), {"row_offsets": [0, 3]}, "row_offsets must run from 0 to 2"),
    ],
)
def test_bad_input_is_named(processed, original, mask, kwargs, message):
    with pytest.raises(ValueError, match=message):
        match_color(processed, original, mask, **kwargs)
