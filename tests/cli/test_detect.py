"""comfyui-fuse detect: the detection report of the demo clip, with and without reference headshots."""

import json

import cv2
import jsonschema
import pytest
from fuse_cli_runner import run_cli

from fuse_insightface_models import arcface_onnx

from comfyui_fuse.media import synthetic
from comfyui_fuse.analysis.report import report_schema
from comfyui_fuse.media.video import write_video

FRAMES = 12



@pytest.fixture(scope="module")
def demo_video(tmp_path_factory):
    scene = synthetic.demo_scene(frame_count=FRAMES)
    path = tmp_path_factory.mktemp("video") / "demo.mp4"
    write_video(str(path), synthetic.render(scene), scene.fps)
    return path


@pytest.fixture(scope="module")
def empty_models(tmp_path_factory):
    return tmp_path_factory.mktemp("empty_models")


@pytest.fixture(scope="module")
def arcface_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    arcface_onnx(folder / "insightface" / "buffalo_l" / "w600k_r50.onnx")
    return folder


@pytest.fixture(scope="module")
def characters_json(tmp_path_factory):
    """characters.json with headshots (the demo's two sprites) as PNG files beside it."""
    folder = tmp_path_factory.mktemp("refs")
    sprites = synthetic.face_sprites()
    for name, index in (("alice", 0), ("bob", 1)):
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(sprites[index].pixels, cv2.COLOR_RGB2BGR))
    path = folder / "characters.json"
    path.write_text(json.dumps({"alice": ["alice.png"], "bob": ["bob.png", "bob.png"]}))
    return path


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_detect_writes_a_valid_report_of_the_demo_clip(demo_video, empty_models, tmp_path):
    out = tmp_path / "report.json"
    code, stdout, err = run_cli(["detect", demo_video, "--sample-fps", 3, "--out", out, "--models-dir", empty_models])
    assert code == 0, f"detect failed with exit code {code}: {err}"
    report = load(out)
    jsonschema.validate(report, report_schema())
    assert [f["frame"] for f in report["frames"]] == [0, 9], "12 frames at 29.97 fps sampled at 3 fps"
    assert report["detector"].startswith("haar"), "no model files: the Haar cascade"
    assert report["characters_detected"] and all(c.startswith("face_") for c in report["characters_detected"]), "without --refs faces are face_1, face_2, ..."
    assert {"decode_ms", "detection_ms", "tracking_ms", "total_ms"} <= set(report["timing"])
    assert "face_1 (track 1): synced" in stdout and f"wrote {out}" in stdout


def test_detect_names_characters_from_reference_headshots(demo_video, arcface_models, characters_json, tmp_path):
    out = tmp_path / "report.json"
    code, stdout, err = run_cli(["detect", demo_video, "--refs", characters_json, "--out", out, "--models-dir", arcface_models])
    assert code == 0, f"detect failed with exit code {code}: {err}"
    report = load(out)
    jsonschema.validate(report, report_schema())
    assert report["settings"]["embedder"] == "insightface/buffalo_l/w600k_r50.onnx"
    assert [(r["character_id"], r["reference_images"]) for r in report["references"]] == [("alice", 1), ("bob", 2)]


@pytest.mark.parametrize(
    "refs, message",
    [
        ('{"alice": []}', "must be a list of 1 to 15 image files"),
        ("[1, 2]", "must map each character name"),
        ("{not json", "not valid JSON"),
        ('{"alice": ["missing.png"]}', "does not exist"),
    ],
)
def test_bad_references_exit_2_before_reading_the_video(demo_video, arcface_models, tmp_path, refs, message):
    path = tmp_path / "characters.json"
    path.write_text(refs)
    code, _, err = run_cli(["detect", demo_video, "--refs", path, "--out", tmp_path / "r.json", "--models-dir", arcface_models])
    assert code == 2 and message in err, f"expected exit 2 with {message!r}, got {code}: {err}"
    assert not (tmp_path / "r.json").exists(), "a failed run leaves no report behind"


def test_references_need_an_embedder(demo_video, empty_models, characters_json, tmp_path):
    code, _, err = run_cli(["detect", demo_video, "--refs", characters_json, "--out", tmp_path / "r.json", "--models-dir", empty_models])
    assert code == 2 and "--refs needs a face embedder" in err


def test_detect_needs_an_output(demo_video, empty_models):
    code, _, err = run_cli(["detect", demo_video, "--models-dir", empty_models])
    assert code == 2 and "--out must name the JSON report" in err


STREAM_FRAMES = 120


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    scene = synthetic.demo_scene(frame_count=STREAM_FRAMES, frame_size=(180, 320))
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    write_video(str(path), synthetic.render(scene), scene.fps)
    return path


def test_detect_holds_a_chunk_of_frames_not_the_video(long_video, empty_models, tmp_path, monkeypatch):
    """Every decoded chunk is counted while any array made from it lives: detect must never hold
    more than two chunks of the 120 frames, and never read the whole video at once."""
    import weakref

    from comfyui_fuse import streaming
    from comfyui_fuse.media import stream, video

    held = {"now": 0, "peak": 0, "chunks": 0}

    def release(count):
        held["now"] -= count

    def counting(real):
        def iter_frames(*args, **kwargs):
            for start, frames in real(*args, **kwargs):
                held["now"] += len(frames)
                held["peak"] = max(held["peak"], held["now"])
                held["chunks"] += 1
                weakref.finalize(frames, release, len(frames))
                yield start, frames
        return iter_frames

    def no_whole_video(*args, **kwargs):
        raise AssertionError("detect read the whole video into memory")

    monkeypatch.setattr(stream, "iter_frames", counting(stream.iter_frames))
    monkeypatch.setattr(streaming, "iter_frames", counting(streaming.iter_frames))
    monkeypatch.setattr(video, "read_video", no_whole_video)
    out = tmp_path / "report.json"
    code, _, err = run_cli(["detect", long_video, "--sample-fps", 0, "--out", out, "--models-dir", empty_models])
    assert code == 0, f"detect failed with exit code {code}: {err}"
    report = load(out)
    jsonschema.validate(report, report_schema())
    assert len(report["frames"]) == STREAM_FRAMES, "--sample-fps 0 analyses every frame"
    assert held["chunks"] >= 2 * STREAM_FRAMES // 32, "detection and analysis each read the file in chunks"
    assert held["peak"] <= 2 * 32 < STREAM_FRAMES, f"{held['peak']} frames were held at once"
