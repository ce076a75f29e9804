"""Fixtures for tests against a real ComfyUI (skipped, with the reason printed, without one).

COMFYUI_PATH: a ComfyUI checkout. COMFYUI_PYTHON: the Python with ComfyUI's requirements and the
pack's requirements.txt (default: the Python running pytest). See README.md beside this file.
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

# Test folders are not packages (pytest --import-mode=importlib), so load the harness by path.
_spec = importlib.util.spec_from_file_location("fuse_integration_harness", Path(__file__).with_name("harness.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)
_spec = importlib.util.spec_from_file_location("fuse_integration_wan_models", Path(__file__).with_name("wan_models.py"))
wan_models_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wan_models_module)

# Test-only custom nodes (never part of the pack), copied into the test ComfyUI's custom_nodes.
TEST_NODES_SOURCE = Path(__file__).with_name("zero_conditioning_node.py")
TEST_NODES_FOLDER = "fuse_test_nodes"
# Random Wan models the session's tests share (made once, ~5 s): two tiny DiTs and a Wan 2.1 VAE.
TINY_WAN_HIGH_NOISE = "fuse_test_tiny_wan_high_noise.safetensors"
TINY_WAN_LOW_NOISE = "fuse_test_tiny_wan_low_noise.safetensors"
RANDOM_WAN21_VAE = "fuse_test_random_wan21_vae.safetensors"

SKIP_REASON = (
    "COMFYUI_PATH is not set: set it to a ComfyUI checkout (and COMFYUI_PYTHON to a Python with ComfyUI's "
    "requirements and this pack's requirements.txt) to run the real-ComfyUI tests; see tests/integration/README.md"
)


@pytest.fixture(scope="session")
def integration_harness():
    """The harness module (harness.py), for its prompt helpers."""
    return harness


@pytest.fixture(scope="session")
def comfyui():
    """A running ComfyUI with this pack (harness.ComfyUIServer) and the test-only FUSETestZeroConditioning node; .client is a ComfyClient."""
    comfyui_path = os.environ.get("COMFYUI_PATH")
    if not comfyui_path:
        pytest.skip(SKIP_REASON)
    server = harness.ComfyUIServer(comfyui_path, python=os.environ.get("COMFYUI_PYTHON") or None)
    (server.custom_nodes_dir / TEST_NODES_FOLDER).mkdir()
    shutil.copyfile(TEST_NODES_SOURCE, server.custom_nodes_dir / TEST_NODES_FOLDER / "__init__.py")
    with server:
        yield server


@pytest.fixture(scope="session")
def wan_models(comfyui) -> dict:
    """Tiny random Wan DiTs and a random Wan 2.1 VAE in the server's model folders, built once per session.

    Returns the names the loaders take: {"high_noise": UNETLoader name, "low_noise": another DiT, "vae": VAELoader name}.
    """
    wan_models_module.write_wan_models(
        comfyui.comfyui_path, comfyui.python, comfyui.model_dir("diffusion_models"), comfyui.model_dir("vae"),
        dits={TINY_WAN_HIGH_NOISE: 0, TINY_WAN_LOW_NOISE: 1}, vae=RANDOM_WAN21_VAE,
    )
    return {"high_noise": TINY_WAN_HIGH_NOISE, "low_noise": TINY_WAN_LOW_NOISE, "vae": RANDOM_WAN21_VAE}
