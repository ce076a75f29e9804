"""The command line: demo and track write their files, reports hold the tracks, errors exit 2."""

import io
import json
import os
from fractions import Fraction

import numpy as np
import pytest
from fuse_cli_runner import run_cli
import torch

from comfyui_fuse.cli import app as cli
from comfyui_fuse.cli.progress import ProgressPrinter
from comfyui_fuse.media.video import read_video, write_video

DEMO_FRAMES = 12



@pytest.fixture(scope="module")
def empty_models(tmp_path_factory):
    """A models folder without any model file: "auto" must fall back to the Haar cascade."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, empty_models):
    """One demo run shared by the tests: (output folder, exit code, stdout, stderr)."""
    folder = tmp_path_factory.mktemp("demo")
    code, out, err = run_cli(["demo", "--out", folder, "--frames", DEMO_FRAMES, "--models-dir", empty_models])
    return folder, code, out, err


def load_report(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_demo_writes_its_four_files(demo):
    folder, code, out, err = demo
    assert code == 0, f"demo failed with exit code {code}: {err}"
    expected = ["demo_input.mp4", "demo_output.mp4", "demo_preview.mp4", "demo_report.json"]
    assert sorted(os.listdir(folder)) == expected, f"the demo folder should hold exactly {expected}, but holds {sorted(os.listdir(folder))}"


def test_demo_report_has_tracks_from_id_1_and_an_exact_outside(demo):
    folder, code, _, err = demo
    assert code == 0, err
    report = load_report(folder / "demo_report.json")
    assert report["video"] == {"frame_count": DEMO_FRAMES, "width": 640, "height": 360, "fps": "30000/1001", "fps_float": pytest.approx(30000 / 1001)}
    assert report["detector"].startswith("haar"), f"with no model files, auto must use the Haar cascade, but used {report['detector']!r}"
    assert report["detections"]["count"] > 0, "the Haar cascade should find the demo's real faces"
    track_ids = [track["id"] for track in report["tracks"]["tracks"]]
    assert track_ids, "the demo scene has two people; the report lists no track"
    assert track_ids == list(range(1, len(track_ids) + 1)), f"track ids must run from 1, but got {track_ids}"
    assert len(track_ids) <= report["demo"]["faces_in_scene"], f"two people should give at most two tracks, but got {track_ids}"
    round_trip = report["round_trip"]
    assert round_trip["max_abs_diff_outside_faces"] == 0, f"outside the faces the output must be bit-identical, but differs by {round_trip['max_abs_diff_outside_faces']}/255"
    assert round_trip["crops"] > 0


def test_demo_videos_decode_with_every_frame_and_the_exact_fps(demo):
    folder, code, _, err = demo
    assert code == 0, err
    for name in ("demo_input.mp4", "demo_output.mp4", "demo_preview.mp4"):
        video = read_video(folder / name)
        assert video.frame_count == DEMO_FRAMES, f"{name} should hold {DEMO_FRAMES} frames, but holds {video.frame_count}"
        assert video.fps == Fraction(30000, 1001), f"{name} should keep 30000/1001 fps, but has {video.fps}"
        assert video.frame_size == (360, 640)
    source = read_video(folder / "demo_input.mp4").frames.astype(np.int16)
    preview = read_video(folder / "demo_preview.mp4").frames.astype(np.int16)
    assert np.abs(preview - source).max() > 100, "the preview should show boxes drawn over the frames"


def test_demo_summary_says_haar_was_the_fallback(demo):
    _, code, out, err = demo
    assert code == 0, err
    assert "fell back to OpenCV's built-in Haar cascade" in out, f"the summary must say auto fell back to Haar:\n{out}"
    assert "max abs difference outside faces = 0/255" in out, f"the summary must state the exact outside:\n{out}"
    assert f"{DEMO_FRAMES} frames of 640x360" in out


@pytest.fixture(scope="module")
def clip_with_audio(demo, tmp_path_factory):
    """The demo input re-written with a stereo tone, to see audio carried through `track`."""
    folder, code, _, err = demo
    assert code == 0, err
    video = read_video(folder / "demo_input.mp4")
    seconds = DEMO_FRAMES / float(video.fps)
    t = torch.arange(int(seconds * 44100)) / 44100
    waveform = torch.stack([0.3 * torch.sin(2 * torch.pi * 440 * t), 0.3 * torch.sin(2 * torch.pi * 660 * t)])[None]
    path = tmp_path_factory.mktemp("clip") / "clip.mov"
    write_video(path, video.frames, video.fps, {"waveform": waveform, "sample_rate": 44100})
    return path


def test_track_writes_report_preview_and_output_with_audio(clip_with_audio, empty_models, tmp_path):
    report_path, preview_path, output_path = tmp_path / "r" / "report.json", tmp_path / "preview.mp4", tmp_path / "out.mkv"
    code, out, err = run_cli(["track", clip_with_audio, "--out", report_path, "--preview", preview_path, "--output", output_path, "--models-dir", empty_models])
    assert code == 0, f"track failed with exit code {code}: {err}"
    report = load_report(report_path)
    assert report["video"]["frame_count"] == DEMO_FRAMES and report["video"]["fps"] == "30000/1001"
    assert report["source"] == {"path": str(clip_with_audio), "audio": True}
    assert [track["id"] for track in report["tracks"]["tracks"]][:1] == [1], "tracks found on the demo clip should start at id 1"
    assert report["round_trip"]["max_abs_diff_outside_faces"] == 0
    for path in (preview_path, output_path):
        video = read_video(path)
        assert video.frame_count == DEMO_FRAMES and video.fps == Fraction(30000, 1001)
        assert video.audio is not None, f"{path.name} lost the audio track"
        assert video.audio["sample_rate"] == 44100 and video.audio["waveform"].shape[1] == 2
    assert str(output_path) in out and str(report_path) in out, f"the summary should list the files written:\n{out}"


def test_track_without_output_skips_the_round_trip(clip_with_audio, empty_models, tmp_path):
    code, _, err = run_cli(["track", clip_with_audio, "--out", tmp_path / "report.json", "--max-frames", 4, "--models-dir", empty_models])
    assert code == 0, err
    report = load_report(tmp_path / "report.json")
    assert report["video"]["frame_count"] == 4, "--max-frames 4 should track only 4 frames"
    assert "round_trip" not in report, "without --output there is no crop -> paste round trip to report"
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["track", "{tmp}/missing.mp4", "--out", "{tmp}/r.json"], "missing.mp4"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--preview", "{tmp}/p.gif"], "--preview must end in one of"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--detector", "no-such-detector"], "detector must be one of"),
        (["track", "{clip}"], "--out must name the JSON report"),
        (["track", "--out", "{tmp}/r.json"], "VIDEO must name the video file"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--models-dir", "{tmp}/nowhere"], "is not a folder"),
    ],
    ids=["missing-video", "preview-extension", "unknown-detector", "no-report", "no-video", "models-dir"],
)
def test_user_errors_exit_2_with_one_clear_line(argv, message, clip_with_audio, empty_models, tmp_path):
    argv = [a.format(tmp=tmp_path, clip=clip_with_audio) for a in argv]
    if "--models-dir" not in argv:
        argv += ["--models-dir", str(empty_models)]
    code, out, err = run_cli(argv)
    assert code == cli.EXIT_USER_ERROR, f"a user error must exit with 2, but exited {code}; stderr: {err}"
    assert message in err, f"stderr should explain {message!r}, but says: {err}"
    assert "Traceback" not in err, "user errors must not print a traceback"
    assert not (tmp_path / "r.json").exists(), "a failed run must not leave a report behind"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["track", "{clip}", "--out", "{clip}"], "--out must not be the same file as VIDEO"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--output", "{clip}"], "--output must not be the same file as VIDEO"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--preview", "{tmp}/../{name}"], "--preview must not be the same file as VIDEO"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--preview", "{tmp}/x/../p.mp4", "--output", "{tmp}/p.mp4"], "--output must not be the same file as --preview"),
        (["track", "{clip}", "--out", "{tmp}/folder"], "--out must name a file, but"),
        (["track", "{clip}", "--out", "{tmp}/r.json", "--output", "{tmp}/folder.mp4"], "--output must name a file, but"),
        (["track", "{clip}", "--out", "{clip}/r.json"], "must be a file in a folder you can write to"),
        (["detect", "{clip}", "--out", "{clip}"], "--out must not be the same file as VIDEO"),
    ],
    ids=["report-is-input", "output-is-input", "preview-is-input-by-another-path", "output-is-preview", "report-is-folder", "output-is-folder", "under-a-file", "detect-report-is-input"],
)
def test_outputs_are_refused_before_any_work(argv, message, clip_with_audio, empty_models, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "folder").mkdir(parents=True)
    (work / "folder.mp4").mkdir()
    clip = tmp_path / "clip.mov"
    clip.write_bytes(clip_with_audio.read_bytes())
    original = clip.read_bytes()

    def read_video(*args, **kwargs):
        raise AssertionError("the outputs must be checked before the video is read")

    monkeypatch.setattr("comfyui_fuse.media.video.read_video", read_video)
    monkeypatch.setattr("comfyui_fuse.streaming.track_file", read_video)
    code, _, err = run_cli([a.format(tmp=work, clip=clip, name=clip.name) for a in argv] + ["--models-dir", empty_models])
    assert code == cli.EXIT_USER_ERROR, f"a bad output must exit with 2, but exited {code}; stderr: {err}"
    assert message in err, f"stderr should explain {message!r}, but says: {err}"
    assert clip.read_bytes() == original, "the input video must never be overwritten"


@pytest.mark.parametrize("option", ["--score-threshold", "--sample-fps", "--min-face-px"])
def test_nan_is_not_a_number_option(option, clip_with_audio, tmp_path, capsys):
    command = "track" if option == "--score-threshold" else "detect"
    with pytest.raises(SystemExit) as exited:
        cli.main([command, str(clip_with_audio), "--out", str(tmp_path / "r.json"), option, "nan"])
    assert exited.value.code == cli.EXIT_USER_ERROR
    assert "must be a finite number, but got nan" in capsys.readouterr().err


def test_list_detectors_starts_with_auto_and_offers_haar(empty_models):
    code, out, _ = run_cli(["track", "--list-detectors", "--models-dir", empty_models])
    assert code == 0
    options = out.splitlines()
    assert options[0] == "auto" and "haar (built-in, low quality)" in options, f"unexpected detector list: {options}"


def test_models_dir_is_restored_after_a_run(empty_models, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", "/somewhere/else")
    run_cli(["track", "--list-detectors", "--models-dir", empty_models])
    assert os.environ["FUSE_MODELS_DIR"] == "/somewhere/else", "--models-dir must not leak into the process environment"


def test_every_command_is_registered():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"demo", "track"} <= set(commands), f"missing subcommands: {sorted(commands)}"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_progress_redraws_one_line_on_a_terminal_and_logs_tenths_elsewhere():
    terminal, log = FakeTerminal(), io.StringIO()
    for stream in (terminal, log):
        advance = ProgressPrinter(stream).stage("detect", 20)
        for _ in range(20):
            advance(1)
    assert terminal.getvalue().count("\r") == 20 and terminal.getvalue().endswith("\rdetect   [" + "#" * 24 + "] 20/20\n"), repr(terminal.getvalue()[-80:])
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1] == "detect   [" + "#" * 24 + "] 20/20", f"a log gets one line per tenth, got {lines}"


def test_download_progress_counts_megabytes():
    log = io.StringIO()
    advance = ProgressPrinter(log).download("wav2lip", 4_000_000)
    for _ in range(4):
        advance(1_000_000)
    assert log.getvalue().splitlines()[-1] == "wav2lip [" + "#" * 24 + "] 4.0/4.0 MB"


def test_every_command_exits_through_the_same_codes():
    from comfyui_fuse.cli import progress, queue

    assert (cli.EXIT_USER_ERROR, cli.EXIT_INTERRUPTED, queue.EXIT_INTERRUPTED) == (progress.EXIT_USER_ERROR, progress.EXIT_INTERRUPTED, progress.EXIT_INTERRUPTED) == (2, 130, 130)


def test_a_bad_cut_list_fails_before_the_video_is_read(tmp_path):
    code, _, err = run_cli(["track", tmp_path / "missing.mp4", "--out", tmp_path / "r.json", "--detector", "haar (built-in, low quality)", "--cuts", "12;40"])
    assert code != 0 and "cuts must be frame numbers separated by commas" in err
    assert "missing.mp4" not in err, "the cut list is checked before the video is opened"
