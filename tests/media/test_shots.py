"""Shot boundaries found in a stream of frames (PySceneDetect plus the pan check)."""

import numpy as np
import pytest
import torch

from comfyui_fuse.media.shots import ShotDetector, detect_cuts, downscale_rgb, is_shift
from comfyui_fuse.media.synthetic import textured_background

HEIGHT, WIDTH = 144, 256


def shot(seed: int, frames: int, shifts=None) -> list[np.ndarray]:
    """frames of one shot: a background (of seed) seen through a window that moves by shifts[i] px."""
    big = textured_background(HEIGHT, WIDTH * 3, seed)
    x, out = WIDTH, []
    for index in range(frames):
        x += 0 if shifts is None else int(shifts[index])
        out.append(big[:, x : x + WIDTH].copy())
    return out


def fade(frames: list[np.ndarray], down: bool) -> list[np.ndarray]:
    steps = np.linspace(1, 0, len(frames) + 1)[1:] if down else np.linspace(0, 1, len(frames) + 1)[1:]
    return [(frame * level).astype(np.uint8) for frame, level in zip(frames, steps)]


def test_hard_cuts_are_found_and_pans_are_not_cuts():
    pans = np.zeros(40)
    pans[10], pans[25] = 45, -40  # whip pans: the whole picture moves a sixth of its width in one frame
    clip = np.stack(shot(1, 40) + shot(2, 40) + shot(3, 40, pans) + shot(4, 30, np.full(30, 6)))
    assert detect_cuts(clip).tolist() == [40, 80, 120]


def test_a_fade_through_black_is_one_cut_in_the_dark():
    before, after = shot(5, 30), shot(6, 30)
    clip = np.stack(before[:20] + fade(before[20:], down=True) + [np.zeros_like(before[0])] * 4 + fade(after[:10], down=False) + after[10:])
    cuts = detect_cuts(clip)
    assert len(cuts) == 1 and 28 <= cuts[0] <= 36, f"one cut inside the fade (dark frames 30-33), but got {cuts.tolist()}"


def test_feeding_in_pieces_is_the_same_as_all_at_once_and_torch_works():
    clip = np.stack(shot(1, 30) + shot(2, 30))
    detector = ShotDetector()
    for start in range(0, 60, 7):
        detector.feed(clip, start, min(start + 7, 60))
    assert detector.finish().tolist() == detect_cuts(clip).tolist() == [30]
    as_image = torch.from_numpy(clip).float() / 255
    assert detect_cuts(as_image).tolist() == [30]


def test_chunks_of_a_stream_are_one_clip():
    clip = np.stack(shot(1, 30) + shot(2, 30))
    detector = ShotDetector()
    for start in range(0, 60, 16):
        detector.feed(clip[start : start + 16].copy())  # a decoder's chunk: indices start at 0 again
    assert detector.frames_seen == 60 and detector.finish().tolist() == [30]


@pytest.mark.parametrize("threshold, min_shot_frames, words", [(1.0, 8, "cut_threshold must be a number > 1"), (3.0, 0, "min_shot_frames must be an int >= 1")])
def test_bad_settings_are_named(threshold, min_shot_frames, words):
    with pytest.raises(ValueError, match=words):
        ShotDetector(threshold, min_shot_frames)


def test_a_clip_without_cuts_and_one_of_noise():
    assert detect_cuts(np.stack(shot(7, 50))).tolist() == []
    noise = np.random.default_rng(0).integers(0, 256, (40, HEIGHT, WIDTH, 3), dtype=np.uint8)
    cuts = detect_cuts(noise)
    assert (np.diff(cuts) >= 8).all(), "however busy the picture, no two cuts are closer than min_shot_frames"


def test_downscale_keeps_the_aspect_and_is_uint8():
    frames = torch.rand(3, 720, 1280, 3)
    small = downscale_rgb(frames, 1, 3)
    assert small.shape == (2, 144, 256, 3) and small.dtype == np.uint8


def test_is_shift_tells_a_pan_from_a_cut():
    a, b = shot(8, 2, [0, 30])
    grey = [frame.mean(axis=2).astype(np.float32) for frame in (a, b, shot(9, 1)[0])]
    assert is_shift(grey[0], grey[1]) and not is_shift(grey[0], grey[2])


def test_decoded_uint8_frames_downscale_like_float_frames():
    from comfyui_fuse.media import synthetic

    frames = synthetic.render(synthetic.demo_scene(frame_count=3, frame_size=(360, 640)))  # uint8, as the VIDEO path decodes
    small = downscale_rgb(frames, 0, 3)
    reference = downscale_rgb(torch.from_numpy(frames).float() / 255.0, 0, 3)
    assert small.shape == reference.shape == (3, 144, 256, 3) and small.dtype == np.uint8
    difference = np.abs(small.astype(np.int16) - reference.astype(np.int16))
    assert difference.mean() < 2.0, f"the uint8 and float downscales differ by {difference.mean():.2f} on average"
    assert downscale_rgb(frames[:0], 0, 0).shape == (0, 144, 256, 3)
