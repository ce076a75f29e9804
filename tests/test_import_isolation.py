"""The layers: host-free packages never load ComfyUI, nodes/ or cli/; the pack imports without ComfyUI."""

import subprocess
import sys

import pytest

HOST_MODULES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "server", "nodes", "execution")


CORE_PACKAGES = ["core", "tracking", "analysis", "compositing", "sampling", "restoration", "lipsync", "models", "media", "quality", "speaker"]
ORCHESTRATORS = ["pipeline", "streaming"]  # modules: the stages in memory and for video files


@pytest.mark.parametrize("package", CORE_PACKAGES + ORCHESTRATORS)
def test_core_package_loads_no_host_module(package):
    code = (
        "import sys, pkgutil, importlib\n"
        f"p = importlib.import_module('comfyui_fuse.{package}')\n"
        "for m in pkgutil.iter_modules(getattr(p, '__path__', [])):\n"
        f"    importlib.import_module('comfyui_fuse.{package}.' + m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {HOST_MODULES!r}\n"
        "             or n.startswith(('comfyui_fuse.nodes', 'comfyui_fuse.cli')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stdout.strip()
    assert loaded == "", f"importing comfyui_fuse.{package} loaded host, node or command-line modules: {loaded}"


def test_pack_imports_without_comfyui_and_lists_fuse_nodes():
    code = "import comfyui_fuse as p; print(len(p.NODE_CLASS_MAPPINGS)); print(all(k.startswith('FUSE') for k in p.NODE_CLASS_MAPPINGS))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, prefixed = result.stdout.split()
    assert int(count) > 0, "the pack registered no nodes"
    assert prefixed == "True", "every node id must start with FUSE"
