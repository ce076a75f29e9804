"""comfyui-fuse models for a ComfyUI install: ComfyUI's models folder, files of the wrong size, --verify,
and the fuse.py launcher run with a Python that has no comfyui-fuse command."""

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fuse_cli_runner import run_cli
from fuse_http_server import loopback_server

from comfyui_fuse.cli import app
from comfyui_fuse.cli.models import resolve_models_dir
from comfyui_fuse.models.downloads import CATALOGUE, ModelDownload

ROOT = Path(__file__).resolve().parents[2]
DATA = random.Random(11).randbytes(50_000)


def make_comfyui(folder: Path) -> Path:
    """A folder that looks like a ComfyUI checkout (main.py, folder_paths.py, custom_nodes/)."""
    (folder / "custom_nodes").mkdir(parents=True)
    (folder / "main.py").write_text("")
    (folder / "folder_paths.py").write_text("")
    return folder


@pytest.fixture
def no_model_env(monkeypatch):
    """No models folder chosen by the environment (the test machine may set these)."""
    monkeypatch.delenv("FUSE_MODELS_DIR", raising=False)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)


@pytest.fixture
def blob(monkeypatch):
    """A catalogue entry for DATA (folder lipsync, file blob.pth) served only through --url-base."""
    entry = ModelDownload("blob", "lipsync", "blob.pth", "https://models.invalid/files/blob.pth", hashlib.sha256(DATA).hexdigest(), len(DATA), "test data")
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    return entry


def place(models: Path, data: bytes) -> Path:
    path = models / "lipsync" / "blob.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def list_rows(argv) -> tuple[dict, str]:
    code, out, err = run_cli(["models", "list", *argv])
    assert code == 0, err
    lines = out.splitlines()
    return {line.split()[0]: line for line in lines[1:-1]}, lines[-1]


# --- which models folder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "models_dir, comfyui, env, pack_in_comfyui, expected",
    [
        ("mine", "ComfyUI", {"FUSE_MODELS_DIR": "env", "COMFYUI_PATH": "ComfyUI"}, True, ("mine", "--models-dir")),
        (None, "ComfyUI", {"FUSE_MODELS_DIR": "env"}, False, ("ComfyUI/models", "--comfyui")),
        (None, "portable", {}, False, ("portable/ComfyUI/models", "--comfyui")),
        (None, None, {"FUSE_MODELS_DIR": "env", "COMFYUI_PATH": "ComfyUI"}, True, ("env", "$FUSE_MODELS_DIR")),
        (None, None, {"COMFYUI_PATH": "ComfyUI"}, True, ("ComfyUI/models", "$COMFYUI_PATH")),
        (None, None, {}, True, ("ComfyUI/models", "the ComfyUI this pack is installed in")),
        (None, None, {}, False, ("cwd/models", "the current folder")),
    ],
    ids=["models-dir-wins", "comfyui-flag", "portable-folder", "fuse-env", "comfyui-env", "pack-in-custom-nodes", "current-folder"],
)
def test_models_folder_is_chosen_in_order(tmp_path, monkeypatch, no_model_env, models_dir, comfyui, env, pack_in_comfyui, expected):
    make_comfyui(tmp_path / "ComfyUI")
    make_comfyui(tmp_path / "portable" / "ComfyUI")
    pack = tmp_path / ("ComfyUI/custom_nodes" if pack_in_comfyui else "elsewhere") / "ComfyUI-FUSE"
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    path, source = resolve_models_dir(models_dir and str(tmp_path / models_dir), comfyui and str(tmp_path / comfyui), pack_dir=str(pack))
    assert (path, source) == (str(tmp_path / expected[0]), expected[1])


def test_a_folder_that_is_no_comfyui_is_refused(tmp_path, no_model_env):
    code, _, err = run_cli(["models", "list", "--comfyui", tmp_path])
    assert code == app.EXIT_USER_ERROR and "--comfyui must be the ComfyUI folder" in err and str(tmp_path) in err, err


def test_list_reads_comfyuis_models_folder(tmp_path, no_model_env, blob):
    comfyui = make_comfyui(tmp_path / "ComfyUI")
    place(comfyui / "models", DATA)
    rows, folder = list_rows(["--comfyui", comfyui])
    assert rows["blob"].split()[3] == "yes", rows["blob"]
    assert folder == f"models folder: {comfyui / 'models'} (--comfyui)"


# --- installed means the catalogue file ---------------------------------------------------------


@pytest.mark.parametrize(
    "data, verify, state",
    [
        (DATA, False, "yes"),
        (DATA[:20_000], False, "incomplete/wrong size"),
        (DATA + b"x", False, "incomplete/wrong size"),
        (DATA, True, "yes, sha256 ok"),
        (bytes(len(DATA)), False, "yes"),
        (bytes(len(DATA)), True, "sha256 mismatch"),
    ],
    ids=["right-size", "truncated", "too-long", "verified", "same-size-unverified", "same-size-verified"],
)
def test_list_says_installed_only_for_the_catalogue_file(tmp_path, no_model_env, blob, data, verify, state):
    place(tmp_path, data)
    rows, _ = list_rows(["--models-dir", tmp_path] + (["--verify"] if verify else []))
    assert rows["blob"].split("MB", 1)[1].split("  test data")[0].strip() == state, rows["blob"]


def test_download_leaves_a_wrong_size_file_alone_and_says_what_to_do(tmp_path, no_model_env, blob):
    path = place(tmp_path, DATA[:1000])
    with loopback_server() as server:
        server.serve("/files/blob.pth", DATA)
        code, _, err = run_cli(["models", "download", "blob", "--models-dir", tmp_path, "--url-base", server.base])
        assert server.requests == [], "nothing is fetched while a wrong file is in the way"
    assert code == app.EXIT_USER_ERROR and "exists but is incomplete/wrong size" in err and "delete or move it" in err, err
    assert path.read_bytes() == DATA[:1000], "a file the user put there is never overwritten"


def test_download_goes_into_the_comfyui_the_pack_is_installed_in(tmp_path, no_model_env, blob, monkeypatch):
    comfyui = make_comfyui(tmp_path / "ComfyUI")
    monkeypatch.setattr("comfyui_fuse.cli.models.PACK_DIR", str(comfyui / "custom_nodes" / "ComfyUI-FUSE"))
    monkeypatch.chdir(tmp_path)
    with loopback_server() as server:
        server.serve("/files/blob.pth", DATA)
        code, out, err = run_cli(["models", "download", "blob", "--url-base", server.base])
    assert code == 0, err
    assert (comfyui / "models" / "lipsync" / "blob.pth").read_bytes() == DATA
    assert not (tmp_path / "models").exists(), "nothing may land in ./models of the current folder"


# --- the command for a ComfyUI install ----------------------------------------------------------


def test_the_console_script_is_the_command_line_main():
    assert '\n[project.scripts]\ncomfyui-fuse = "comfyui_fuse.cli:main"\n' in (ROOT / "pyproject.toml").read_text()
    from comfyui_fuse import cli

    assert cli.main is app.main


def test_fuse_py_runs_the_command_line_from_custom_nodes_and_uses_comfyuis_models(tmp_path):
    """What the README tells a ComfyUI user: `<ComfyUI's python> ComfyUI/custom_nodes/ComfyUI-FUSE/fuse.py models list`."""
    comfyui = make_comfyui(tmp_path / "ComfyUI")
    pack = comfyui / "custom_nodes" / "ComfyUI-FUSE"
    shutil.copytree(ROOT, pack, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "tests", "bench", "docs", "workflows", "demo_out"))
    truncated = comfyui / "models" / "ultralytics" / "bbox" / "face_yolov8n.pt"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(b"not the model")
    env = {name: value for name, value in os.environ.items() if name not in ("FUSE_MODELS_DIR", "COMFYUI_PATH", "PYTHONPATH")}
    result = subprocess.run([sys.executable, str(pack / "fuse.py"), "models", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"models folder: {comfyui / 'models'} (the ComfyUI this pack is installed in)", result.stdout
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert "incomplete/wrong size" in rows["face_yolov8n"] and " no " in rows["face_yolov8m"], result.stdout
