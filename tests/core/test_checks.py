"""core.checks: numbers, choices, pixel values, audio samples, socket types, state dict keys, memory."""

import sys

import numpy as np
import pytest
import torch

from comfyui_fuse.core import checks
from comfyui_fuse.core.checks import check_choice, check_number


@pytest.mark.parametrize(
    "value, kwargs",
    [
        (0, dict(low=0)),
        (1.5, dict(low=0, high=2)),
        (np.float32(0.5), dict(low=0, high=1)),
        (np.int64(3), dict(low=1, integer=True)),
        (-7.0, dict()),
        (1, dict(low=0.5, high=1)),  # a bound is inclusive
    ],
)
def test_numbers_in_range_pass_unchanged(value, kwargs):
    assert check_number("x", value, **kwargs) is value


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (float("nan"), dict(low=0), "x must be a number >= 0, but got nan"),
        (np.float32("nan"), dict(low=0, high=1), "x must be a number in [0, 1], but got "),
        (float("nan"), dict(), "x must be a number, but got nan"),  # no bound to compare with: NaN is still refused
        (float("inf"), dict(low=0), "x must be a number >= 0, but got inf"),
        (-float("inf"), dict(high=0), "x must be a number <= 0, but got -inf"),
        (-1, dict(low=0), "x must be a number >= 0, but got -1"),
        (3, dict(low=0, high=2), "x must be a number in [0, 2], but got 3"),
        (True, dict(low=0), "x must be a number >= 0, but got True"),  # a bool is not a number of frames
        ("2", dict(low=0), "x must be a number >= 0, but got '2'"),
        (None, dict(low=0), "x must be a number >= 0, but got None"),
        (2.0, dict(low=1, integer=True), "x must be an int >= 1, but got 2.0"),
        (0, dict(low=1, integer=True, note=" frame"), "x must be an int >= 1 frame, but got 0"),
    ],
)
def test_bad_numbers_are_refused_by_name(value, kwargs, message):
    with pytest.raises(ValueError) as error:
        check_number("x", value, **kwargs)
    assert str(error.value).startswith(message), f"got {error.value}"


def test_a_wrong_type_can_be_a_type_error():
    with pytest.raises(TypeError, match=r"^x must be an int, but got float$"):
        check_number("x", 2.5, 0, integer=True, type_error=True)
    with pytest.raises(TypeError, match=r"^x must be a number, but got bool$"):
        check_number("x", True, 0, type_error=True)
    with pytest.raises(ValueError, match=r"^x must be an int >= 1, but got 0$"):  # a bad value stays a ValueError
        check_number("x", 0, 1, integer=True, type_error=True)


def test_choices():
    assert check_choice("mode", "box", ("box", "ellipse")) == "box"
    with pytest.raises(ValueError, match=r"^mode must be one of \['box', 'ellipse'\], but got 'hull'; pick one$"):
        check_choice("mode", "hull", ("box", "ellipse"), "; pick one")
    with pytest.raises(ValueError, match="but got 3"):
        check_choice("mode", 3, ("box",))


@pytest.mark.parametrize(
    "images",
    [
        torch.rand(2, 8, 8, 3),
        torch.ones(2, 200, 200, 3, dtype=torch.float16),  # its float16 sum overflows; every value is finite
        np.ones((1, 4, 4, 3), np.float32) * 1.2,  # overshoot from resampling is allowed
        torch.full((1, 4, 4, 3), 255, dtype=torch.uint8),  # uint8 is 0..255 by definition
    ],
    ids=["unit-float", "float16-big-sum", "small-overshoot", "uint8"],
)
def test_valid_pixels_pass(images):
    checks.check_image_values("images", images)


@pytest.mark.parametrize(
    "images, frame_numbers, message",
    [
        (torch.full((2, 4, 4, 3), 255.0), None, r"images must hold float pixels in 0..1 \(a ComfyUI IMAGE\), but got values up to 255; these look like 0..255 pixels: divide them by 255"),
        (np.stack([np.zeros((4, 4, 3)), np.full((4, 4, 3), np.inf)]).astype(np.float32), [10, 14], r"images must hold finite pixel values, but frame 14 holds NaN or inf"),
        (torch.zeros(3, 4, 4, 3).index_fill_(0, torch.tensor([2]), float("nan")), None, r"frame 2 holds NaN or inf; the frames were broken before they reached FUSE"),
    ],
    ids=["0-255", "inf-numpy", "nan-torch"],
)
def test_bad_pixels_are_refused_naming_the_frame(images, frame_numbers, message):
    with pytest.raises(ValueError, match=message):
        checks.check_image_values("images", images, frame_numbers)


@pytest.mark.parametrize(
    "waveform, expected",
    [
        (np.array([0, 16384, -32768], np.int16), [0.0, 0.5, -1.0]),
        (torch.tensor([2**30, -(2**31)], dtype=torch.int32), [0.5, -1.0]),
        (torch.tensor([0.25, -0.5], dtype=torch.float64), [0.25, -0.5]),
    ],
    ids=["int16", "int32", "float64"],
)
def test_audio_samples_as_float(waveform, expected):
    samples = checks.audio_waveform_float("audio", waveform)
    assert samples.dtype == np.float32
    np.testing.assert_allclose(samples, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int64, np.bool_])
def test_integer_audio_without_one_convention_is_refused(dtype):
    with pytest.raises(TypeError, match=rf"audio waveform must hold float samples in -1..1 \(or int16 / int32 PCM\), but got dtype {np.dtype(dtype).name}"):
        checks.audio_waveform_float("audio", np.zeros(4, dtype))


def test_check_instance_names_the_socket_and_says_nothing_was_connected():
    with pytest.raises(TypeError, match=r"^tracks must be FUSE_TRACKS \(dict\), but got nothing \(None\); connect the FUSE_TRACKS output"):
        checks.check_instance("tracks", None, dict, "FUSE_TRACKS")
    with pytest.raises(TypeError, match=r"but got list"):
        checks.check_instance("tracks", [], dict, "FUSE_TRACKS")


def test_state_dict_keys_must_be_text():
    checks.check_state_dict_keys("model file 'a.pth'", {"w": 1, "params_ema": {"x": 2}})
    with pytest.raises(ValueError, match=r"model file 'a.pth' must map parameter names \(text\) to tensors, but \['params_ema'\] has keys such as 3"):
        checks.check_state_dict_keys("model file 'a.pth'", {"params_ema": {3: 1}})

    class Refused(ValueError):
        pass

    with pytest.raises(Refused):
        checks.check_state_dict_keys("b.pth", {None: 1}, Refused)


def test_memory_is_checked_against_what_is_available(monkeypatch):
    monkeypatch.setattr(checks, "available_memory_bytes", lambda device=None: 2_000_000_000)
    checks.check_memory("the crops", 1_999_999_999, "lower face_size")
    with pytest.raises(ValueError, match=r"^the crops must fit in memory, but would need 80.53 GB and only 2.00 GB is available; lower face_size"):
        checks.check_memory("the crops", 400 * 4096 * 4096 * 3 * 4, "lower face_size")
    monkeypatch.setattr(checks, "available_memory_bytes", lambda device=None: None)
    checks.check_memory("the crops", 10**15, "lower face_size")  # unknown: no refusal


def test_available_memory_falls_back_to_proc_meminfo_without_psutil(monkeypatch):
    import os

    if not os.path.isfile("/proc/meminfo"):
        pytest.skip("no /proc/meminfo on this system")
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    available = checks.available_memory_bytes()
    assert isinstance(available, int) and available > 0, f"MemAvailable of /proc/meminfo must be read, but got {available!r}"


@pytest.mark.parametrize("count, text", [(80_530_636_800, "80.53 GB"), (41_000_000, "41.00 MB"), (1_500, "1.50 kB"), (12, "12 bytes")])
def test_format_bytes(count, text):
    assert checks.format_bytes(count) == text
