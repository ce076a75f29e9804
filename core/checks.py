"""Input checks every layer shares, worded as every error of the pack: "x must be ..., but got ...".

A NaN compares false with every bound, so a range test alone lets it through: check_number
refuses it (x != x) and infinities before comparing. Also here: socket types (check_instance),
pixel values (check_image_values: NaN, 0..255), audio samples (audio_waveform_float: integer
PCM), state dict keys, and memory before a large allocation (check_memory). Each refuses before
any work is done, naming the input and saying what to do.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

NUMBER_TYPES = (int, float, np.integer, np.floating)
INT_TYPES = (int, np.integer)


def check_number(name: str, value, low: float | None = None, high: float | None = None, *, integer: bool = False, note: str = "", type_error: bool = False):
    """value unchanged when it is a finite number (an int when integer; a bool is neither) in
    [low, high] (None: unbounded); else ValueError "name must be an int >= 1<note>, but got 0".
    note is appended to the requirement, e.g. " source pixels" or " (0 = no fades)".
    type_error: a value of the wrong type raises TypeError "name must be an int, but got str"
    instead (the settings objects' contract: a wrong type is the caller's mistake, not a value)."""
    kind = "an int" if integer else "a number"
    if low is not None and high is not None:
        span = f" in [{low}, {high}]"
    elif low is not None:
        span = f" >= {low}"
    else:
        span = "" if high is None else f" <= {high}"
    is_number = not isinstance(value, bool) and isinstance(value, INT_TYPES if integer else NUMBER_TYPES)
    if not is_number and type_error:
        raise TypeError(f"{name} must be {kind}, but got {type(value).__name__}")
    if not is_number or value != value or math.isinf(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {kind}{span}{note}, but got {value!r}")
    return value


def check_choice(name: str, value, options: Sequence[str], note: str = "") -> str:
    """value unchanged when it is one of options; else ValueError "name must be one of [...], but got 'x'<note>"."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, but got {value!r}{note}")
    return value


# A float IMAGE holds 0..1. Values above this are not overshoot from resampling or a filter: the
# batch holds 0..255 pixels (a loader or custom node that forgot to divide by 255).
MAX_UNIT_PIXEL = 1.5
# PCM integer waveforms and the value of full scale (ComfyUI AUDIO holds floats in -1..1).
PCM_FULL_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def check_instance(name: str, value, expected: type, socket: str) -> None:
    """TypeError unless value is an `expected` (the value of socket type `socket`)."""
    if not isinstance(value, expected):
        got = "nothing (None)" if value is None else type(value).__name__
        raise TypeError(f"{name} must be {socket} ({expected.__name__}), but got {got}; connect the {socket} output of the node that makes it")


def value_range(values) -> tuple[float, float]:
    """(min, max) of a torch or numpy array in one pass and without a copy; both NaN when it holds
    a NaN, +-inf when it holds an inf. (A sum would overflow float16 pixels that are all finite,
    and summing in float64 copies the whole batch.) (0, 0) for an empty array."""
    if hasattr(values, "detach"):  # a torch tensor
        if values.numel() == 0:
            return 0.0, 0.0
        low, high = (float(v) for v in values.aminmax())
        return low, high
    values = np.asarray(values)
    if values.size == 0:
        return 0.0, 0.0
    return float(values.min()), float(values.max())


def all_finite(values) -> bool:
    """No NaN and no inf in a torch or numpy array (value_range: one pass, no full-size mask)."""
    return all(np.isfinite(value_range(values)))


def check_image_values(name: str, images, frame_numbers=None) -> None:
    """ValueError unless a float image batch [B,H,W,C] (torch or numpy) holds finite values in 0..1.

    uint8 batches pass. frame_numbers: the video frame of each row, for the message (default 0..B-1).
    """
    is_float = images.dtype.is_floating_point if hasattr(images, "detach") else np.issubdtype(np.asarray(images).dtype, np.floating)
    if not is_float:
        return
    low, high = value_range(images)
    if not (np.isfinite(low) and np.isfinite(high)):
        row = next(index for index in range(int(images.shape[0])) if not all_finite(images[index]))
        raise ValueError(
            f"{name} must hold finite pixel values, but frame {row if frame_numbers is None else int(frame_numbers[row])} holds NaN or inf; "
            "the frames were broken before they reached FUSE: check the node that made them (a decoder, an upscaler, a VAE decode)"
        )
    if high > MAX_UNIT_PIXEL:
        raise ValueError(
            f"{name} must hold float pixels in 0..1 (a ComfyUI IMAGE), but got values up to {high:g}; "
            "these look like 0..255 pixels: divide them by 255 (or load the video with a loader that outputs IMAGE)"
        )


def audio_waveform_float(name: str, waveform) -> np.ndarray:
    """An AUDIO waveform (torch or numpy) as float32 numpy in ComfyUI's -1..1 convention.

    Policy for integer samples: int16 and int32 are PCM and are converted exactly (divided by
    32768 or 2**31, the full scale of their type), with an INFO log; any other integer type
    (int8, uint8, int64, ...) has no single convention and is refused. Float samples pass as
    they are (the caller checks NaN and the range).
    """
    if hasattr(waveform, "detach"):  # a torch tensor
        waveform = waveform.detach().cpu().numpy()
    waveform = np.asarray(waveform)
    if waveform.dtype.kind == "b" or (waveform.dtype.kind in "iu" and waveform.dtype not in PCM_FULL_SCALE):
        raise TypeError(
            f"{name} waveform must hold float samples in -1..1 (or int16 / int32 PCM), but got dtype {waveform.dtype}; "
            "convert it to float (divide by the full scale of its type) before this node"
        )
    if waveform.dtype in PCM_FULL_SCALE:
        log.info("%s holds %s PCM samples; converting to float -1..1", name, waveform.dtype)
        return (waveform.astype(np.float64) / PCM_FULL_SCALE[waveform.dtype]).astype(np.float32)
    if waveform.dtype.kind not in "f":
        raise TypeError(f"{name} waveform must hold float samples in -1..1, but got dtype {waveform.dtype}")
    return waveform.astype(np.float32, copy=False)


def available_memory_bytes(device=None) -> int | None:
    """Bytes that can be allocated now on `device` (None or "cpu": system RAM), or None if unknown.

    CPU: psutil.virtual_memory().available when psutil is installed, else MemAvailable of
    /proc/meminfo (Linux); CUDA: torch.cuda.mem_get_info.
    """
    kind = getattr(device, "type", device)
    if kind not in (None, "cpu"):
        if kind == "cuda":
            import torch

            return int(torch.cuda.mem_get_info(device)[0])
        return None
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    if os.path.isfile("/proc/meminfo"):
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def format_bytes(count: float) -> str:
    """1234567890 -> '1.23 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{int(count)} bytes"


def check_memory(what: str, needed_bytes: int, advice: str, device=None) -> None:
    """ValueError before allocating `needed_bytes` for `what` when the device has less available.

    A refusal up front instead of an allocator's traceback (or the system killing the process)
    half way through: the message gives the size, what is available and `advice` (what to
    lower). No check when the available memory cannot be read.
    """
    available = available_memory_bytes(device)
    if available is not None and needed_bytes > available:
        raise ValueError(f"{what} must fit in memory, but would need {format_bytes(needed_bytes)} and only {format_bytes(available)} is available; {advice}")


def check_state_dict_keys(name: str, state_dict: dict, error: type[ValueError] = ValueError) -> None:
    """`error` (a ValueError) unless every key of a loaded state dict (and of the dicts it nests
    one level down, such as GFPGAN's "params_ema") is a parameter name (str). `name` says which file."""
    for scope, mapping in [("", state_dict)] + [(f"[{key!r}]", value) for key, value in state_dict.items() if isinstance(value, dict)]:
        bad = [key for key in mapping if not isinstance(key, str)]
        if bad:
            raise error(
                f"{name} must map parameter names (text) to tensors, but{' ' + scope if scope else ''} has keys such as {bad[0]!r} "
                f"({type(bad[0]).__name__}); it is not a model state dict: download the model file again"
            )
