"""Packaging promises of issue 2: one onnxruntime package with a working CPU provider, and a
requirements.txt that a stock ComfyUI can install from wheels."""

import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_exactly_one_onnxruntime_distribution_is_installed_and_its_cpu_provider_works():
    names = sorted({d.metadata["Name"].lower() for d in importlib.metadata.distributions() if (d.metadata["Name"] or "").lower().startswith("onnxruntime")})
    assert names == ["onnxruntime"], f"exactly one onnxruntime package must be installed (they share one module), but found {names}"
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers(), "onnxruntime's CPU provider must be available"


def test_requirements_leave_torch_to_the_host_and_pin_opencv_below_5():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    names = {re.split(r"[<>=!\[ ]", line)[0].lower() for line in lines if line}
    assert not names & {"torch", "torchvision", "torchaudio", "onnxruntime-gpu"}, f"requirements.txt must not install what the host provides or a second onnxruntime, but lists {sorted(names)}"
    opencv = [line for line in lines if line.lower().startswith("opencv-python")]
    assert opencv and "<5" in opencv[0], "opencv-python must stay below 5: 5.x dropped the Haar cascade FUSE falls back on"
