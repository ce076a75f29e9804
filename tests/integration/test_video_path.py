"""The VIDEO path in a real ComfyUI: LoadVideo -> FUSE Track Video Faces -> FUSE Process Video Faces -> SaveVideo.

The bundled long_video_restore workflow with its restorer taken out (faces pasted back
unprocessed) and the lossless codec, queued with `comfyui-fuse queue` on a synthetic clip with an
AAC tone, in windows of 8 frames. Every pixel must come back as it was, the frame rate must stay
30000/1001 (Save Video copies FUSE's file) and the audio packets must be the source's, unchanged.
The benchmark bench/stream_bench.py runs the same path on thousands of frames.
"""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from comfyui_fuse.media import stream, synthetic
from comfyui_fuse.media.video import write_video

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "api" / "long_video_restore.json"


def test_video_path_round_trip_is_exact_with_audio_and_fps(comfyui, integration_harness, tmp_path):
    import torch

    scene = synthetic.demo_scene(frame_count=30, frame_size=(240, 424))
    seconds = 30 / float(scene.fps)
    t = torch.arange(int(seconds * 48000)) / 48000
    tone = (0.3 * torch.sin(2 * torch.pi * 440 * t)).float()
    source = tmp_path / "long clip.mp4"
    write_video(source, synthetic.render(scene), scene.fps, {"waveform": torch.stack([tone, tone])[None], "sample_rate": 48000})
    prompt = integration_harness.pass_through_video_prompt(json.loads(WORKFLOW.read_text()), codec="h264_lossless", window_frames=8, overlap_frames=2, face_size=128)
    workflow = tmp_path / "video_path.json"
    workflow.write_text(json.dumps(prompt))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "comfyui_fuse.cli", "queue", str(workflow), "--server", comfyui.url, "--out", str(out), "--input", f"file={source}", "--timeout", "600"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}\nserver log:\n{comfyui.log_text()[-3000:]}"
    videos = [Path(line) for line in result.stdout.splitlines() if line.strip().endswith(".mp4")]
    assert len(videos) == 1, f"one saved video expected, got {result.stdout}"
    info = stream.probe_video(videos[0])
    assert info.fps == Fraction(30000, 1001), f"the file must keep 30000/1001, got {info.fps}"
    original = np.concatenate([chunk for _, chunk in stream.iter_frames(source)])
    returned = np.concatenate([chunk for _, chunk in stream.iter_frames(videos[0])])
    assert returned.shape == original.shape
    assert np.array_equal(returned, original), f"{int((returned != original).any(axis=-1).sum())} pixels changed; an unprocessed round trip must be exact"
    with av.open(str(source)) as a, av.open(str(videos[0])) as b:
        packets_in = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        packets_out = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert packets_out == packets_in, "the audio stream must be the source's, unchanged"
