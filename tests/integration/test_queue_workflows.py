"""The bundled workflows run in a real ComfyUI through `comfyui-fuse queue`, on tiny test models.

Needs COMFYUI_PATH (and COMFYUI_PYTHON); skipped with the reason printed otherwise (conftest.py).
Models are random-weight nets of the real architectures written into the server's temporary model
folders under the names the workflows select: GFPGANv1.4.pth (spandrel's GFPGAN, ~330 MB, made in
a few seconds) and wav2lip_gan.pth (FUSE's Wav2Lip in the released {"state_dict"} layout). The
input is a short synthetic clip of two real face photos with a sine tone, uploaded with --input.
Faces are found by the built-in Haar detector (the temporary folders hold no detector model).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from comfyui_fuse.media import synthetic
from comfyui_fuse.cli.client import ui_to_api
from comfyui_fuse.media.video import read_video, write_video

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
CLIP_FRAMES = 12  # the Haar detector keeps both demo faces from 12 frames on
CLIP_SIZE = (360, 640)  # (H, W): faces a third of the height, above FUSE Lipsync's 64 px minimum
TONE_RATE = 44100
PROGRESS_LINE = re.compile(r"\(node \d+\) \[[#-]{24}\] \d+/\d+$", re.MULTILINE)


@pytest.fixture(scope="module")
def object_info(comfyui):
    return comfyui.client.object_info()


def write_clip(folder: Path, frame_count: int) -> tuple[Path, synthetic.Scene]:
    """An mp4 of the demo faces at 30000/1001 fps with a 440 Hz stereo tone as long as the video."""
    scene = synthetic.demo_scene(frame_count=frame_count, frame_size=CLIP_SIZE)
    seconds = frame_count / float(scene.fps)
    time = torch.arange(int(round(seconds * TONE_RATE)), dtype=torch.float32) / TONE_RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 440.0 * time)
    path = folder / f"talking heads {frame_count}.mp4"
    write_video(path, synthetic.render(scene), scene.fps, {"waveform": torch.stack([tone, tone])[None], "sample_rate": TONE_RATE})
    return path, scene


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory) -> tuple[Path, synthetic.Scene]:
    return write_clip(tmp_path_factory.mktemp("clip"), CLIP_FRAMES)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> tuple[Path, synthetic.Scene]:
    """3 frames: one face is tracked (a GFPGAN forward takes 10-20 s on 2 CPU cores)."""
    return write_clip(tmp_path_factory.mktemp("short_clip"), 3)


@pytest.fixture(scope="module")
def restorer_model(comfyui) -> Path:
    """A random-weight GFPGAN (spandrel's architecture, the full 512 configuration) as GFPGANv1.4.pth."""
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    path = comfyui.model_dir("facerestore_models") / "GFPGANv1.4.pth"
    torch.save({"params_ema": GFPGAN().state_dict()}, path)  # the released file's layout
    return path


@pytest.fixture(scope="module")
def lipsync_model(comfyui) -> Path:
    """A random-weight Wav2Lip saved as the released wav2lip_gan.pth is laid out ({"state_dict"}, "module." keys)."""
    from comfyui_fuse.lipsync.wav2lip import Wav2Lip

    torch.manual_seed(0)
    net = Wav2Lip().eval()
    path = comfyui.model_dir("lipsync") / "wav2lip_gan.pth"
    torch.save({"state_dict": {"module." + key: value for key, value in net.state_dict().items()}}, path)
    return path


def queue(comfyui, workflow: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    """`comfyui-fuse queue WORKFLOW --server ... --out OUT [options]`, as a user runs it."""
    command = [sys.executable, "-m", "comfyui_fuse.cli", "queue", str(workflow), "--server", comfyui.url, "--out", str(out), "--timeout", "900", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200)


def check_success(result: subprocess.CompletedProcess, comfyui) -> list[Path]:
    """The command succeeded, drew a progress bar, and printed the files it downloaded; returns them."""
    assert result.returncode == 0, f"exit {result.returncode}\nstderr:\n{result.stderr}\nserver log tail:\n{comfyui.log_text()[-3000:]}"
    assert PROGRESS_LINE.search(result.stderr), f"no progress bar line on stderr:\n{result.stderr}"
    files = [Path(line) for line in result.stdout.splitlines() if line.strip()]
    assert files and all(path.is_file() and path.stat().st_size > 0 for path in files), f"downloaded {files}"
    return files


def single_video(files: list[Path]):
    videos = [path for path in files if path.suffix == ".mp4"]
    assert len(videos) == 1, f"expected one saved video, got {files}"
    return read_video(str(videos[0]))


def assert_same_clip_shape(video, source):
    assert video.frame_count == source.frame_count and video.frame_size == source.frame_size, (
        f"output {video.frame_count} frames of {video.frame_size}, input {source.frame_count} of {source.frame_size}"
    )
    # ComfyUI's Create Video / Save Video round the rate to 1/1000 (30000/1001 is saved as 2997/100).
    assert abs(float(video.fps) - float(source.fps)) < 1e-3, f"fps {video.fps}, input {source.fps}"
    assert video.audio is not None, "the input's audio must reach the saved video (GetVideoComponents -> CreateVideo)"


def changed_pixels(video, source) -> np.ndarray:
    """(N,H,W) bool: pixels the workflow changed beyond H.264 re-encoding noise."""
    return np.abs(video.frames.astype(np.int16) - source.frames.astype(np.int16)).max(axis=-1) > 40


def face_regions(scene, frame_size, grow: float, top: float, bottom: float) -> np.ndarray:
    """(N,H,W) bool: each ground-truth face box, widened by grow * its width on both sides and
    cut from top (fraction of its height from its top edge) to bottom (fraction below its top)."""
    height, width = frame_size
    regions = np.zeros((scene.frame_count, height, width), bool)
    for boxes in scene.boxes:
        for index, (x1, y1, x2, y2) in enumerate(boxes):
            if not np.isfinite([x1, y1, x2, y2]).all():
                continue
            side = x2 - x1
            rows = slice(max(int(y1 + top * (y2 - y1)), 0), max(int(np.ceil(y1 + bottom * (y2 - y1))), 0))
            columns = slice(max(int(x1 - grow * side), 0), max(int(np.ceil(x2 + grow * side)), 0))
            regions[index, rows, columns] = True
    return regions


@pytest.mark.parametrize("name", sorted(path.stem for path in WORKFLOWS.glob("*.json")))
def test_ui_workflow_converts_to_its_api_twin_with_the_real_schemas(object_info, name):
    converted = ui_to_api(json.loads((WORKFLOWS / f"{name}.json").read_text()), object_info)
    api = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())
    assert {key: node["inputs"] for key, node in converted.items()} == {key: node["inputs"] for key, node in api.items()}, (
        f"{name}: the real server's input order reads the UI workflow's widget values differently from api/{name}.json"
    )


def test_queue_track_preview_from_the_ui_format_file(comfyui, tmp_path):
    result = queue(comfyui, WORKFLOWS / "track_preview.json", tmp_path, "--set", f"FUSE Demo Clip.frames={CLIP_FRAMES}")
    files = check_success(result, comfyui)
    assert "converted the UI-format workflow" in result.stderr
    assert [path.suffix for path in files] == [".webp", ".json"], f"the preview animation and the tracks JSON, got {files}"
    assert len(json.loads(files[1].read_text())["tracks"]) == 2, "the demo clip shows two people"


def test_queue_restore_faces(comfyui, tmp_path, short_clip, restorer_model):
    path, scene = short_clip
    result = queue(comfyui, WORKFLOWS / "api" / "restore_faces.json", tmp_path, "--input", f"file={path}", "--set", "FUSE Crop Face Sequences.face_size=128")
    video, source = single_video(check_success(result, comfyui)), read_video(str(path))
    assert_same_clip_shape(video, source)
    changed = changed_pixels(video, source)
    assert changed.sum() > 500, "a random-weight restorer must visibly change the face (was it found?)"
    # crops are the face box plus 0.4 of its side around it; the ellipse blend stays inside them
    outside = changed & ~face_regions(scene, source.frame_size, grow=0.5, top=-0.5, bottom=1.5)
    assert outside.sum() == 0, f"{outside.sum()} pixels changed outside the pasted faces"


def test_queue_lipsync_wav2lip(comfyui, tmp_path, clip_with_audio, lipsync_model):
    """Restoration is skipped the way a user bypasses it: FUSE Paste Faces takes FUSE Lipsync's crops directly."""
    path, scene = clip_with_audio
    workflow = WORKFLOWS / "api" / "lipsync_wav2lip.json"
    lipsync_id = next(node_id for node_id, node in json.loads(workflow.read_text()).items() if node["class_type"] == "FUSELipsync")
    result = queue(comfyui, workflow, tmp_path, "--input", f"file={path}", "--set", "FUSE Crop Face Sequences.face_size=128", "--set", f'FUSE Paste Faces.crops=["{lipsync_id}", 0]')
    video, source = single_video(check_success(result, comfyui)), read_video(str(path))
    assert_same_clip_shape(video, source)
    changed = changed_pixels(video, source)
    assert changed.sum() > 200, "the random-weight Wav2Lip mouths must change pixels"
    lower_faces = face_regions(scene, source.frame_size, grow=0.1, top=0.4, bottom=1.25)
    # While the hand covers a face the Haar cascade's box for it is off (it may take in the hand),
    # and the mouth follows the tracked box, not the ground truth: only unoccluded frames are judged.
    hidden = np.zeros(len(changed), bool)
    for start, stop, _ in scene.occluders:
        hidden[start:stop] = True
    changed, lower_faces = changed[~hidden], lower_faces[~hidden]
    outside = changed & ~lower_faces
    # 2 %: Haar's boxes for the second demo face reach a little above its ground-truth box
    assert outside.sum() <= 0.02 * changed.sum(), f"only the lower faces may change (edit_mask), but {outside.sum()} of {changed.sum()} changed pixels lie elsewhere"


def test_queue_analysis_report(comfyui, tmp_path, clip_with_audio):
    path, _ = clip_with_audio
    result = queue(comfyui, WORKFLOWS / "analysis_report.json", tmp_path, "--input", f"file={path}")
    files = check_success(result, comfyui)
    reports = [file for file in files if file.suffix == ".json"]
    assert len(reports) == 1, f"one report (shown by two nodes, written once), got {files}"
    report = json.loads(reports[0].read_text())
    faces = report["faces"]["results"] + report["faces"]["unknown_faces"]
    assert len(faces) == 2, f"the clip shows two people, the report lists {[face['character_id'] for face in faces]}"
    assert_same_clip_shape(single_video(files), read_video(str(path)))


SPEECH_SECONDS = (0.4, 0.7)  # the two-speaker clip's tone: silence before and after


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory) -> tuple[Path, synthetic.Scene]:
    """30 frames of the demo faces at 30000/1001 fps; a tone from 0.4 to 0.7 s, silence around it."""
    scene = synthetic.demo_scene(frame_count=30, frame_size=CLIP_SIZE)
    time = torch.arange(int(30 / float(scene.fps) * TONE_RATE), dtype=torch.float32) / TONE_RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 220.0 * time) * ((time >= SPEECH_SECONDS[0]) & (time < SPEECH_SECONDS[1]))
    path = tmp_path_factory.mktemp("speech_clip") / "two speakers.mp4"
    write_video(path, synthetic.render(scene), scene.fps, {"waveform": torch.stack([tone, tone])[None], "sample_rate": TONE_RATE})
    return path, scene


@pytest.fixture(scope="module")
def sync_models(comfyui) -> dict:
    """Random-weight who-speaks models under the names the workflow's options take: SyncNet in the
    released layout (models/syncnet/syncnet_v2.model) and an ONNX landmarker shaped like 1k3d68."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fuse_insightface_models import landmark_3d68_onnx
    from fuse_syncnet_models import released_state_dict, save_released_checkpoint

    save_released_checkpoint(comfyui.model_dir("syncnet") / "syncnet_v2.model", released_state_dict(seed=0))
    landmark_3d68_onnx(comfyui.model_dir("insightface") / "buffalo_l" / "1k3d68.onnx")
    return {"syncnet": "syncnet/syncnet_v2.model", "landmarks": "insightface/buffalo_l/1k3d68.onnx"}


@pytest.mark.parametrize("method", ["syncnet", "landmarks"])
def test_queue_lipsync_two_speakers_routes_the_speech(comfyui, tmp_path, speech_clip, lipsync_model, sync_models, method):
    """Threshold 0 makes every face on screen speak wherever the audio has speech (the random-weight
    models' sync scores are noise), so the routing itself is what is checked: mouths change only
    during the speech, with its fade, and the report and timeline come back."""
    path, scene = speech_clip
    result = queue(
        comfyui, WORKFLOWS / "lipsync_two_speakers.json", tmp_path, "--input", f"file={path}",
        "--set", f"FUSE Active Speaker.sync_model={sync_models[method]}", "--set", "FUSE Active Speaker.threshold=0.0",
        "--set", "FUSE Crop Face Sequences.face_size=128",
    )
    files = check_success(result, comfyui)
    report = json.loads(next(file for file in files if file.suffix == ".json").read_text())
    assert report["method"] == method and report["speech"], f"the tone is speech: {report['speech']}"
    assert any(file.suffix == ".png" for file in files), f"the timeline picture comes back, got {files}"
    video, source = single_video(files), read_video(str(path))
    assert_same_clip_shape(video, source)
    speaking = np.zeros(source.frame_count, bool)
    for segment in report["segments"]:
        speaking[max(segment["start_frame"] - 3, 0) : segment["end_frame"] + 3] = True  # fade_frames 3 around each segment
    changed = changed_pixels(video, source)
    assert report["segments"] and changed[speaking].sum() > 100, "the speaking faces' mouths must change"
    per_frame = changed.sum(axis=(1, 2))  # outside the speech only H.264 re-encoding noise (tens of pixels on the demo photos)
    assert per_frame[~speaking].max() < 0.05 * per_frame[speaking].mean(), (
        f"frames outside the speech changed: {dict(zip(np.flatnonzero(~speaking).tolist(), per_frame[~speaking].tolist()))}; "
        f"speaking frames change {per_frame[speaking].mean():.0f} pixels on average"
    )
    outside = changed & ~tracked_face_regions(source.frames, source.fps, grow=0.5)
    assert outside.sum() <= 0.01 * changed.sum(), f"only the faces may change, but {outside.sum()} of {changed.sum()} changed pixels lie elsewhere"


def tracked_face_regions(frames: np.ndarray, fps, grow: float) -> np.ndarray:
    """(N,H,W) bool: the boxes the server's detector (Haar: its model folders hold no detector) and tracker find (run here),
    widened by grow x their side on every side: where FUSE Crop Face Sequences cuts its crops."""
    from comfyui_fuse.models.face_detectors import HAAR_OPTION, detect_faces, load_face_detector
    from comfyui_fuse.models.store import ModelStore
    from comfyui_fuse.tracking.track import track_faces

    tracks = track_faces(detect_faces(load_face_detector(HAAR_OPTION, ModelStore()), frames), fps=fps)
    regions = np.zeros(frames.shape[:3], bool)
    for index in range(len(tracks)):
        for frame in np.flatnonzero(tracks.present[index]):
            x1, y1, x2, y2 = tracks.xyxy[index, frame]
            side = max(x2 - x1, y2 - y1)
            regions[frame, max(int(y1 - grow * side), 0) : int(y2 + grow * side) + 1, max(int(x1 - grow * side), 0) : int(x2 + grow * side) + 1] = True
    return regions
