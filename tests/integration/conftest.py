"""Fixtures for tests against a real ComfyUI (skipped, with the reason printed, without one).

COMFYUI_PATH: a ComfyUI checkout. COMFYUI_PYTHON: the Python with ComfyUI's requirements and the
pack's requirements.txt (default: the Python running pytest). See README.md beside this file.
"""

import importlib.util
import os
from pathlib import Path

import pytest

# Test folders are not packages (pytest --import-mode=importlib), so load the harness by path.
_spec = importlib.util.spec_from_file_location("fuse_integration_harness", Path(__file__).with_name("harness.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

SKIP_REASON = (
    "COMFYUI_PATH is not set: set it to a ComfyUI checkout (and COMFYUI_PYTHON to a Python with ComfyUI's "
    "requirements and this pack's requirements.txt) to run the real-ComfyUI tests; see tests/integration/README.md"
)


@pytest.fixture(scope="session")
def comfyui():
    """A running ComfyUI with this pack (harness.ComfyUIServer); .client is a ComfyClient."""
    comfyui_path = os.environ.get("COMFYUI_PATH")
    if not comfyui_path:
        pytest.skip(SKIP_REASON)
    with harness.ComfyUIServer(comfyui_path, python=os.environ.get("COMFYUI_PYTHON") or None) as server:
        yield server
