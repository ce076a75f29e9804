"""comfyui-fuse qc on two video files: report, plot, fallback video, and clear errors."""

from __future__ import annotations

import json
from fractions import Fraction

import jsonschema
import numpy as np
import pytest

from comfyui_fuse.media.stream import iter_frames
from comfyui_fuse.quality.report import report_schema
from comfyui_fuse.tracking.report import tracks_to_dict
from fuse_cli_runner import run_cli
from fuse_quality_builders import brighten_faces, make_clip
from fuse_video_files import write_test_video


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qc")
    clip = make_clip(frame_count=30, fps=Fraction(25))
    processed = brighten_faces(clip.frames, clip.tracks, [15], 25)
    write_test_video(folder / "original.mp4", clip.frames, fps=25, audio_seconds=1.2)
    write_test_video(folder / "processed.mp4", processed, fps=25, audio_seconds=1.2)
    (folder / "tracks.json").write_text(json.dumps({"video": {}, "tracks": tracks_to_dict(clip.tracks)}))
    (folder / "models").mkdir()
    return folder, processed


def test_qc_writes_the_report_plot_and_fallback(files):
    folder, processed = files
    code, out, err = run_cli(["qc", folder / "original.mp4", folder / "processed.mp4", "--tracks", folder / "tracks.json", "--out", folder / "qc.json",
                              "--plot", folder / "qc.png", "--fallback", folder / "fixed.mkv", "--codec", "h264_lossless", "--segment-seconds", "0.4",
                              "--shot-cuts", "none", "--models-dir", folder / "models"])
    assert code == 0, err
    report = json.loads((folder / "qc.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["lip_sync"]["reason"].startswith("no SyncNet model"), "the processed file's audio is used, but there is no SyncNet"
    assert [s["start"] for s in report["faces"][0]["segments"] if s["fallback"]] == [10]
    assert "face 1: 1 of 3 segments failed: frames 10-19 (flicker)" in out and f"wrote {folder / 'fixed.mkv'}" in out
    assert (folder / "qc.png").read_bytes()[:4] == b"\x89PNG"
    fixed = np.concatenate([chunk for _, chunk in iter_frames(folder / "fixed.mkv")])
    changed = np.flatnonzero((fixed != processed).any(axis=(1, 2, 3)))
    assert changed.min() >= 10 and changed.max() < 20, f"only the failing segment's frames change, got {changed.tolist()}"


def test_qc_without_failures_writes_no_fallback(files):
    folder, _ = files
    code, out, err = run_cli(["qc", folder / "original.mp4", folder / "original.mp4", "--tracks", folder / "tracks.json", "--out", folder / "same.json",
                              "--fallback", folder / "unused.mp4", "--shot-cuts", "none", "--models-dir", folder / "models"])
    assert code == 0, err
    assert "no segment failed" in out and not (folder / "unused.mp4").exists()
    assert json.loads((folder / "same.json").read_text())["fallback"] == {"enabled": True, "applied": False, "fade_frames": 4, "segments_replaced": 0}


def test_qc_tracks_the_original_itself_when_no_tracks_are_given(files):
    folder, _ = files
    code, out, err = run_cli(["qc", folder / "original.mp4", folder / "processed.mp4", "--out", folder / "tracked.json", "--detector", "haar (built-in, low quality)",
                              "--shot-cuts", "none", "--models-dir", folder / "models"])
    assert code == 0, err
    assert json.loads((folder / "tracked.json").read_text())["video"]["frame_count"] == 30


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "--out must name the JSON report"),
        (["--out", "{folder}/r.json", "--tracks", "{folder}/original.mp4"], "must be JSON written by comfyui-fuse track"),
        (["--out", "{folder}/r.json", "--plot", "{folder}/plot.gif", "--tracks", "{folder}/tracks.json"], "--plot must end in .png or .jpg"),
        (["--out", "{folder}/r.json", "--fallback", "{folder}/out.avi"], "--fallback must end in one of"),
        (["--out", "{folder}/r.json", "--max-flicker", "-2", "--tracks", "{folder}/tracks.json"], "max_flicker must be a number >= 0"),
    ],
    ids=["no-out", "tracks-not-json", "plot-extension", "fallback-extension", "bad-threshold"],
)
def test_qc_errors_name_the_option(files, extra, message):
    folder, _ = files
    argv = ["qc", folder / "original.mp4", folder / "processed.mp4", "--models-dir", folder / "models", *[str(a).format(folder=folder) for a in extra]]
    code, out, err = run_cli(argv)
    assert code == 2 and message in err, err
