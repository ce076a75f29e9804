"""SyncNet checkpoints and signals for tests, built at test time (no download, no weights stored).

- RELEASED_LAYOUT: the (key, shape) list of syncnet_v2.model's state_dict, written from the
  syncnet_python network description (SyncNetModel.py), independently of lipsync/syncnet.py.
- released_state_dict / save_released_checkpoint: random weights in that layout, saved as the
  2018 file was (torch's legacy format, an OrderedDict of tensors, no num_batches_tracked).
- loudness_syncnet(): a SyncNet whose weights are constructed so that its video embedding says
  how bright a 5-frame stack of uniform frames is and its audio embedding how loud the 0.2 s of
  a buzz is, both mapped to 0..1 in dimension 0 (times SCALE). A clip whose brightness follows
  the buzz's loudness frame by frame gives equal embeddings only at the true alignment.
- buzz_audio / brightness_frames: the signals that go with it.
Tests import this module by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from comfyui_fuse.lipsync.syncnet import FACE_SIZE, SAMPLE_RATE, SAMPLES_PER_FRAME, SyncNet, mfcc

# (key prefix, kind, shape args): conv weight/bias, batch norm weight/bias/running_mean/running_var.
_AUDIO = [(0, "conv", (64, 1, 3, 3)), (1, "bn", 64), (4, "conv", (192, 64, 3, 3)), (5, "bn", 192), (8, "conv", (384, 192, 3, 3)), (9, "bn", 384),
          (11, "conv", (256, 384, 3, 3)), (12, "bn", 256), (14, "conv", (256, 256, 3, 3)), (15, "bn", 256), (18, "conv", (512, 256, 5, 4)), (19, "bn", 512)]
_LIP = [(0, "conv", (96, 3, 5, 7, 7)), (1, "bn", 96), (4, "conv", (256, 96, 1, 5, 5)), (5, "bn", 256), (8, "conv", (256, 256, 1, 3, 3)), (9, "bn", 256),
        (11, "conv", (256, 256, 1, 3, 3)), (12, "bn", 256), (14, "conv", (256, 256, 1, 3, 3)), (15, "bn", 256), (18, "conv", (512, 256, 1, 6, 6)), (19, "bn", 512)]
_FC = [(0, "conv", (512, 512)), (1, "bn", 512), (3, "conv", (1024, 512))]


def _layout(prefix: str, table) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for index, kind, shape in table:
        if kind == "conv":
            rows += [(f"{prefix}.{index}.weight", shape), (f"{prefix}.{index}.bias", (shape[0],))]
        else:
            rows += [(f"{prefix}.{index}.{name}", (shape,)) for name in ("weight", "bias", "running_mean", "running_var")]
    return rows


RELEASED_LAYOUT = _layout("netcnnaud", _AUDIO) + _layout("netfcaud", _FC) + _layout("netcnnlip", _LIP) + _layout("netfclip", _FC)


def released_state_dict(seed: int = 0) -> "OrderedDict[str, torch.Tensor]":
    """Random float32 tensors in the released layout (running variances positive)."""
    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in RELEASED_LAYOUT:
        value = torch.randn(shape, generator=generator) * 0.05
        if key.endswith("running_var"):
            value = value.abs() + 0.5
        state[key] = value
    return state


def save_released_checkpoint(path, state_dict) -> None:
    """torch.save of the state_dict in torch's legacy (pre-1.6) format, as syncnet_v2.model is."""
    torch.save(OrderedDict(state_dict), str(path), _use_new_zipfile_serialization=False)


# --- the constructed loudness / brightness SyncNet ---------------------------------------------

SCALE = 10.0  # dimension 0 of an embedding runs 0..SCALE
DARK, BRIGHT = 40, 200  # uniform frame values
QUIET, LOUD = 0.02, 0.5  # buzz peak amplitudes
OFFSET = 50.0  # keeps the audio maps positive: MFCCs of the buzz lie in -40..25
ROW_MASK = 500.0  # removes every row but the first (coefficient 0) from the "min" channel


def _identity_norm(norm: torch.nn.Module) -> None:
    norm.weight.data.fill_(1.0)
    norm.bias.data.zero_()
    norm.running_mean.zero_()
    norm.running_var.fill_(1.0 - norm.eps)  # 1 / sqrt(var + eps) == 1


def _zero(conv: torch.nn.Module) -> None:
    conv.weight.data.zero_()
    conv.bias.data.zero_()


def _tap(conv: torch.nn.Module, out_channel: int, in_channel: int, value: float, row_offset: int = 0) -> None:
    """Set the kernel's centre tap (or the one row_offset rows away) of out <- in."""
    centre = [k // 2 for k in conv.kernel_size]
    centre[-2] += row_offset
    conv.weight.data[(out_channel, in_channel) + tuple(centre)] = value


def _clamp_head(head: torch.nn.Sequential, low: float, high: float) -> None:
    """Embedding dim 0 = SCALE * clamp((feature0 - low) / (high - low), 0, 1): ReLU(u) - ReLU(u - 1)."""
    first, norm, _, last = head
    for layer in (first, last):
        layer.weight.data.zero_()
        layer.bias.data.zero_()
    _identity_norm(norm)
    slope = 1.0 / (high - low)
    first.weight.data[0:2, 0] = slope
    first.bias.data[0] = -low * slope
    first.bias.data[1] = -low * slope - 1.0
    last.weight.data[0, 0] = SCALE
    last.weight.data[0, 1] = -SCALE


def _build_audio(net: SyncNet) -> None:
    """Audio feature = mean over the four time windows of (max + min) / 2 of MFCC coefficient 0.

    Channel 0 carries MFCC + OFFSET (max pooling then keeps the window's largest coefficient 0,
    the largest coefficient of the buzz); channel 1 carries OFFSET - coefficient 0 on the first
    row only (the other rows are pushed below zero with the help of channel 2, a constant 1 whose
    tap one row up reads the zero padding above the first row), so max pooling keeps OFFSET minus
    the window's smallest coefficient 0. The final 5x4 convolution reads the first row:
    (1/8) sum over windows of (max + OFFSET) - (OFFSET - min).
    """
    convs = [layer for layer in net.netcnnaud if isinstance(layer, torch.nn.Conv2d)]
    for conv in convs:
        _zero(conv)
    first, second, *middle, last = convs
    _tap(first, 0, 0, 1.0)
    first.bias.data[0] = OFFSET
    _tap(first, 1, 0, -1.0)
    first.bias.data[1] = OFFSET
    first.bias.data[2] = 1.0
    _tap(second, 0, 0, 1.0)
    _tap(second, 1, 1, 1.0)
    _tap(second, 1, 2, -ROW_MASK, row_offset=-1)
    for conv in middle:
        _tap(conv, 0, 0, 1.0)
        _tap(conv, 1, 1, 1.0)
    last.weight.data[0, 0, 0, :] = 1.0 / 8
    last.weight.data[0, 1, 0, :] = -1.0 / 8


def _build_video(net: SyncNet, frame_weights: np.ndarray) -> None:
    """Video feature = sum over the 5 frames of frame_weights[t] x the frame's mean pixel value
    (the first 3D convolution; the rest pass channel 0 through centre taps and average the 6x6)."""
    convs = [layer for layer in net.netcnnlip if isinstance(layer, torch.nn.Conv3d)]
    for conv in convs:
        _zero(conv)
    first, *middle, last = convs
    taps = first.kernel_size[1] * first.kernel_size[2] * 3
    for t, weight in enumerate(frame_weights):
        first.weight.data[0, :, t] = float(weight) / taps
    for conv in middle:
        _tap(conv, 0, 0, 1.0)
    last.weight.data[0, 0] = 1.0 / (last.kernel_size[1] * last.kernel_size[2])


@torch.no_grad()
def audio_feature(net: SyncNet, loud: np.ndarray) -> float:
    """The audio stream's feature of the buzz with this loudness pattern, from its 5th video frame."""
    cepstra = mfcc(buzz_audio(np.where(loud, LOUD, QUIET)))[16:36].T.copy()
    return float(net.netcnnaud(torch.from_numpy(cepstra).float()[None, None]).flatten()[0])


@torch.no_grad()
def loudness_syncnet() -> SyncNet:
    """The constructed SyncNet (see the module docstring), in eval mode.

    The audio feature of a stack with a quiet-to-loud step after its first p frames falls from
    the all-loud to the all-quiet value as p grows; the video stream weighs its 5 frames so that
    the same step in brightness gives the same fraction: frame t's weight is how much the audio
    feature drops when the step moves from t to t + 1. Each head maps its feature to 0..1
    between an all-quiet (all-dark) and an all-loud (all-bright) stack.
    """
    net = SyncNet().eval()
    for sequence in (net.netcnnaud, net.netcnnlip):
        for layer in sequence:
            if hasattr(layer, "running_var"):
                _identity_norm(layer)
    _build_audio(net)
    # stacks start at frame 4 of a 12-frame pattern; a step after p of the stack's frames
    steps = [audio_feature(net, np.arange(12) >= 4 + p) for p in range(6)]
    low, high = audio_feature(net, np.zeros(12, bool)), steps[0]
    fractions = (np.array(steps) - low) / (high - low)
    _build_video(net, fractions[:5] - fractions[1:])
    _clamp_head(net.netfcaud, low, high)
    frames = torch.full((1, 3, 5, FACE_SIZE, FACE_SIZE), 1.0)
    unit = float(net.netcnnlip(frames).flatten()[0])
    _clamp_head(net.netfclip, DARK * unit, BRIGHT * unit)
    return net


def buzz_audio(amplitudes: np.ndarray) -> np.ndarray:
    """16 kHz audio, one video frame (640 samples) per amplitude: a 100 Hz buzz (79 harmonics,
    fixed phases) whose period (160 samples) is the MFCC step, so every MFCC frame inside a
    steady stretch is the same but for its power."""
    amplitudes = np.asarray(amplitudes, dtype=np.float64)
    time = np.arange(len(amplitudes) * SAMPLES_PER_FRAME) / SAMPLE_RATE
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, 79)
    buzz = sum(np.sin(2 * np.pi * 100 * (k + 1) * time + phases[k]) for k in range(79))
    buzz /= np.abs(buzz).max()
    return (buzz * np.repeat(amplitudes, SAMPLES_PER_FRAME)).astype(np.float32)


def loud_pattern(frame_count: int, seed: int = 0, shortest: int = 8, longest: int = 16) -> np.ndarray:
    """(frame_count,) bool: alternating quiet and loud runs of random lengths shortest..longest."""
    rng = np.random.default_rng(seed)
    pattern, loud = [], bool(rng.integers(2))
    while len(pattern) < frame_count:
        pattern += [loud] * int(rng.integers(shortest, longest + 1))
        loud = not loud
    return np.array(pattern[:frame_count])


def brightness_frames(pattern: np.ndarray) -> np.ndarray:
    """(T,224,224,3) uint8 uniform face crops: BRIGHT where pattern is True, else DARK."""
    values = np.where(np.asarray(pattern), BRIGHT, DARK).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (len(values), FACE_SIZE, FACE_SIZE, 3)).copy()
