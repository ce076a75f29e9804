"""Start a real ComfyUI with this pack installed, for integration tests (or by hand).

ComfyUIServer runs `main.py` of a ComfyUI of its own on 127.0.0.1 and a free port: a copy of the
given checkout's code in a temporary folder, without the checkout's custom_nodes/, models/,
input/, output/, temp/, user/, extra_model_paths.yaml, .git or venvs. Its custom_nodes/ holds
only ComfyUI-FUSE (a symlink to this repository) and what a test adds, so a copy of the pack that
a user installed in the checkout (as the README says) is never loaded next to the tested one.
Everything else it writes also lives in the temporary folder: models/<folder>/ (declared through
--extra-model-paths-config), input/, output/, temp/, user/ and the database. The checkout itself
is only read (it may be read-only).

    with ComfyUIServer("/path/to/ComfyUI", python="/path/to/comfyui-venv/bin/python") as server:
        prompt_id = server.client.queue_prompt(api_workflow)
        entry = server.client.wait(prompt_id)

By hand (keeps the server running until Ctrl+C; open the printed address in a browser):

    COMFYUI_PATH=... COMFYUI_PYTHON=... python tests/integration/harness.py
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from comfyui_fuse.cli.client import ComfyClient
from comfyui_fuse.nodes.host import MODEL_SUBDIRS

PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_NAME = "ComfyUI-FUSE"  # the folder name the pack has under custom_nodes/

# ComfyUI model folder name -> path under the temporary models/ folder: FUSE's own folders plus
# the host folders the video workflows load from.
MODEL_FOLDERS = {
    **{name: Path("models", subdir).as_posix() for name, subdir in MODEL_SUBDIRS.items()},
    "ultralytics": "models/ultralytics",
    "diffusion_models": "models/diffusion_models",
    "vae": "models/vae",
    "text_encoders": "models/text_encoders",
    "clip_vision": "models/clip_vision",
    "upscale_models": "models/upscale_models",
    "loras": "models/loras",
}

# Top-level entries of a checkout the copy leaves out: the user's own nodes, models, files and
# settings (a second copy of the pack; an extra_model_paths.yaml, which main.py reads from its own
# folder, could name more custom_nodes), git's data and venvs.
NOT_COPIED = frozenset({"custom_nodes", "models", "input", "output", "temp", "user", "extra_model_paths.yaml", ".git", ".venv", "venv"})

# "  0.4 seconds: /path/custom_nodes/X" or "  0.1 seconds (IMPORT FAILED): ..." (ComfyUI's nodes.py).
IMPORT_TIME_LINE = re.compile(r"^\s*\d+\.\d seconds(?: \(IMPORT FAILED\))?: (.+)$")

# Start-up log lines that mean a custom node module failed (ComfyUI's nodes.py wording).
IMPORT_FAILURE_MARKERS = ("IMPORT FAILED", "Cannot import", "Skip ")


def node_id(prompt: dict, class_type: str) -> str:
    """The id of the (first) node of this class in an API-format prompt."""
    return next(key for key, node in prompt.items() if node["class_type"] == class_type)


def pass_through_video_prompt(prompt: dict, **process_inputs) -> dict:
    """The bundled long_video_restore prompt with its restorer taken out (faces pasted back
    unprocessed) and FUSE Process Video Faces' inputs updated with process_inputs."""
    prompt = {key: {**node, "inputs": dict(node["inputs"])} for key, node in prompt.items()}
    process = node_id(prompt, "FUSEVideoProcessFaces")
    del prompt[node_id(prompt, "FUSERestoreProcessor")], prompt[process]["inputs"]["processor"]
    prompt[process]["inputs"].update(process_inputs)
    return prompt


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def copy_comfyui(source: Path, target: Path) -> None:
    """Copy a ComfyUI checkout's code to target (not NOT_COPIED, no __pycache__), writable even from a read-only source."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {"__pycache__"} | ({name for name in names if name in NOT_COPIED} if Path(directory) == source else set())
        return {name for name in names if name in skipped or name.endswith(".pyc")}

    # copyfile writes new files with the default mode; copytree copies each folder's mode at the end.
    shutil.copytree(source, target, ignore=ignore, symlinks=True, copy_function=shutil.copyfile)
    for directory, _, _ in os.walk(target):
        os.chmod(directory, os.stat(directory).st_mode | 0o700)


class ComfyUIServer:
    """A ComfyUI subprocess with this pack; enter it to start, leave it to stop and clean up.

    comfyui_path: a ComfyUI checkout (main.py inside), copied to self.comfyui_path (in the
    temporary folder) and run from there; self.source_path is the checkout. python: the
    interpreter that has ComfyUI's requirements and this pack's requirements.txt (default: the one
    running this code). Put model files into model_dir(folder) and test nodes into
    custom_nodes_dir before entering. extra_args go to main.py as they are.
    """

    def __init__(self, comfyui_path: str | os.PathLike, python: str | None = None, extra_args: tuple[str, ...] = (), start_timeout: float = 120.0) -> None:
        self.source_path = Path(comfyui_path).resolve()
        if not (self.source_path / "main.py").is_file():
            raise ValueError(f"comfyui_path must be a ComfyUI checkout with main.py in it, but got {str(comfyui_path)!r}")
        self.python = python or sys.executable
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="fuse-comfyui-"))
        self.comfyui_path = self.workdir / "ComfyUI"
        try:
            copy_comfyui(self.source_path, self.comfyui_path)
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        # The copy's own custom_nodes folder, the only one ComfyUI scans (the yaml names none).
        self.custom_nodes_dir = self.comfyui_path / "custom_nodes"
        self.pack_link = self.custom_nodes_dir / PACK_NAME
        self.input_dir = self.workdir / "input"
        self.output_dir = self.workdir / "output"
        self.temp_dir = self.workdir / "temp"
        self.user_dir = self.workdir / "user"
        self.log_path = self.workdir / "comfyui.log"
        self.config_path = self.workdir / "extra_model_paths.yaml"
        for directory in (self.custom_nodes_dir, self.input_dir, self.output_dir, self.temp_dir, self.user_dir):
            directory.mkdir(parents=True)
        for relative in MODEL_FOLDERS.values():
            (self.workdir / relative).mkdir(parents=True, exist_ok=True)
        self.pack_link.symlink_to(PACK_ROOT, target_is_directory=True)
        self.config_path.write_text(self._model_paths_yaml())
        self.port = 0
        self.url = ""
        self.client: ComfyClient | None = None
        self._process: subprocess.Popen | None = None

    def _model_paths_yaml(self) -> str:
        # Relative paths resolve against base_path (ComfyUI's utils/extra_config.py).
        lines = ["fuse_test:", f"    base_path: {self.workdir.as_posix()}"]
        lines += [f"    {name}: {relative}" for name, relative in MODEL_FOLDERS.items()]
        return "\n".join(lines) + "\n"

    def model_dir(self, folder: str) -> Path:
        """The temporary directory of a ComfyUI model folder (e.g. "ultralytics_bbox", "vae")."""
        if folder not in MODEL_FOLDERS:
            raise ValueError(f"folder must be one of {sorted(MODEL_FOLDERS)}, but got {folder!r}")
        return self.workdir / MODEL_FOLDERS[folder]

    def command(self) -> list[str]:
        return [
            self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-api-nodes", "--disable-auto-launch",
            "--extra-model-paths-config", str(self.config_path),
            "--input-directory", str(self.input_dir),
            "--output-directory", str(self.output_dir),
            "--temp-directory", str(self.temp_dir),
            "--user-directory", str(self.user_dir),
            "--database-url", f"sqlite:///{(self.workdir / 'comfyui.db').as_posix()}",
            *self.extra_args,
        ]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> ComfyClient:
        """Start the server and wait for HTTP 200 on /; RuntimeError with the log's tail if it never answers."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(self.command(), cwd=self.comfyui_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"ComfyUI exited with code {self._process.returncode} during start-up ({self.python} {self.comfyui_path / 'main.py'}); "
                    f"COMFYUI_PYTHON must be a Python with ComfyUI's requirements and the pack's requirements.txt. Log tail:\n{log_tail(self.log_text())}"
                )
            if self._answers():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ComfyUI did not answer on {self.url} within {self.start_timeout:.0f} s. Log tail:\n{log_tail(self.log_text())}")
            time.sleep(0.5)
        self.client = ComfyClient(self.url)
        return self.client

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the server (its whole process group), kill it after `grace` seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def cleanup(self) -> None:
        """Delete the temporary folder (the pack symlink is unlinked first, never followed)."""
        if self.pack_link.is_symlink():
            self.pack_link.unlink()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def custom_node_paths(self) -> list[Path]:
        """Every custom node module ComfyUI tried to import, from its "Import times for custom nodes" lines."""
        found = (IMPORT_TIME_LINE.search(line) for line in self.log_text().splitlines())
        return [Path(match.group(1).strip()) for match in found if match]

    def pack_import_lines(self) -> list[str]:
        """ComfyUI's "Import times for custom nodes" lines for a folder named like the pack (one per copy it loaded)."""
        return [line.strip() for line in self.log_text().splitlines() if "seconds" in line and line.rstrip().endswith(f"custom_nodes/{PACK_NAME}")]

    def pack_import_line(self) -> str | None:
        """ComfyUI's "Import times for custom nodes" line for the pack, or None if it never tried."""
        lines = self.pack_import_lines()
        return lines[0] if lines else None

    def pack_import_errors(self) -> list[str]:
        """Start-up log lines saying the pack failed to import, plus any traceback through its files."""
        text = self.log_text().split("Starting server")[0]  # later tracebacks belong to prompts
        errors = [line.strip() for line in text.splitlines() if PACK_NAME in line and any(marker in line for marker in IMPORT_FAILURE_MARKERS)]
        errors += [line.strip() for line in text.splitlines() if line.lstrip().startswith("File ") and f"{PACK_NAME}/" in line]
        return errors

    def __enter__(self) -> "ComfyUIServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self.cleanup()


def main() -> int:
    comfyui_path = os.environ.get("COMFYUI_PATH")
    if not comfyui_path:
        print("COMFYUI_PATH is not set: point it at a ComfyUI checkout (see tests/integration/README.md)", file=sys.stderr)
        return 2
    with ComfyUIServer(comfyui_path, python=os.environ.get("COMFYUI_PYTHON")) as server:
        print(f"ComfyUI with {PACK_NAME} runs at {server.url} (files in {server.workdir}); Ctrl+C stops it")
        try:
            while server._process is not None and server._process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
