"""Test-wide settings: one torch thread, ultralytics offline, no network."""

import os
import sys
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="fuse-yolo-config-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

# Test helper modules that are not tests (fuse_fake_host: the fake ComfyUI host) import by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
