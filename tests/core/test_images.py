"""IMAGE batch checks and the one IMAGE -> uint8 conversion."""

import numpy as np
import pytest
import torch

from comfyui_fuse.core.images import check_image_batch, check_video_frames, frame_to_uint8, image_to_uint8


@pytest.mark.parametrize(
    "images, kwargs, expected",
    [
        (torch.zeros(2, 4, 6, 3), dict(), (2, 4, 6)),
        (torch.zeros(0, 4, 6, 4), dict(), (0, 4, 6)),
        (torch.zeros(1, 4, 6, 3, dtype=torch.float16), dict(), (1, 4, 6)),
        (np.zeros((1, 4, 6, 3), np.uint8), dict(uint8=True), (1, 4, 6)),
        (torch.zeros(1, 4, 6, 3, dtype=torch.uint8), dict(uint8=True), (1, 4, 6)),
    ],
)
def test_image_batches_that_pass(images, kwargs, expected):
    assert check_image_batch("images", images, **kwargs) == expected


@pytest.mark.parametrize(
    "images, kwargs, error, message",
    [
        (np.zeros((1, 4, 6, 3), np.float32), dict(), TypeError, "images must be an IMAGE torch.Tensor [B,H,W,C], but got ndarray"),
        ([[0.0]], dict(uint8=True), TypeError, "images must be an IMAGE torch.Tensor [B,H,W,C], but got list"),
        (torch.zeros(4, 6, 3), dict(), ValueError, "images must be an IMAGE batch [B,H,W,C] with C 3 or 4 (channels), but got shape (4, 6, 3)"),
        (torch.zeros(1, 4, 6, 4), dict(channels=(3,)), ValueError, "with C 3 (channels), but got shape (1, 4, 6, 4)"),
        (torch.zeros(1, 4, 6, 3, dtype=torch.uint8), dict(), ValueError, "images must hold float pixels in 0..1, but got dtype torch.uint8"),
        (np.zeros((1, 4, 6, 3), np.int32), dict(uint8=True), ValueError, "images must hold float pixels in 0..1 or uint8 pixels, but got dtype int32"),
    ],
)
def test_image_batches_that_are_refused(images, kwargs, error, message):
    with pytest.raises(error) as raised:
        check_image_batch("images", images, **kwargs)
    assert message in str(raised.value), f"got {raised.value}"


def test_a_batch_of_another_video_names_the_fix():
    with pytest.raises(ValueError, match=r"^images must be the video the tracks were made from \(3 frames of 6x4\), but got 2 frames of 6x4; connect them$"):
        check_video_frames("images", torch.zeros(2, 4, 6, 3), 3, (4, 6), source="the tracks were made from", fix="connect them")
    check_video_frames("images", torch.zeros(3, 4, 6, 3), 3, (4, 6), source="x", fix="y")


def test_uint8_is_rounded_from_clamped_float_and_drops_alpha():
    frames = torch.tensor([[[[-0.5, 0.0, 1.4 / 255, 1.0], [1.6 / 255, 0.5, 1.0, 0.2], [2.0, 254.6 / 255, 0.25, 0.0]]]], dtype=torch.float32)
    expected = np.array([[[[0, 0, 1], [2, 128, 255], [255, 255, 64]]]], np.uint8)
    for images in (frames, frames.numpy(), frames.double().numpy(), frames.half()):
        result = image_to_uint8(images)
        assert result.dtype == np.uint8 and result.shape == (1, 1, 3, 3)
        assert np.array_equal(result, expected), f"{type(images).__name__} {images.dtype}: got {result.tolist()}"


def test_uint8_conversion_copies_and_never_changes_the_input():
    frames = torch.rand(3, 5, 7, 4, generator=torch.Generator().manual_seed(0))
    before = frames.clone()
    chosen = image_to_uint8(frames, [2, 0])
    assert torch.equal(frames, before), "the IMAGE must not change"
    assert np.array_equal(chosen, image_to_uint8(frames)[[2, 0]])
    uint8_frames = torch.from_numpy(image_to_uint8(frames))
    one = frame_to_uint8(uint8_frames[1])
    one[:] = 7
    assert not (uint8_frames[1] == 7).all(), "frame_to_uint8 must return a copy, not a view of a uint8 input"
    assert one.flags["C_CONTIGUOUS"] and frame_to_uint8(frames[0]).flags["C_CONTIGUOUS"] and frame_to_uint8(frames[0].numpy()).flags["C_CONTIGUOUS"]
