"""Fixtures of the quality tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def embedder(tmp_path):
    """A random-weight ArcFace (tests/fuse_insightface_models.py) loaded as FUSE loads one."""
    from fuse_insightface_models import arcface_onnx

    from comfyui_fuse.models.face_embedders import load_arcface_embedder

    return load_arcface_embedder("arcface", str(arcface_onnx(tmp_path / "w600k_r50.onnx")))
