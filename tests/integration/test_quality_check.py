"""FUSE Quality Check and `comfyui-fuse qc` on the bundled workflows' outputs, in a real ComfyUI.

- restore_faces_qc (restore_faces with FUSE Quality Check between FUSE Paste Faces and Create
  Video) with a random-weight GFPGAN (the restorer of test_queue_workflows.py): the random
  restorer changes the face beyond the thresholds, so the check fails the segment and its
  fallback puts the original face back: the saved video is the source again inside the faces
  (within H.264 noise), where the unchecked restore differs.
- long_video_restore with its restorer taken out and the lossless codec (the VIDEO path), with
  FUSE Video Quality Check on its output and a random-weight SyncNet in models/syncnet (its scores
  and the Haar boxes' jitter are measured, not judged): nothing fails, so the checked VIDEO is the
  processed file itself; then `comfyui-fuse qc` runs on the
  saved output file against the source, outside ComfyUI.
Needs COMFYUI_PATH (and COMFYUI_PYTHON); skipped with the reason printed otherwise (conftest.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from comfyui_fuse.media import stream, synthetic
from comfyui_fuse.media.video import read_video, write_video
from comfyui_fuse.quality.report import report_schema

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows" / "api"
TESTS = Path(__file__).resolve().parents[1]
CHECK_SETTINGS = dict(syncnet="auto", embedder="auto", fallback=True, fade_frames=2, segment_seconds=3.0, min_lse_c=3.0, max_av_offset=2, min_identity=0.5,
                      max_flicker=4.0, max_jitter=0.05, max_seam=0.5, face_margin=1.0, shot_cuts="")


def write_clip(path: Path, frame_count: int, frame_size) -> synthetic.Scene:
    """The demo faces at 30000/1001 fps with a 440 Hz stereo tone as long as the video."""
    scene = synthetic.demo_scene(frame_count=frame_count, frame_size=frame_size)
    time = torch.arange(int(frame_count / float(scene.fps) * 48000)) / 48000
    tone = (0.3 * torch.sin(2 * torch.pi * 440 * time)).float()
    write_video(path, synthetic.render(scene), scene.fps, {"waveform": torch.stack([tone, tone])[None], "sample_rate": 48000})
    return scene


def queue(comfyui, prompt: dict, folder: Path, *options: str) -> tuple[subprocess.CompletedProcess, list[Path]]:
    workflow = folder / "workflow.json"
    workflow.write_text(json.dumps(prompt))
    command = [sys.executable, "-m", "comfyui_fuse.cli", "queue", str(workflow), "--server", comfyui.url, "--out", str(folder / "out"), "--timeout", "900", *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"exit {result.returncode}\nstderr:\n{result.stderr}\nserver log tail:\n{comfyui.log_text()[-3000:]}"
    return result, [Path(line) for line in result.stdout.splitlines() if line.strip()]


def quality_report(files: list[Path]) -> dict:
    reports = [json.loads(path.read_text()) for path in files if path.suffix == ".json"]
    reports = [report for report in reports if "faces" in report and "fallback" in report]
    assert len(reports) == 1, f"one quality report expected among {files}"
    report = reports[0]
    jsonschema.validate({key: value for key, value in report.items() if key != "summary"}, report_schema())
    return report


@pytest.fixture(scope="module")
def syncnet_model(comfyui) -> Path:
    """A random-weight SyncNet in syncnet_v2.model's layout (tests/fuse_syncnet_models.py)."""
    sys.path.insert(0, str(TESTS))
    from fuse_syncnet_models import released_state_dict, save_released_checkpoint

    path = comfyui.model_dir("syncnet") / "syncnet_v2.model"
    save_released_checkpoint(path, released_state_dict())
    return path


@pytest.fixture(scope="module")
def restorer_model(comfyui) -> Path:
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    path = comfyui.model_dir("facerestore_models") / "GFPGANv1.4.pth"
    if not path.exists():
        torch.save({"params_ema": GFPGAN().state_dict()}, path)
    return path


def test_quality_check_puts_the_original_face_back_after_a_bad_restore(comfyui, tmp_path, restorer_model, syncnet_model):
    """The bundled restore_faces_qc workflow, with the audio connected to the check (the way its note
    says) and the restored frames also saved unchecked, to compare."""
    source = tmp_path / "clip.mp4"
    write_clip(source, 3, (360, 640))
    prompt = json.loads((WORKFLOWS / "restore_faces_qc.json").read_text())
    node = {key: value["class_type"] for key, value in prompt.items()}
    load, paste, check = (next(k for k, c in node.items() if c == name) for name in ("GetVideoComponents", "FUSEPasteFaces", "FUSEQualityCheck"))
    prompt["100"] = {"class_type": "CreateVideo", "inputs": {"images": [paste, 0], "fps": [load, 2], "audio": [load, 1]}}
    prompt["101"] = {"class_type": "SaveVideo", "inputs": {"video": ["100", 0], "filename_prefix": "FUSE/unchecked", "format": "auto", "codec": "auto"}}
    result, files = queue(comfyui, prompt, tmp_path, "--input", f"file={source}", "--set", "FUSE Crop Face Sequences.face_size=128",
                          "--set", f'FUSE Quality Check.audio=["{load}", 1]')
    report = quality_report(files)
    assert any(path.suffix == ".png" for path in files), f"the plot is saved, got {files}"
    segments = [segment for face in report["faces"] for segment in face["segments"]]
    assert segments and all(segment["failed"] and segment["fallback"] for segment in segments), f"a random GFPGAN must fail and be put back: {segments}"
    assert report["lip_sync"]["available"] and report["fallback"]["applied"]
    original = read_video(str(source)).frames.astype(np.int16)
    videos = {("unchecked" if "unchecked" in path.name else "checked"): read_video(str(path)).frames.astype(np.int16) for path in files if path.suffix == ".mp4"}
    restored = (np.abs(videos["unchecked"] - original).max(axis=-1) > 40).sum()
    remaining = (np.abs(videos["checked"] - original).max(axis=-1) > 40).sum()
    assert restored > 2000 and remaining < 0.05 * restored, f"{remaining} of the {restored} pixels the restorer changed still differ: the original faces were not put back"


def test_video_quality_check_and_the_command_line_on_the_video_path_output(comfyui, integration_harness, tmp_path, syncnet_model):
    source = tmp_path / "long clip.mp4"
    write_clip(source, 30, (240, 424))
    prompt = integration_harness.pass_through_video_prompt(
        json.loads((WORKFLOWS / "long_video_restore.json").read_text()), codec="h264_lossless", window_frames=8, overlap_frames=2, face_size=128,
    )
    load, track, process, save = (integration_harness.node_id(prompt, name) for name in ("LoadVideo", "FUSEVideoTrackFaces", "FUSEVideoProcessFaces", "SaveVideo"))
    # a random SyncNet scores a tone at random, and Haar boxes jitter: measured, not judged here
    unjudged = {"min_lse_c": 0.0, "max_av_offset": -1, "max_jitter": 0.0}
    prompt["100"] = {"class_type": "FUSEVideoQualityCheck", "inputs": {
        "original": [load, 0], "processed": [process, 0], "tracks": [track, 0], **CHECK_SETTINGS, **unjudged, "codec": "h264_lossless", "crf": 18,
    }}
    prompt["101"] = {"class_type": "SaveImage", "inputs": {"images": ["100", 1], "filename_prefix": "FUSE/qc_plot"}}
    prompt[save]["inputs"]["video"] = ["100", 0]
    result, files = queue(comfyui, prompt, tmp_path, "--input", f"file={source}")
    report = quality_report(files)
    assert len(report["faces"]) == 2 and not any(face["failed_segments"] for face in report["faces"]), f"an unprocessed round trip passes: {report.get('summary')}"
    assert report["outside_faces"]["unchanged"] and report["fallback"] == {"enabled": True, "applied": False, "fade_frames": 2, "segments_replaced": 0}
    assert report["lip_sync"]["available"], "the processed file's own audio and models/syncnet give lip-sync figures"
    segments = [(face.get("track_id"), segment) for face in report["faces"] for segment in face["segments"]]
    assert all(segment["figures"]["sync_stacks"] > 0 for _, segment in segments), f"every segment gets SyncNet stacks: {segments}"
    saved = next(path for path in files if path.suffix == ".mp4")
    returned = np.concatenate([chunk for _, chunk in stream.iter_frames(saved)])
    original = np.concatenate([chunk for _, chunk in stream.iter_frames(source)])
    assert np.array_equal(returned, original), "nothing failed: the checked VIDEO is the processed (here lossless, unchanged) file"

    out = tmp_path / "qc.json"
    command = [sys.executable, "-m", "comfyui_fuse.cli", "qc", str(source), str(saved), "--out", str(out), "--plot", str(tmp_path / "qc.png"),
               "--detector", "haar (built-in, low quality)", "--models-dir", str(comfyui.workdir / "models"), "--min-lse-c", "0", "--max-av-offset", "-1", "--max-jitter", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    cli_report = json.loads(out.read_text())
    jsonschema.validate(cli_report, report_schema())
    assert cli_report["lip_sync"]["available"] and cli_report["outside_faces"]["unchanged"]
    assert "all passed" in done.stdout and (tmp_path / "qc.png").stat().st_size > 0
