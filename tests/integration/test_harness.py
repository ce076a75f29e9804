"""The harness's ComfyUI copy, without a real ComfyUI: only the tested pack is in its custom_nodes.

A user's checkout has the pack in custom_nodes/ (as README.md says to install it) and may have an
extra_model_paths.yaml naming more custom node folders; a server that ran that checkout would load
the pack twice. These tests run everywhere (no COMFYUI_PATH needed).
"""

import importlib.util
import os
import stat
from pathlib import Path

_spec = importlib.util.spec_from_file_location("fuse_integration_harness_under_test", Path(__file__).with_name("harness.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def make_user_checkout(root: Path) -> Path:
    """A stand-in ComfyUI checkout as a user has it, read-only like ../shared/comfyui/ComfyUI."""
    checkout = root / "ComfyUI"
    files = {
        "main.py": "print('stand-in')\n",
        "folder_paths.py": "base_path = None\n",
        "comfy/__init__.py": "",
        "comfy/__pycache__/x.cpython-311.pyc": "",
        "custom_nodes/ComfyUI-FUSE/__init__.py": "raise SystemExit('the installed copy must not load')\n",
        "custom_nodes/comfyui-fuse/__init__.py": "raise SystemExit('nor one installed by the manager')\n",
        "extra_model_paths.yaml": "mine:\n    custom_nodes: /somewhere/else\n",
        "models/vae/big.safetensors": "weights",
        "input/clip.mp4": "video",
        "output/ComfyUI_00001_.png": "image",
        "user/default/comfy.settings.json": "{}",
        ".git/HEAD": "ref: refs/heads/master\n",
        "venv/bin/python": "",
    }
    for relative, text in files.items():
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        (checkout / relative).write_text(text)
    for directory, _, names in os.walk(checkout):
        for name in names:
            os.chmod(Path(directory, name), 0o444)
        os.chmod(directory, 0o555)
    return checkout


def test_the_server_runs_a_copy_whose_custom_nodes_hold_only_the_tested_pack(tmp_path):
    checkout = make_user_checkout(tmp_path)
    try:
        server = harness.ComfyUIServer(checkout)
        try:
            copy = server.comfyui_path
            assert server.source_path == checkout.resolve() and copy != checkout and copy.is_relative_to(server.workdir)
            assert (copy / "main.py").read_text() == "print('stand-in')\n" and (copy / "comfy" / "__init__.py").is_file()
            assert sorted(path.name for path in copy.iterdir()) == ["comfy", "custom_nodes", "folder_paths.py", "main.py"]
            assert not (copy / "comfy" / "__pycache__").exists()
            assert server.custom_nodes_dir == copy / "custom_nodes"
            assert [path.name for path in server.custom_nodes_dir.iterdir()] == [harness.PACK_NAME]
            assert server.pack_link.is_symlink() and server.pack_link.resolve() == harness.PACK_ROOT
            assert "custom_nodes" not in server.config_path.read_text(), "the yaml must not add a custom_nodes folder"
            probe = copy / "comfy" / "written.txt"  # ComfyUI may write into its own tree
            probe.write_text("ok")
            assert stat.S_IMODE((copy / "main.py").stat().st_mode) & 0o200
        finally:
            server.cleanup()
        assert not server.workdir.exists() and harness.PACK_ROOT.is_dir()
        assert (checkout / "custom_nodes" / "ComfyUI-FUSE" / "__init__.py").is_file(), "the checkout is only read"
    finally:
        for directory, _, _ in os.walk(tmp_path):
            os.chmod(directory, 0o755)


def test_custom_node_paths_reads_comfyuis_import_times(tmp_path):
    checkout = make_user_checkout(tmp_path)
    try:
        server = harness.ComfyUIServer(checkout)
        try:
            server.log_path.write_text(
                "Import times for custom nodes:\n"
                f"   0.0 seconds: {server.custom_nodes_dir / 'fuse_test_nodes'}\n"
                f"   1.2 seconds (IMPORT FAILED): /elsewhere/custom_nodes/{harness.PACK_NAME}\n"
                f"  12.3 seconds: {server.pack_link}\n\nStarting server\n"
            )
            assert server.custom_node_paths() == [server.custom_nodes_dir / "fuse_test_nodes", Path(f"/elsewhere/custom_nodes/{harness.PACK_NAME}"), server.pack_link]
            assert len(server.pack_import_lines()) == 2
        finally:
            server.cleanup()
    finally:
        for directory, _, _ in os.walk(tmp_path):
            os.chmod(directory, 0o755)
