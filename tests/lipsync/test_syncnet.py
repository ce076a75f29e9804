"""SyncNet: the released checkpoint's layout loads strictly, the input pipeline (MFCC, 25 fps,
crops) matches the reference's description, and the offset search finds a known shift."""

from __future__ import annotations

import math
import pickle
from collections import OrderedDict
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.lipsync import syncnet
from comfyui_fuse.lipsync.syncnet import (
    LSE, SyncNet, SyncNetLoadError, audio_embeddings, av_offset_distances, crop_boxes, face_crop, frames_at_25fps, framewise_confidence,
    load_syncnet, lse, mfcc, read_syncnet, stack_count, syncnet_embeddings, video_embeddings,
)
from fuse_syncnet_models import (
    LOUD, QUIET, RELEASED_LAYOUT, SCALE, brightness_frames, buzz_audio, loud_pattern, loudness_syncnet, released_state_dict, save_released_checkpoint,
)


# --- the network and its checkpoint ------------------------------------------------------------


def test_state_dict_has_the_released_keys_and_shapes():
    ours = {key: tuple(value.shape) for key, value in SyncNet().state_dict().items() if not key.endswith("num_batches_tracked")}
    released = dict(RELEASED_LAYOUT)
    assert list(ours) == list(released), f"key order or names differ: ours {sorted(set(ours) ^ set(released))}"
    wrong = {key: (ours[key], released[key]) for key in released if ours[key] != released[key]}
    assert not wrong, f"shapes differ from the released layout: {wrong}"


def test_embedding_shapes():
    net = SyncNet().eval()
    with torch.no_grad():
        assert net.forward_audio(torch.zeros(2, 1, 13, 20)).shape == (2, 1024)
        assert net.forward_video(torch.zeros(2, 3, 5, 224, 224)).shape == (2, 1024)


@pytest.mark.parametrize("batch_norm_counters", [False, True], ids=["saved-by-old-torch", "with-num_batches_tracked"])
def test_released_checkpoint_loads_strictly_and_computes_with_its_weights(tmp_path, batch_norm_counters):
    state = released_state_dict(seed=3)
    if batch_norm_counters:
        for key in [k for k in state if k.endswith("running_var")]:
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(7)
    path = tmp_path / "syncnet_v2.model"
    save_released_checkpoint(path, state)
    net = read_syncnet(str(path))
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key], value), f"{key} was not loaded from the file"
    reference = SyncNet().eval()
    reference.load_state_dict(state, strict=False)
    audio = torch.randn(3, 1, 13, 20)
    with torch.no_grad():
        assert torch.allclose(net.forward_audio(audio), reference.forward_audio(audio))
    assert not net.training, "the loaded net must be in eval mode (batch norm uses the running statistics)"


def test_load_syncnet_keeps_the_net_while_the_file_is_unchanged(tmp_path):
    path = tmp_path / "syncnet_v2.model"
    save_released_checkpoint(path, released_state_dict())
    assert load_syncnet(str(path)) is load_syncnet(str(path))


def _without(state, key):
    state = OrderedDict(state)
    del state[key]
    return state


def _with(state, key, value):
    state = OrderedDict(state)
    state[key] = value
    return state


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: _without(s, "netcnnlip.8.bias"), "Missing key"),
        (lambda s: _with(s, "netcnnlip.99.weight", torch.zeros(3)), "Unexpected key"),
        (lambda s: _with(s, "netfclip.0.weight", torch.zeros(512, 256)), "size mismatch"),
        (lambda s: _with(s, "netcnnaud.0.weight", torch.zeros(64, 1, 5, 5)), "must be a SyncNet checkpoint"),
        (lambda s: OrderedDict({"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(16, 6, 7, 7)}), "must be a SyncNet checkpoint"),
    ],
    ids=["missing", "unexpected", "wrong-shape", "other-first-layer", "wav2lip"],
)
def test_a_checkpoint_that_is_not_the_released_layout_is_refused(tmp_path, change, message):
    path = tmp_path / "bad.model"
    save_released_checkpoint(path, change(released_state_dict()))
    with pytest.raises(SyncNetLoadError, match=message):
        read_syncnet(str(path))


class _Payload:
    def __reduce__(self):
        return (print, ("code from a model file ran",))


def test_a_file_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.model"
    with open(path, "wb") as handle:
        pickle.dump({"netcnnaud.0.weight": _Payload()}, handle, protocol=2)
    with pytest.raises(SyncNetLoadError, match="evil.model"):
        read_syncnet(str(path))
    assert "code from a model file ran" not in capsys.readouterr().out


# --- MFCC --------------------------------------------------------------------------------------


def _mfcc_from_the_description(signal_int16: np.ndarray) -> np.ndarray:
    """MFCC written step by step from the settings python_speech_features documents
    (frames of 400 samples every 160, pre-emphasis 0.97, 512-point power spectrum / 512, 26 mel
    filters 0..8000 Hz on FFT bins, log, DCT-II orthonormal, 13 coefficients, lifter 22, c0 =
    log frame energy), one frame and one coefficient at a time."""
    x = np.asarray(signal_int16, dtype=np.float64)
    y = np.empty_like(x)
    y[0] = x[0]
    for n in range(1, len(x)):
        y[n] = x[n] - 0.97 * x[n - 1]
    frame_count = 1 if len(y) <= 400 else 1 + math.ceil((len(y) - 400) / 160)
    y = np.concatenate([y, np.zeros((frame_count - 1) * 160 + 400 - len(y))])

    def mel(f):
        return 2595 * math.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    points = [mel(0) + (mel(8000) - mel(0)) * i / 27 for i in range(28)]
    edges = [math.floor(513 * hz(m) / 16000) for m in points]
    bank = np.zeros((26, 257))
    for j in range(26):
        for i in range(edges[j], edges[j + 1]):
            bank[j, i] = (i - edges[j]) / (edges[j + 1] - edges[j])
        for i in range(edges[j + 1], edges[j + 2]):
            bank[j, i] = (edges[j + 2] - i) / (edges[j + 2] - edges[j + 1])
    out = np.zeros((frame_count, 13))
    for f in range(frame_count):
        frame = np.zeros(512)
        frame[:400] = y[f * 160 : f * 160 + 400]
        k = np.arange(257)[:, None]
        n = np.arange(512)[None, :]
        spectrum = (frame[None, :] * np.exp(-2j * np.pi * k * n / 512)).sum(axis=1)
        power = np.abs(spectrum) ** 2 / 512
        energies = np.log(np.maximum(bank @ power, np.finfo(float).eps))
        for c in range(13):
            scale = math.sqrt(1 / 26) if c == 0 else math.sqrt(2 / 26)
            value = scale * sum(energies[m] * math.cos(math.pi * c * (2 * m + 1) / 52) for m in range(26))
            out[f, c] = value * (1 + 11 * math.sin(math.pi * c / 22))
        out[f, 0] = math.log(max(power.sum(), np.finfo(float).eps))
    return out


@pytest.mark.parametrize("samples", [300, 400, 401, 1000, 4000])
def test_mfcc_matches_a_step_by_step_computation(samples):
    rng = np.random.default_rng(samples)
    audio = (rng.standard_normal(samples) * 0.1 + np.sin(np.arange(samples) * 0.05) * 0.3).astype(np.float32)
    ours = mfcc(audio)
    expected = _mfcc_from_the_description(np.clip(np.rint(audio.astype(np.float64) * 32768), -32768, 32767))
    assert ours.shape == expected.shape == (1 if samples <= 400 else 1 + math.ceil((samples - 400) / 160), 13)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_mfcc_matches_python_speech_features_on_16_bit_audio():
    psf = pytest.importorskip("python_speech_features")
    rng = np.random.default_rng(1)
    audio_int16 = np.clip(rng.standard_normal(16000) * 3000, -32768, 32767).astype(np.int16)
    expected = psf.mfcc(audio_int16, 16000)
    np.testing.assert_allclose(mfcc(audio_int16 / 32768.0), expected, rtol=1e-7, atol=1e-7)


def test_mfcc_of_silence_is_finite():
    features = mfcc(np.zeros(1600))
    assert np.isfinite(features).all(), "an all-zero frame must give log(eps), not -inf"


def test_mfcc_frames_run_at_100_per_second_and_4_per_video_frame():
    assert mfcc(np.zeros(16000)).shape[0] == 99  # 1 + ceil((16000 - 400) / 160)
    assert stack_count(frame_count=100, sample_count=64000) == 95
    assert stack_count(frame_count=100, sample_count=640 * 30) == 25, "audio shorter than video limits the stacks"
    assert stack_count(frame_count=4, sample_count=640 * 30) == 0


# --- the 25 fps timeline and crops -------------------------------------------------------------


@pytest.mark.parametrize(
    "count, fps, start, expected",
    [
        (5, 25, 0, [0, 1, 2, 3, 4]),
        (6, 50, 0, [0, 2, 4]),
        (4, Fraction(25, 2), 0, [0, 0, 1, 1, 2, 2, 3, 3]),
        (6, 30, 0, [0, 1, 2, 4, 5]),  # slots at 0, 1.2, 2.4, 3.6, 4.8 source frames
        (6, 50, 3, [4, 6, 8]),  # slots from ceil(3 / 2) = 2: source 4, 6, 8
        (7, Fraction(30000, 1001), 0, [0, 1, 2, 4, 5, 6]),
    ],
)
def test_frames_at_25fps_pick_the_nearest_source_frame(count, fps, start, expected):
    assert frames_at_25fps(count, fps, start).tolist() == expected


def _reference_crop(frame_bgr: np.ndarray, box_xyxy) -> np.ndarray:
    """run_pipeline.py's crop, as described: pad the whole frame with 110, slice, resize."""
    import cv2

    x1, y1, x2, y2 = box_xyxy
    s = max(y2 - y1, x2 - x1) / 2
    cy, cx = (y1 + y2) / 2, (x1 + x2) / 2
    p = int(s * 1.8)
    padded = np.pad(frame_bgr, ((p, p), (p, p), (0, 0)), "constant", constant_values=110)
    my, mx = cy + p, cx + p
    face = padded[int(my - s) : int(my + s * 1.8), int(mx - s * 1.4) : int(mx + s * 1.4)]
    return cv2.resize(face, (224, 224))


@pytest.mark.parametrize("box", [(60, 40, 140, 130), (0, 0, 50, 70), (150, 100, 239, 179), (-20, 30, 40, 100)], ids=["inside", "corner", "far-corner", "off-left"])
def test_face_crop_matches_the_reference_crop(box):
    rng = np.random.default_rng(0)
    frame_rgb = rng.integers(0, 256, (180, 240, 3), dtype=np.uint8)
    boxes = np.repeat(np.array([box], np.float64), 13, axis=0)
    smoothed = crop_boxes(boxes)[6]  # the middle of 13 equal boxes: the median filter changes nothing
    ours = face_crop(frame_rgb, smoothed)
    expected = _reference_crop(frame_rgb[:, :, ::-1].copy(), box)
    assert ours.shape == (224, 224, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, expected)


def test_face_crop_is_bgr():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[..., 0] = 255  # pure red in RGB
    crop = face_crop(frame, np.array([50.0, 50.0, 10.0]))
    assert crop[112, 112].tolist() == [0, 0, 255], "red must arrive in the last channel (OpenCV's BGR order)"


def test_crop_boxes_median_filter_over_13_frames_with_zero_padded_ends():
    xyxy = np.array([[0, 0, 20, 20]] * 20, np.float64)
    xyxy[10] = [100, 100, 160, 160]  # one wild box
    boxes = crop_boxes(xyxy)
    assert np.allclose(boxes[10], [10, 10, 10]), "a single outlier is removed by the median"
    assert boxes[0, 2] == 10 and boxes[5, 2] == 10
    # scipy.signal.medfilt pads with zeros: the first window holds 6 zeros and 7 values
    ramp = np.stack([np.zeros(13), np.zeros(13), np.arange(1, 14) * 2.0, np.arange(1, 14) * 2.0], axis=1)
    assert crop_boxes(ramp)[0, 2] == 1.0, "the first half-size is the smallest of the first 7 (the reference's medfilt)"


# --- distances and scores ----------------------------------------------------------------------


def test_av_offset_distances_compare_each_video_stack_with_shifted_audio_stacks():
    rng = np.random.default_rng(0)
    video = rng.standard_normal((6, 4)).astype(np.float32)
    audio = rng.standard_normal((6, 4)).astype(np.float32)
    distances = av_offset_distances(video, audio, vshift=2)
    assert distances.shape == (6, 5)
    for i in range(6):
        for column, shift in enumerate(range(-2, 3)):
            other = audio[i + shift] if 0 <= i + shift < 6 else np.zeros(4, np.float32)
            expected = np.linalg.norm(video[i] - other + 1e-6)
            assert distances[i, column] == pytest.approx(expected, rel=1e-5), f"row {i}, shift {shift}"


def test_lse_takes_min_median_and_offset_from_the_mean_distances():
    distances = np.array([[5.0, 4.0, 1.0, 3.0, 9.0], [5.0, 2.0, 3.0, 3.0, 9.0]])  # means 5, 3, 2, 3, 9
    result = lse(distances, vshift=2)
    assert result == LSE(min_distance=2.0, confidence=1.0, offset=0, stacks=2)  # median of (5,3,2,3,9) is 3
    assert lse(distances[:, ::-1], vshift=2).offset == 0
    assert lse(np.array([[1.0, 5.0, 5.0, 5.0, 5.0]]), vshift=2).offset == 2, "offset = vshift - index of the minimum"
    empty = lse(np.zeros((0, 5)), vshift=2)
    assert empty.stacks == 0 and math.isnan(empty.min_distance) and math.isnan(empty.confidence)


def test_framewise_confidence_is_median_minus_distance_at_the_best_shift():
    distances = np.tile([3.0, 1.0, 3.0], (12, 1))
    distances[5, 1] = 2.0
    confidence = framewise_confidence(distances, vshift=1, kernel=1)
    assert confidence.tolist() == [pytest.approx(3.0 - d) for d in distances[:, 1]]


# --- the offset search with a constructed SyncNet ----------------------------------------------

CLIP_FRAMES = 40


@pytest.fixture(scope="module")
def loudness():
    net = loudness_syncnet()
    pattern = loud_pattern(CLIP_FRAMES, seed=1)
    return net, pattern, video_embeddings(net, brightness_frames(pattern))


def _shifted_audio(pattern: np.ndarray, frames: int) -> np.ndarray:
    """The buzz whose loudness follows the pattern, heard `frames` late (negative: early)."""
    amplitudes = np.where(pattern, LOUD, QUIET)
    if frames >= 0:
        amplitudes = np.concatenate([np.full(frames, QUIET), amplitudes])[: len(pattern)]
    else:
        amplitudes = np.concatenate([amplitudes[-frames:], np.full(-frames, QUIET)])
    return buzz_audio(amplitudes)


def test_constructed_embeddings_agree_only_at_the_true_alignment(loudness):
    net, pattern, video = loudness
    audio = audio_embeddings(net, _shifted_audio(pattern, 0), len(video) - 1)
    count = len(audio)
    distances = av_offset_distances(video[:count], audio)
    means = distances.mean(axis=0)
    assert np.argmin(means) == 15
    assert means[15] < 0.05 * SCALE, f"the aligned embeddings must nearly agree, got mean distance {means[15]:.3f}"
    assert min(means[14], means[16]) > 2 * means[15], f"one frame off must be clearly worse: {means[13:18].round(3)}"


@pytest.mark.parametrize("late_frames", [0, 3, -2, 7])
def test_offset_search_finds_a_known_audio_shift(loudness, late_frames):
    net, pattern, video = loudness
    audio_16k = _shifted_audio(pattern, late_frames)
    count = stack_count(CLIP_FRAMES, len(audio_16k))
    result = lse(av_offset_distances(video[:count], audio_embeddings(net, audio_16k, count)))
    assert result.offset == -late_frames, f"audio {late_frames} frames late must give offset {-late_frames}, got {result}"
    assert result.stacks == count == CLIP_FRAMES - 5
    assert result.confidence > 0.2 * SCALE, f"a clear minimum gives a high confidence, got {result}"


def test_syncnet_embeddings_make_as_many_stacks_as_the_reference(loudness):
    net, pattern, _ = loudness
    frames = brightness_frames(pattern[:12])
    video, audio = syncnet_embeddings(net, frames, _shifted_audio(pattern[:12], 0)[: 640 * 10])
    assert video.shape == audio.shape == (5, 1024), "min(12 frames, 10 frames of audio) - 5 stacks"
    empty_video, empty_audio = syncnet_embeddings(net, frames[:5], _shifted_audio(pattern[:5], 0))
    assert empty_video.shape == empty_audio.shape == (0, 1024)


def test_video_embeddings_check_their_input():
    with pytest.raises(ValueError, match=r"face_crops_bgr must be a \(T, 224, 224, 3\) array"):
        video_embeddings(SyncNet().eval(), np.zeros((6, 96, 96, 3), np.uint8))
    with pytest.raises(ValueError, match="count must be at most 2"):
        video_embeddings(SyncNet().eval(), np.zeros((6, 224, 224, 3), np.uint8), count=3)


def test_module_documents_the_matched_reference_facts():
    doc = syncnet.__doc__
    for fact in ("25 fps", "16 kHz", "BGR", "0..255", "13 coefficients", "lifter 22", "vshift 15", "20 MFCC frames", "110"):
        assert fact in doc, f"the module docstring must state {fact!r}"
