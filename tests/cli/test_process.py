"""comfyui-fuse restore | lipsync: a model on every face of a video file, streaming."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from comfyui_fuse.media import stream, synthetic
from comfyui_fuse.media.video import write_video
from fuse_cli_runner import run_cli

FRAMES = 12  # the Haar cascade keeps both demo faces from 12 frames on


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    scene = synthetic.demo_scene(FRAMES)
    seconds = FRAMES / float(scene.fps)
    t = torch.arange(int(seconds * 16000)) / 16000
    tone = (0.3 * torch.sin(2 * torch.pi * 220 * t))[None, None].float()
    path = folder / "clip.mp4"
    write_video(path, synthetic.render(scene), scene.fps, {"waveform": tone, "sample_rate": 16000}, crf=0)
    speech = folder / "speech.wav"
    with av.open(str(speech), "w") as container:  # a different sound: the lipsynced output must carry it
        sound = container.add_stream("pcm_s16le", rate=16000)
        sound.layout = "mono"
        samples = (np.sin(2 * np.pi * 330 * np.arange(int(seconds * 16000)) / 16000) * 9000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    return path, speech, scene


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from spandrel.architectures.RestoreFormer import RestoreFormer

    from comfyui_fuse.lipsync.wav2lip import Wav2Lip

    folder = tmp_path_factory.mktemp("models")
    (folder / "facerestore_models").mkdir()
    (folder / "lipsync").mkdir()
    torch.manual_seed(0)
    net = RestoreFormer(n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), num_res_blocks=1, z_channels=32, resolution=512, attn_resolutions=(16,), head_size=8)
    torch.save(net.state_dict(), folder / "facerestore_models" / "RestoreFormer_tiny.pth")
    lipsync = Wav2Lip().eval()
    torch.save({"state_dict": {"module." + k: v for k, v in lipsync.state_dict().items()}}, folder / "lipsync" / "wav2lip_gan.pth")
    return folder


def decode(path):
    return np.concatenate([chunk for _, chunk in stream.iter_frames(path)])


def test_restore_changes_only_the_faces_and_keeps_audio_and_fps(clip, models, tmp_path, monkeypatch):
    """The restorer file is loaded for real; its pass is replaced by a darkening (a 512-pixel net
    on the CPU would take minutes; the restore node's tests run the real one)."""
    from comfyui_fuse.restoration import restore

    calls = []

    def darken(restorer, crops, plan, **options):
        calls.append((type(restorer).__name__, len(crops), options["temporal_smoothing"]))
        return crops * 0.5

    monkeypatch.setattr(restore, "restore_face_sequences", darken)
    path, _, scene = clip
    out = tmp_path / "restored.mp4"
    code, stdout, stderr = run_cli(["restore", path, "--model", "RestoreFormer_tiny.pth", "--output", out, "--models-dir", models,
                                    "--face-size", "128", "--window", "3", "--overlap", "1", "--codec", "h264_lossless", "--max-frames", "4"])
    assert code == 0, stderr
    assert f"wrote {out}" in stdout and "in 2 windows" in stdout, stdout
    assert len(calls) == 2 and calls[0][0] == "FaceRestorer" and calls[0][2] == 0.5, f"one restorer pass per window, got {calls}"
    source, restored = decode(path), decode(out)
    info = stream.probe_video(out)
    assert info.fps == scene.fps and info.frame_count == 4 and info.has_audio
    source = source[:4]  # before the hand comes in (frame 4), where Haar may see a face in it
    changed = np.abs(restored.astype(int) - source).max(axis=-1) > 0
    assert changed.mean() > 0.02, "a random-weight restorer must change the faces"
    faces = np.zeros_like(changed)
    for boxes in scene.boxes:
        for index, (x0, y0, x1, y1) in enumerate(boxes[:4]):
            grow = 0.6 * (x1 - x0)
            faces[index, max(int(y0 - grow), 0) : int(y1 + grow), max(int(x0 - grow), 0) : int(x1 + grow)] = True
    stray = changed & ~faces
    assert not stray.any(), f"nothing away from the faces may change, but {stray.sum()} pixels did, e.g. (frame, y, x) {np.argwhere(stray)[:3].tolist()}; faces {[b[:5].round().tolist() for b in scene.boxes]}"


def test_lipsync_output_carries_the_new_speech(clip, models, tmp_path):
    path, speech, scene = clip
    out = tmp_path / "synced.mp4"
    code, stdout, stderr = run_cli(["lipsync", path, "--audio", speech, "--model", "wav2lip_gan.pth", "--output", out, "--models-dir", models,
                                    "--face-size", "128", "--window", "6", "--max-frames", "8"])
    assert code == 0, stderr
    with av.open(str(out)) as container:
        rate = container.streams.audio[0].rate
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(samples[: rate // 4]))
    peak = np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1))
    assert abs(peak - 330) < 10, f"the output must carry the speech (330 Hz), not the clip's own sound; its peak is at {peak:.0f} Hz"
    assert not np.array_equal(decode(out), decode(path)[:8]), "the mouths must change"


@pytest.mark.parametrize("argv, message", [
    (["restore", "{clip}", "--model", "missing.pth", "--output", "{out}"], "missing.pth"),
    (["restore", "{clip}", "--model", "RestoreFormer_tiny.pth", "--output", "{tmp}/out.avi"], "--output must end in one of"),
    (["lipsync", "{clip}", "--audio", "{tmp}/nothing.wav", "--model", "wav2lip_gan.pth", "--output", "{out}"], "nothing.wav"),
])
def test_user_errors_exit_2_with_one_line(clip, models, tmp_path, argv, message):
    path, _, _ = clip
    argv = [a.format(clip=path, out=tmp_path / "out.mp4", tmp=tmp_path) for a in argv] + ["--models-dir", models]
    code, _, stderr = run_cli(argv)
    assert code == 2 and message in stderr, stderr


@pytest.mark.parametrize("command", ["restore", "lipsync"])
def test_an_output_that_is_the_input_video_is_refused_and_the_source_kept(clip, models, tmp_path, command):
    path, speech, _ = clip
    source = tmp_path / "clip.mp4"
    source.write_bytes(path.read_bytes())
    original = source.read_bytes()
    model = {"restore": "RestoreFormer_tiny.pth", "lipsync": "wav2lip_gan.pth"}[command]
    audio = ["--audio", speech] if command == "lipsync" else []
    code, _, stderr = run_cli([command, source, *audio, "--model", model, "--output", tmp_path / "." / "clip.mp4", "--models-dir", models])
    assert code == 2 and "--output must not be the same file as VIDEO" in stderr, stderr
    assert source.read_bytes() == original, "the source video must never be replaced by the output"
