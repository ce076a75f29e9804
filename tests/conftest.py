"""Test-wide settings: one torch thread, ultralytics offline, no network."""

import os
import sys
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="fuse-yolo-config-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# Test helper modules that are not tests (fuse_fake_host: the fake ComfyUI host) import by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def saved_restorers(tmp_path_factory):
    """arch -> (state_dict, {extension: path}): random-weight face restorers of every installed
    architecture saved once per session (GFPGAN alone is a 300 MB file), for tests/models and
    tests/restoration."""
    from comfyui_fuse.models.restorers import installed_restorers
    from fuse_restorer_models import save_restorers

    return save_restorers(tmp_path_factory.mktemp("facerestore_models"), {spec.arch_id for spec in installed_restorers()})
