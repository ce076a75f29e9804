"""SyncNet (Chung & Zisserman, "Out of time: automated lip sync in the wild", ACCV 2016 workshops)
and the lip-sync scores the field reports with it: LSE-D, LSE-C and the audio-video offset.

SyncNet embeds 0.2 s of mouth motion (5 video frames) and 0.2 s of sound (20 MFCC frames) into one
1024-dimensional space where the two are close when they belong together. Wav2Lip's evaluation
(evaluation/scores_LSE), LatentSync and MuseTalk all report the released `syncnet_v2.model` of the
joonson/syncnet_python project through that project's evaluation; numbers are comparable only when
every input is prepared the same way. This module is written from that project's description and
matches these facts of it (each checked against its SyncNetModel.py, SyncNetInstance.py and
run_pipeline.py; no code is taken from it):

Network (state_dict keys and shapes of the released file):
- four nn.Sequential blocks `netcnnaud`, `netfcaud`, `netcnnlip`, `netfclip`; layer indices inside
  each are those of the reference (ReLU and pooling layers occupy indices), so the released
  state_dict loads with strict key matching;
- audio: (B,1,13,20) MFCC -> 2D convs 64, 192, 384, 256, 256, 512 (the last 5x4, valid), batch
  norm and ReLU after each, max pooling (1x1), (3x3 stride 1x2), (3x3 stride 2) -> 512 ->
  Linear 512, BatchNorm1d, ReLU, Linear 1024;
- video: (B,3,5,224,224) -> 3D convs 96 (5x7x7 stride 1x2x2), 256 (1x5x5 stride 1x2x2, pad
  0x1x1), 256, 256, 256 (1x3x3 pad 0x1x1), 512 (1x6x6 valid), batch norm and ReLU after each, max
  pooling (1x3x3 stride 1x2x2) after the first, second (pad 0x1x1) and fifth -> 512 -> the same
  fully connected head as the audio.

Inputs:
- video resampled to 25 fps, audio to 16 kHz mono;
- face crops 224x224, BGR channel order (OpenCV's), raw 0..255 values as floats (no scaling, no
  mean subtraction), stacked 5 consecutive frames at a time, as (B,3,5,224,224);
- the crop around a face box (run_pipeline.py): half-size s = max(box width, height) / 2 and the
  box centre, each median-filtered over 13 frames along the track (zero-padded ends, as
  scipy.signal.medfilt does); rows from cy - s to cy + 1.8 s, columns cx - 1.4 s to cx + 1.4 s
  (crop scale 0.4), outside the frame filled with the value 110, then resized to 224x224
  (bilinear);
- audio as 16-bit integer sample values (the reference reads a pcm_s16le WAV), MFCC of
  python_speech_features' `mfcc(signal, 16000)` defaults: 25 ms frames (400 samples) every 10 ms
  (160), rectangular window, pre-emphasis 0.97, |FFT|^2 / 512 on 512 points, 26 triangular mel
  filters from 0 Hz to 8 kHz, natural log, DCT-II (orthonormal), 13 coefficients, sinusoidal
  lifter 22, coefficient 0 replaced by the log of the frame's total power; frames of 100 per
  second, so video frame i owns MFCC frames 4i..4i+3 and its 5-frame stack the 20 frames
  4i..4i+19;
- the number of stacks: min(video frames, floor(audio samples / 640)) - 5.

Scores (SyncNetInstance.evaluate, vshift 15):
- for every video stack i and shift d in -15..15, the Euclidean distance between its embedding
  and the audio embedding of stack i + d (torch's pairwise_distance, eps 1e-6), the audio
  embeddings zero-padded beyond both ends;
- the mean distance over stacks for each shift; LSE-D is its minimum, LSE-C is the median (the
  middle of the 31 values) minus the minimum, and the offset is 15 minus the index of the
  minimum: offset = -d at the best shift. A negative offset means the sound comes late (the
  audio of mouth frame i is heard at frame i - offset); positive, early.

Not reproduced (and why the numbers may differ slightly from a reference run): the reference
decodes JPEG frames written by FFmpeg (-qscale:v 2) and an XVID crop video, resamples with FFmpeg
(frames_at_25fps follows the fps filter's frame choice; for -ar 16000 we use a polyphase filter
where FFmpeg has its own resampler), and finds faces with S3FD where FUSE uses its tracks.

Weights: syncnet_v2.model (a torch.save of the state_dict) is read with weights_only loading
(lipsync.backends.read_state_dict); nothing in the file can run code.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from ..core.types import check_fps
from ..models.cache import ModelCache

log = logging.getLogger(__name__)

FPS = 25  # the video rate SyncNet was trained on
SAMPLE_RATE = 16000  # the audio rate
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
FACE_SIZE = 224  # side of a face crop
STACK_FRAMES = 5  # video frames per embedding (0.2 s)
MFCC_PER_FRAME = 4  # 100 MFCC frames per second / 25 video frames per second
MFCC_PER_STACK = 20  # MFCC frames per audio embedding (0.2 s)
EMBEDDING_SIZE = 1024
VSHIFT = 15  # the offset search: -15..15 frames (0.6 s each way)
CROP_SCALE = 0.40  # run_pipeline.py --crop_scale
CROP_FILL = 110  # the value of pixels outside the frame
BOX_MEDIAN_FRAMES = 13  # median filter over the track's boxes

# MFCC (python_speech_features.mfcc defaults at 16 kHz)
MFCC_WINDOW = 400  # samples, 25 ms
MFCC_STEP = 160  # samples, 10 ms
MFCC_FFT = 512
MFCC_FILTERS = 26
MFCC_COEFFICIENTS = 13
MFCC_LIFTER = 22
PREEMPHASIS = 0.97
INT16_SCALE = 32768.0  # float audio in -1..1 -> 16-bit sample values (as FFmpeg's pcm_s16le)

LICENCE = "syncnet_python (joonson): MIT licence for the code; the released SyncNet weights are for research use"


class SyncNetLoadError(ValueError):
    """The file is not a SyncNet checkpoint of the released layout."""


# Layer tables: ("conv", in, out, kernel, stride, padding), ("bn", channels), ("relu",),
# ("pool", kernel, stride, padding). The order is the reference's, so indices match its keys.
AUDIO_CNN = (
    ("conv", 1, 64, (3, 3), (1, 1), (1, 1)), ("bn", 64), ("relu",), ("pool", (1, 1), (1, 1), 0),
    ("conv", 64, 192, (3, 3), (1, 1), (1, 1)), ("bn", 192), ("relu",), ("pool", (3, 3), (1, 2), 0),
    ("conv", 192, 384, (3, 3), (1, 1), (1, 1)), ("bn", 384), ("relu",),
    ("conv", 384, 256, (3, 3), (1, 1), (1, 1)), ("bn", 256), ("relu",),
    ("conv", 256, 256, (3, 3), (1, 1), (1, 1)), ("bn", 256), ("relu",), ("pool", (3, 3), (2, 2), 0),
    ("conv", 256, 512, (5, 4), (1, 1), (0, 0)), ("bn", 512), ("relu",),
)
VIDEO_CNN = (
    ("conv", 3, 96, (5, 7, 7), (1, 2, 2), 0), ("bn", 96), ("relu",), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), ("bn", 256), ("relu",), ("pool", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("bn", 256), ("relu",),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("bn", 256), ("relu",),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("bn", 256), ("relu",), ("pool", (1, 3, 3), (1, 2, 2), 0),
    ("conv", 256, 512, (1, 6, 6), (1, 1, 1), 0), ("bn", 512), ("relu",),
)


def _cnn(table, dims: int) -> nn.Sequential:
    conv, norm, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)
    layers = []
    for kind, *args in table:
        if kind == "conv":
            in_channels, out_channels, kernel, stride, padding = args
            layers.append(conv(in_channels, out_channels, kernel_size=kernel, stride=stride, padding=padding))
        elif kind == "bn":
            layers.append(norm(args[0]))
        elif kind == "relu":
            layers.append(nn.ReLU())
        else:
            kernel, stride, padding = args
            layers.append(pool(kernel_size=kernel, stride=stride, padding=padding))
    return nn.Sequential(*layers)


def _head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING_SIZE))


class SyncNet(nn.Module):
    """forward_audio((B,1,13,20) MFCC) -> (B,1024); forward_video((B,3,5,224,224) BGR 0..255) -> (B,1024)."""

    def __init__(self) -> None:
        super().__init__()
        self.netcnnaud = _cnn(AUDIO_CNN, 2)
        self.netfcaud = _head()
        self.netcnnlip = _cnn(VIDEO_CNN, 3)
        self.netfclip = _head()

    def forward_audio(self, mfcc_stacks: torch.Tensor) -> torch.Tensor:
        features = self.netcnnaud(mfcc_stacks)  # (B,512,1,1)
        return self.netfcaud(features.flatten(1))

    def forward_video(self, face_stacks: torch.Tensor) -> torch.Tensor:
        features = self.netcnnlip(face_stacks)  # (B,512,1,1,1)
        return self.netfclip(features.flatten(1))


def is_syncnet_state_dict(state_dict: dict) -> bool:
    """True when the tensors have the released file's first and last layers."""

    def shape(key):
        value = state_dict.get(key)
        return tuple(value.shape) if hasattr(value, "shape") else None

    return (
        shape("netcnnaud.0.weight") == (64, 1, 3, 3)
        and shape("netcnnlip.0.weight") == (96, 3, 5, 7, 7)
        and shape("netfcaud.3.weight") == (EMBEDDING_SIZE, 512)
        and shape("netfclip.3.weight") == (EMBEDDING_SIZE, 512)
    )


def build_syncnet(state_dict: dict, source: str = "state_dict") -> SyncNet:
    """A SyncNet in eval mode with these weights, loaded strictly (every key, every shape).

    Batch-norm `num_batches_tracked` counters, absent from files saved by torch before 0.4.1,
    are filled in by torch itself. Raises SyncNetLoadError naming `source` otherwise.
    """
    if not is_syncnet_state_dict(state_dict):
        sample = ", ".join(list(state_dict)[:4])
        raise SyncNetLoadError(
            f"{source} must be a SyncNet checkpoint (syncnet_v2.model of syncnet_python), but its {len(state_dict)} tensors "
            f"(first keys: {sample}) are not; put syncnet_v2.model in models/syncnet"
        )
    net = SyncNet()
    try:
        net.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as error:
        lines = str(error).splitlines()
        raise SyncNetLoadError(f"{source} must hold a complete SyncNet state_dict, but loading it failed: {' '.join(lines[:3])}") from None
    return net.eval()


def read_syncnet(path: str, device=None) -> SyncNet:
    """Read a checkpoint (weights only: .model / .pth / .pt torch files, .safetensors) into a SyncNet."""
    from .backends import UnsupportedLipsyncModel, read_state_dict

    name = os.path.basename(path)
    try:
        state_dict = read_state_dict(path)
    except UnsupportedLipsyncModel as error:
        raise SyncNetLoadError(str(error)) from None
    net = build_syncnet(state_dict, source=name)
    if device is not None:
        net = net.to(device)
    log.info("loaded %s as SyncNet", name)
    return net


_cache = ModelCache(size=1)


def load_syncnet(path: str, device=None) -> SyncNet:
    """The SyncNet of a checkpoint on `device`, kept while the file is unchanged (models/cache.py)."""
    return _cache.load("syncnet", path, lambda: read_syncnet(path, device), device)


# --- audio -------------------------------------------------------------------------------------


def resample_audio_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(S,) mono samples at sample_rate -> (S',) float32 at 16 kHz (polyphase, exact ratio)."""
    from .audio import resample

    return resample(np.asarray(samples, dtype=np.float32), int(sample_rate), SAMPLE_RATE)


def as_int16_values(samples: np.ndarray) -> np.ndarray:
    """Float audio in -1..1 -> float64 16-bit sample values, rounded and clipped as FFmpeg writes
    pcm_s16le (round(x * 32768) into -32768..32767): the scale the reference computes MFCCs at."""
    return np.clip(np.rint(np.asarray(samples, dtype=np.float64) * INT16_SCALE), -32768, 32767)


def hz_to_mel(hz):
    """The HTK mel scale python_speech_features uses: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mfcc_filterbank(sample_rate: int = SAMPLE_RATE, fft_size: int = MFCC_FFT, filters: int = MFCC_FILTERS) -> np.ndarray:
    """(filters, fft_size // 2 + 1) triangular filters with peak 1, edges on whole FFT bins.

    The filters + 2 edges are evenly spaced in mel from 0 Hz to sample_rate / 2 and snapped down
    to bins: floor((fft_size + 1) * f / sample_rate). Filter j rises from edge j to edge j+1 and
    falls to edge j+2 (value (bin - a) / (b - a) on the way up, (c - bin) / (c - b) down).
    """
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), filters + 2))
    edges = np.floor((fft_size + 1) * edges_hz / sample_rate).astype(np.int64)
    bank = np.zeros((filters, fft_size // 2 + 1))
    bins = np.arange(fft_size // 2 + 1)
    for j in range(filters):
        low, mid, high = edges[j : j + 3]
        rising = (bins >= low) & (bins < mid)
        falling = (bins >= mid) & (bins < high)
        bank[j, rising] = (bins[rising] - low) / (mid - low)
        bank[j, falling] = (high - bins[falling]) / (high - mid)
    return bank


def _dct_ii_orthonormal(count: int, length: int) -> np.ndarray:
    """(count, length) rows of the orthonormal DCT-II: row k, column n = w_k cos(pi k (2n+1) / 2N)."""
    n = np.arange(length)
    basis = np.cos(np.pi * np.arange(count)[:, None] * (2 * n[None, :] + 1) / (2 * length))
    basis *= math.sqrt(2.0 / length)
    basis[0] *= math.sqrt(0.5)
    return basis


def mfcc(samples_16k: np.ndarray) -> np.ndarray:
    """(S,) mono audio at 16 kHz, float in -1..1 -> (F, 13) float64 MFCCs, 100 frames per second.

    F = 1 + ceil((S - 400) / 160) (1 when S <= 400); the last frame is zero-padded. The audio is
    first scaled to 16-bit sample values (as_int16_values): the reference's scale, which sets
    coefficient 0 (the log power). See the module docstring for the settings.
    """
    signal = as_int16_values(np.asarray(samples_16k).reshape(-1))
    emphasized = np.concatenate([signal[:1], signal[1:] - PREEMPHASIS * signal[:-1]])
    count = 1 if len(emphasized) <= MFCC_WINDOW else 1 + math.ceil((len(emphasized) - MFCC_WINDOW) / MFCC_STEP)
    padded = np.zeros((count - 1) * MFCC_STEP + MFCC_WINDOW)
    padded[: len(emphasized)] = emphasized
    frames = np.lib.stride_tricks.sliding_window_view(padded, MFCC_WINDOW)[::MFCC_STEP][:count]
    power = np.abs(np.fft.rfft(frames, MFCC_FFT, axis=1)) ** 2 / MFCC_FFT  # (F, 257)
    tiny = np.finfo(np.float64).eps
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, tiny, energy)
    mel = power @ mfcc_filterbank().T
    mel = np.where(mel == 0, tiny, mel)
    cepstra = np.log(mel) @ _dct_ii_orthonormal(MFCC_COEFFICIENTS, MFCC_FILTERS).T
    cepstra *= 1.0 + (MFCC_LIFTER / 2.0) * np.sin(np.pi * np.arange(MFCC_COEFFICIENTS) / MFCC_LIFTER)
    cepstra[:, 0] = np.log(energy)
    return cepstra


# --- video -------------------------------------------------------------------------------------


def frames_at_25fps(frame_count: int, fps, start: int = 0) -> np.ndarray:
    """Source frame indices of the 25 fps timeline over frames [start, start + frame_count).

    As FFmpeg's fps filter (rounding to nearest): source frame k lands on 25 fps slot
    round(k * 25 / fps) (halves up), and slot n shows the last frame that landed at or before it,
    k = ceil((n + 1/2) * fps / 25) - 1. The slots are every n whose time n / 25 falls in the span:
    ceil(start * 25 / fps) .. ceil((start + count) * 25 / fps) - 1. Returns (n,) int64 absolute
    source indices, clipped to [start, start + frame_count).
    """
    fps = check_fps(fps)
    first = math.ceil(Fraction(int(start)) * FPS / fps)
    stop = math.ceil(Fraction(int(start) + int(frame_count)) * FPS / fps)
    shown = [math.ceil((Fraction(int(n)) + Fraction(1, 2)) * fps / FPS) - 1 for n in range(first, stop)]
    return np.clip(np.array(shown, dtype=np.int64), int(start), int(start) + int(frame_count) - 1)


def first_slot_at_25fps(start: int, fps) -> int:
    """The first 25 fps slot at or after source frame `start`: ceil(start * 25 / fps)."""
    return math.ceil(Fraction(int(start)) * FPS / check_fps(fps))


def _median_filter(values: np.ndarray, kernel: int) -> np.ndarray:
    """scipy.signal.medfilt: the median of each window of `kernel`, zeros beyond both ends."""
    from scipy.signal import medfilt

    return medfilt(np.asarray(values, dtype=np.float64), kernel_size=kernel)


def crop_boxes(xyxy: np.ndarray) -> np.ndarray:
    """(T,4) face boxes of one track's consecutive frames -> (T,3) (cx, cy, s) float64: the crop
    centre and half-size of each frame, median-filtered over 13 frames as the reference does."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4 or not np.isfinite(xyxy).all():
        raise ValueError(f"xyxy must be a finite (T, 4) array of face boxes, but got shape {xyxy.shape}")
    half = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) / 2.0
    centre_y = (xyxy[:, 1] + xyxy[:, 3]) / 2.0
    centre_x = (xyxy[:, 0] + xyxy[:, 2]) / 2.0
    return np.stack([_median_filter(centre_x, BOX_MEDIAN_FRAMES), _median_filter(centre_y, BOX_MEDIAN_FRAMES), _median_filter(half, BOX_MEDIAN_FRAMES)], axis=1)


def face_crop(frame_rgb_uint8: np.ndarray, box: np.ndarray) -> np.ndarray:
    """One (H,W,3) uint8 RGB frame and its (cx, cy, s) -> the (224,224,3) uint8 BGR SyncNet crop.

    The reference pads the frame by p = int(1.8 s) on every side with 110 and cuts rows
    int(cy + p - s) .. int(cy + p + 1.8 s) and columns int(cx + p - 1.4 s) .. int(cx + p + 1.4 s)
    of the padded frame (a cut running past the padded frame is shortened, as numpy slicing
    does); the same window is cut here without building the padded frame.
    """
    import cv2

    centre_x, centre_y, half = (float(v) for v in box)
    if not half > 0:
        raise ValueError(f"the face box must have a positive size, but got half-size {half}")
    height, width = frame_rgb_uint8.shape[:2]
    pad = int(half * (1 + 2 * CROP_SCALE))
    top, bottom = int(centre_y + pad - half), int(centre_y + pad + half * (1 + 2 * CROP_SCALE))
    left, right = int(centre_x + pad - half * (1 + CROP_SCALE)), int(centre_x + pad + half * (1 + CROP_SCALE))
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, height + 2 * pad), min(right, width + 2 * pad)
    if bottom <= top or right <= left:
        raise ValueError(f"the face crop at ({centre_x:.1f}, {centre_y:.1f}) size {2 * half:.1f} lies outside the {width}x{height} frame")
    window = np.full((bottom - top, right - left, 3), CROP_FILL, np.uint8)
    # the padded frame's rows pad..pad+height hold the frame
    src_top, src_bottom = max(top - pad, 0), min(bottom - pad, height)
    src_left, src_right = max(left - pad, 0), min(right - pad, width)
    if src_bottom > src_top and src_right > src_left:
        window[src_top + pad - top : src_bottom + pad - top, src_left + pad - left : src_right + pad - left] = frame_rgb_uint8[src_top:src_bottom, src_left:src_right, ::-1]
    return cv2.resize(window, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)


# --- embeddings and scores ---------------------------------------------------------------------


def stack_count(frame_count: int, sample_count: int) -> int:
    """Embeddings for a clip: min(frames, floor(samples / 640)) - 5, at least 0 (the reference's count)."""
    return max(min(int(frame_count), int(sample_count) // SAMPLES_PER_FRAME) - STACK_FRAMES, 0)


def _device_dtype(net: SyncNet):
    parameter = next(net.parameters())
    return parameter.device, parameter.dtype


@torch.no_grad()
def video_embeddings(net: SyncNet, face_crops_bgr: np.ndarray, count: int | None = None, *, batch_size: int = 20, check_interrupt=None) -> np.ndarray:
    """(T,224,224,3) uint8 BGR face crops at 25 fps -> (count, 1024) float32: row i embeds frames
    i..i+4. count defaults to T - 4 (every full stack); the reference uses stack_count(T, S)."""
    crops = np.asarray(face_crops_bgr)
    if crops.ndim != 4 or crops.shape[1:] != (FACE_SIZE, FACE_SIZE, 3):
        raise ValueError(f"face_crops_bgr must be a (T, {FACE_SIZE}, {FACE_SIZE}, 3) array, but got shape {crops.shape}")
    count = max(len(crops) - STACK_FRAMES + 1, 0) if count is None else int(count)
    if count > max(len(crops) - STACK_FRAMES + 1, 0):
        raise ValueError(f"count must be at most {max(len(crops) - STACK_FRAMES + 1, 0)} for {len(crops)} frames, but got {count}")
    device, dtype = _device_dtype(net)
    out = []
    for first in range(0, count, batch_size):
        if check_interrupt is not None:
            check_interrupt()
        last = min(first + batch_size, count)
        pixels = torch.from_numpy(np.ascontiguousarray(crops[first : last + STACK_FRAMES - 1])).to(device=device, dtype=dtype)
        pixels = pixels.permute(3, 0, 1, 2)  # (T,H,W,C) -> (C,T,H,W)
        stacks = pixels.unfold(1, STACK_FRAMES, 1).permute(1, 0, 4, 2, 3)  # (B,C,5,H,W)
        out.append(net.forward_video(stacks).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, EMBEDDING_SIZE), np.float32)


@torch.no_grad()
def audio_embeddings(net: SyncNet, audio_16k: np.ndarray, count: int | None = None, *, batch_size: int = 100) -> np.ndarray:
    """(S,) mono float audio in -1..1 at 16 kHz -> (count, 1024) float32: row i embeds MFCC frames
    4i..4i+19 (the sound of video frames i..i+4, audio sample 0 at video frame 0). count defaults
    to every full stack."""
    cepstra = torch.from_numpy(mfcc(audio_16k).T.copy())  # (13, F)
    available = max((cepstra.shape[1] - MFCC_PER_STACK) // MFCC_PER_FRAME + 1, 0)
    count = available if count is None else int(count)
    if count > available:
        raise ValueError(f"count must be at most {available} for {len(np.asarray(audio_16k).reshape(-1))} samples, but got {count}")
    if count == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    device, dtype = _device_dtype(net)
    stacks = cepstra.unfold(1, MFCC_PER_STACK, MFCC_PER_FRAME).permute(1, 0, 2)[:count, None]  # (count,1,13,20)
    out = [net.forward_audio(stacks[first : first + batch_size].to(device=device, dtype=dtype)).float().cpu() for first in range(0, count, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, EMBEDDING_SIZE), np.float32)


def syncnet_embeddings(net: SyncNet, face_crops_bgr: np.ndarray, audio_16k: np.ndarray, *, batch_size: int = 20, check_interrupt=None) -> tuple[np.ndarray, np.ndarray]:
    """Video and audio embeddings of one face's crops at 25 fps and the audio of the same span,
    as many as the reference computes: (video (T',1024), audio (T',1024)) float32 with
    T' = stack_count(T, S) (may be 0). face_crops_bgr (T,224,224,3) uint8 BGR, frame 0 at the
    audio's sample 0; audio_16k (S,) float mono in -1..1 at 16 kHz."""
    count = stack_count(len(face_crops_bgr), len(np.asarray(audio_16k).reshape(-1)))
    video = video_embeddings(net, face_crops_bgr, count, batch_size=batch_size, check_interrupt=check_interrupt)
    return video, audio_embeddings(net, audio_16k, count)


def av_offset_distances(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(T',D) video and (T',D) audio embeddings -> (T', 2*vshift+1) float32 distances.

    Column j of row i is the distance from video stack i to audio stack i + j - vshift; an audio
    stack outside 0..T'-1 is a zero vector (the reference pads with zeros). Distance is torch's
    pairwise_distance: ||v - a + 1e-6||_2.
    """
    video = torch.as_tensor(np.asarray(video_emb, dtype=np.float32))
    audio = torch.as_tensor(np.asarray(audio_emb, dtype=np.float32))
    if video.ndim != 2 or video.shape != audio.shape:
        raise ValueError(f"video_emb and audio_emb must be 2D arrays of one shape (T', D), but got {tuple(video.shape)} and {tuple(audio.shape)}")
    if not isinstance(vshift, (int, np.integer)) or vshift < 0:
        raise ValueError(f"vshift must be a non-negative int, but got {vshift!r}")
    width = 2 * int(vshift) + 1
    padded = torch.nn.functional.pad(audio, (0, 0, vshift, vshift))
    windows = padded.unfold(0, width, 1).permute(0, 2, 1)  # (T', width, D): row i holds audio i-vshift .. i+vshift
    distances = torch.nn.functional.pairwise_distance(video[:, None, :].expand_as(windows), windows)
    return distances.numpy()


@dataclass(frozen=True)
class LSE:
    """Lip-sync scores of one span. min_distance = LSE-D (lower is better), confidence = LSE-C
    (higher is better), offset in 25 fps frames (0 = in sync; < 0 the sound comes late),
    stacks = the 5-frame stacks averaged (0 when the span was too short: the scores are NaN)."""

    min_distance: float
    confidence: float
    offset: int
    stacks: int


def lse(distances: np.ndarray, vshift: int = VSHIFT) -> LSE:
    """LSE-D, LSE-C and the offset from av_offset_distances' (T', 2*vshift+1) table.

    The mean over stacks per shift; LSE-D its minimum (the first, on ties), LSE-C the median
    (the lower middle value for an even count, as torch.median) minus the minimum, offset =
    vshift - index of the minimum.
    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[1] != 2 * vshift + 1:
        raise ValueError(f"distances must be a (T', {2 * vshift + 1}) array for vshift {vshift}, but got shape {distances.shape}")
    if len(distances) == 0:
        return LSE(float("nan"), float("nan"), 0, 0)
    mean = distances.mean(axis=0)
    best = int(np.argmin(mean))
    median = np.sort(mean)[(len(mean) - 1) // 2]
    return LSE(float(mean[best]), float(median - mean[best]), int(vshift - best), len(distances))


def framewise_confidence(distances: np.ndarray, vshift: int = VSHIFT, kernel: int = 9) -> np.ndarray:
    """(T',) per-stack confidence at the clip's best shift, median-filtered over `kernel` stacks:
    median of the mean distances - this stack's distance at the best shift (the reference's
    "framewise conf"; high where this mouth matches the sound, e.g. for finding who speaks)."""
    distances = np.asarray(distances, dtype=np.float64)
    if len(distances) == 0:
        return np.zeros(0)
    mean = distances.mean(axis=0)
    best = int(np.argmin(mean))
    median = np.sort(mean)[(len(mean) - 1) // 2]
    return _median_filter(median - distances[:, best], kernel)
