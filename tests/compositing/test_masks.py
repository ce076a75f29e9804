"""Crop-space blend masks: shape, range, exact 1 inside, feather width, validation."""

import pytest
import torch

from comfyui_fuse.compositing.masks import blend_mask, box_mask, ellipse_mask


@pytest.mark.parametrize("make", [box_mask, ellipse_mask])
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (1, 1)])
@pytest.mark.parametrize("amount", [0.0, 0.3, 1.0])
def test_masks_are_float_0_to_1_and_symmetric(make, size, amount):
    mask = make(size, amount)
    assert mask.shape == size and mask.dtype == torch.float32
    assert mask.min() >= 0 and mask.max() <= 1, f"mask must stay in 0..1, got {mask.min()}..{mask.max()}"
    assert torch.allclose(mask, mask.flip(0)) and torch.allclose(mask, mask.flip(1)), "mask must be symmetric"


def test_hard_box_covers_the_whole_crop():
    assert torch.equal(box_mask((32, 48), 0.0), torch.ones(32, 48)), "blend_amount 0 must paste every crop pixel at full strength"


@pytest.mark.parametrize("amount, feather_pixels", [(0.25, 8), (0.5, 16), (0.75, 24)])
def test_box_feather_width_is_a_fraction_of_half_the_side(amount, feather_pixels):
    mask = box_mask((64, 64), amount)
    middle_row = mask[32]
    solid = torch.nonzero(middle_row == 1.0).flatten()
    assert solid.numel() > 0 and int(solid.min()) == feather_pixels, f"the ramp must span {feather_pixels} px, but ends at {solid.min() if solid.numel() else None}"
    assert (torch.diff(middle_row[:32]) >= 0).all(), "the ramp must rise monotonically towards the centre"
    assert middle_row[0] > 0, "the outermost pixel centre is half a pixel inside the crop, so it is pasted a little"


def test_ellipse_is_solid_in_the_middle_and_empty_in_the_corners():
    mask = ellipse_mask((64, 96), 0.3)
    assert mask[32, 48] == 1.0 and mask[0, 0] == 0 and mask[63, 95] == 0
    hard = ellipse_mask((64, 64), 0.0)
    assert set(hard.unique().tolist()) == {0.0, 1.0}, "blend_amount 0 must give a hard-edged ellipse"
    assert hard[32, 0] == 1.0 and hard[0, 0] == 0.0


@pytest.mark.parametrize(
    "mode, amount, message",
    [
        ("circle", 0.3, r"blend_mode must be one of \['box', 'ellipse'\], but got 'circle'"),
        ("box", 1.5, "blend_amount must be in 0..1"),
        ("ellipse", -0.1, "blend_amount must be in 0..1"),
    ],
)
def test_bad_blend_options_are_named(mode, amount, message):
    with pytest.raises(ValueError, match=message):
        blend_mask((32, 32), mode, amount)
