"""Builders of small video files for the streaming tests (PyAV; nothing downloaded)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


def frame_pattern(index: int, height: int, width: int) -> np.ndarray:
    """A frame whose pixels say which frame it is (a gradient shifted by the index), uint8 RGB."""
    ys, xs = np.mgrid[0:height, 0:width]
    base = (xs * 3 + ys * 5 + index * 17) % 256
    return np.stack([base, (base + 85) % 256, (255 - base)], axis=-1).astype(np.uint8)


def write_test_video(
    path, frames_uint8: np.ndarray, fps=Fraction(30000, 1001), *, pts=None, audio_seconds: float | None = None, audio_codec: str = "aac",
    codec: str = "libx264rgb", rotation: int = 0,
) -> None:
    """Write frames (N,H,W,3) uint8 with `codec` (lossless libx264rgb by default) at fps.

    pts: frame timestamps in units of 1/fps (default 0..N-1; others make a variable-rate file).
    audio_seconds: a 440 Hz tone of that length (48 kHz stereo, codec audio_codec). rotation:
    display rotation metadata in degrees (the pictures are stored as given).
    """
    fps = Fraction(fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.height, video.width = frames_uint8.shape[1:3]
        video.pix_fmt = "rgb24" if codec == "libx264rgb" else "yuv420p"
        video.time_base = 1 / fps
        if codec.startswith("libx264"):
            video.options = {"qp": "0", "preset": "ultrafast"} if codec == "libx264rgb" else {"crf": "0"}
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio_seconds:
            sound = container.add_stream(audio_codec, rate=48000)
            sound.layout = "stereo"
        for index, picture in enumerate(frames_uint8):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = index if pts is None else int(pts[index])
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples = int(round(audio_seconds * 48000))
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            planar = np.stack([tone, tone])
            fmt = "s16" if audio_codec.startswith("pcm") else "fltp"
            for start in range(0, samples, 1024):
                chunk = planar[:, start : start + 1024]
                if fmt == "s16":
                    chunk = (chunk.T * 32767).astype(np.int16).reshape(1, -1)
                audio_frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout="stereo")
                audio_frame.sample_rate = 48000
                audio_frame.pts = start
                container.mux(sound.encode(audio_frame))
            container.mux(sound.encode(None))


def patterned_video(path, frame_count: int = 40, size=(96, 160), **options) -> np.ndarray:
    """Write a patterned video (see frame_pattern) and return its frames."""
    frames = np.stack([frame_pattern(i, *size) for i in range(frame_count)])
    write_test_video(path, frames, **options)
    return frames
