"""Random-weight face restorers built from spandrel's real architecture classes (no download).

spandrel's GFPGAN / CodeFormer loaders fix the full 512 configuration (~86 M / ~68 M parameters,
10-20 s per forward on one CPU thread); RestoreFormer reads its size from the weights and is
built small. CodeFormer needs spandrel_extra_arches (non-commercial licence), a test-only
requirement: its cases are skipped without it. Tests import this module by name (tests/conftest.py
puts tests/ on sys.path); tests/conftest.py saves them once per session (saved_restorers).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

needs_extra_arches = pytest.mark.skipif(importlib.util.find_spec("spandrel_extra_arches") is None, reason="spandrel_extra_arches (CodeFormer) is not installed")

# (arch, file format) pairs saved and loaded: both formats for the small net, one each for the big
# ones (300 MB files; the format path does not depend on the architecture)
SAVED = [("GFPGAN", ".pth"), ("CodeFormer", ".safetensors"), ("RestoreFormer", ".pth"), ("RestoreFormer", ".safetensors")]


def case(arch, *values):
    """A parametrize case for arch, skipped for CodeFormer when its package is missing."""
    return pytest.param(arch, *values, marks=needs_extra_arches if arch == "CodeFormer" else ())


ARCHS = [case("GFPGAN"), case("RestoreFormer"), case("CodeFormer")]


def build_net(arch: str) -> torch.nn.Module:
    """A random-weight net of the real architecture, shaped so spandrel's loader can rebuild it."""
    torch.manual_seed(0)
    if arch == "GFPGAN":
        from spandrel.architectures.GFPGAN import GFPGAN

        return GFPGAN().eval()
    if arch == "RestoreFormer":
        from spandrel.architectures.RestoreFormer import RestoreFormer

        # six levels bring 512 down to the 16x16 latent the attention expects; 32 channels is the
        # fewest GroupNorm(32) allows; head_size 8 is what spandrel's loader assumes
        return RestoreFormer(n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), num_res_blocks=1, z_channels=32, resolution=512, attn_resolutions=(16,), head_size=8).eval()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    return CodeFormer(dim_embd=64, n_head=8, n_layers=1, codebook_size=64, connect_list=["32", "64"]).eval()


def save_restorer(state: dict, path: Path) -> Path:
    """Save a state dict as .safetensors, or as .pth in the released GFPGAN / CodeFormer layout {"params_ema": state}."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path


def save_restorers(folder: Path, installed: set[str]) -> dict:
    """arch -> (state_dict, {extension: path}) for the SAVED pairs whose arch is installed, each net built once."""
    models = {}
    for arch, extension in SAVED:
        if arch not in installed:
            continue
        if arch not in models:
            models[arch] = ({k: v.contiguous() for k, v in build_net(arch).state_dict().items()}, {})
        state, paths = models[arch]
        paths[extension] = str(save_restorer(state, folder / f"{arch}{extension}"))
    return models
