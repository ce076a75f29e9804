"""comfyui-fuse speakers: the speaker report and timeline of the demo clip with a random-weight landmarker."""

import json
import wave

import jsonschema
import numpy as np
import pytest
import torch
from fuse_cli_runner import run_cli
from fuse_insightface_models import landmark_3d68_onnx

from comfyui_fuse.media import synthetic
from comfyui_fuse.media.video import write_video
from comfyui_fuse.speaker.report import speaker_report_schema

FRAMES = 12
RATE = 16000


def tone(seconds: float) -> np.ndarray:
    time = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * time) * (np.sin(2 * np.pi * 3 * time) > 0)).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The demo clip with a pulsing tone, and without audio."""
    folder = tmp_path_factory.mktemp("video")
    scene = synthetic.demo_scene(frame_count=FRAMES)
    frames = synthetic.render(scene)
    seconds = FRAMES / float(scene.fps)
    with_audio, silent = folder / "talk.mp4", folder / "silent.mp4"
    write_video(str(with_audio), frames, scene.fps, {"waveform": torch.from_numpy(tone(seconds))[None, None], "sample_rate": RATE})
    write_video(str(silent), frames, scene.fps)
    return with_audio, silent


@pytest.fixture(scope="module")
def landmark_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    landmark_3d68_onnx(folder / "insightface" / "buffalo_l" / "1k3d68.onnx")
    return folder


def write_wav(path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def test_speakers_writes_a_valid_report_and_a_timeline(clips, landmark_models, tmp_path):
    out, picture = tmp_path / "speakers.json", tmp_path / "timeline.png"
    code, stdout, err = run_cli(["speakers", clips[0], "--out", out, "--timeline", picture, "--models-dir", landmark_models])
    assert code == 0, f"speakers failed with exit code {code}: {err}"
    report = json.loads(out.read_text())
    jsonschema.validate({key: value for key, value in report.items() if key != "source"}, speaker_report_schema())
    assert report["method"] == "landmarks" and "1k3d68.onnx" in report["model"]
    assert report["frame_count"] == FRAMES and len(report["faces"]) == 2, f"the demo clip shows two people: {report['faces']}"
    assert report["speech"], "the pulsing tone is speech to the energy detector"
    assert picture.stat().st_size > 0 and f"wrote {out}" in stdout and "speaks" in stdout


def test_speakers_with_stems_gives_each_stem_to_at_most_one_face(clips, landmark_models, tmp_path):
    stems = [tmp_path / "a.wav", tmp_path / "b.wav"]
    write_wav(stems[0], tone(0.5))
    write_wav(stems[1], np.zeros(RATE // 2, np.float32))
    out = tmp_path / "speakers.json"
    code, stdout, err = run_cli(["speakers", clips[0], "--out", out, "--stem", stems[0], "--stem", stems[1], "--models-dir", landmark_models])
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["settings"]["stems"] == 2 and len(report["source"]["stems"]) == 2
    given = [face["stem"] for face in report["faces"] if face["stem"]]
    assert len(given) == len(set(given)), f"a stem went to two faces: {given}"


@pytest.mark.parametrize("which, extra, words", [
    (0, [], "1k3d68.onnx in models/insightface"),  # no model at all
    (1, ["--models-dir", "LANDMARKS"], "has no audio stream"),
    (0, ["--models-dir", "LANDMARKS", "--timeline", "t.jpg"], "--timeline must end in .png"),
])
def test_speakers_says_what_is_wrong(clips, landmark_models, tmp_path, which, extra, words):
    extra = [str(landmark_models) if value == "LANDMARKS" else value for value in extra]
    if "--models-dir" not in extra:
        extra += ["--models-dir", str(tmp_path)]
    out = tmp_path / "speakers.json"
    code, _, err = run_cli(["speakers", clips[which], "--out", out, *extra])
    assert code == 2 and words in err, f"exit {code}: {err}"
    assert not out.exists(), "no report is written when the run fails"
