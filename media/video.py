"""Read and write video files with PyAV: exact fractional fps, audio carried through, atomic writes.

Host-independent (no ComfyUI): the command line uses it, and so can anything else. Frames are
read as uint8 RGB (the exact decoded pixels, a quarter of the memory of float32); the pipeline
turns them into an IMAGE batch with frames_to_image. Frames are written from either form.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av
import numpy as np
import torch

from ..core.checks import audio_waveform_float
from ..core.images import frame_to_uint8 as _frame_uint8  # one frame -> (H,W,3) uint8, as every stage converts
from ..core.types import check_fps
from .stream import DecodeReport, iter_frames, probe_video

log = logging.getLogger(__name__)

# Containers that hold H.264 video with AAC audio.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")
# AAC is defined for these sample rates only; other rates are resampled to the next one up.
AAC_SAMPLE_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
AAC_MAX_CHANNELS = 8
AUDIO_CHUNK = 1024  # samples handed to the encoder at a time (the AAC frame size)
AAC_BIT_RATE_PER_CHANNEL = 128_000  # measured on pure tones: 96 kb/s per channel left up to 7 % RMS error, 128 kb/s under 2 %


@dataclass(frozen=True, eq=False)
class Video:
    """A decoded video.

    frames (N,H,W,3) uint8 RGB; fps the exact frame rate as a Fraction (30000/1001 stays
    30000/1001); audio a ComfyUI AUDIO dict {"waveform": float32 torch [1,C,S] in -1..1,
    "sample_rate": int} or None when the file has no audio (or max_frames cut it to nothing).
    """

    frames: np.ndarray
    fps: Fraction
    audio: dict | None = None

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W)"""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def frames_to_image(frames_uint8: np.ndarray):
    """(N,H,W,3) uint8 -> ComfyUI IMAGE: float32 torch [N,H,W,3] in 0..1 (a new tensor)."""
    return torch.from_numpy(np.ascontiguousarray(frames_uint8)).to(torch.float32).div_(255.0)


def read_video(
    path: str | os.PathLike,
    *,
    max_frames: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> Video:
    """Decode the first video stream (and the first audio stream, if any) of a file.

    Returns a Video: frames (N,H,W,3) uint8 RGB and the audio as a ComfyUI AUDIO dict. The
    frames are those of media.stream.iter_frames, so a whole-file read and a streamed one agree:
    upright (a phone video's display-matrix rotation applied) and on the constant-rate timeline
    of the stream's exact fps (a variable-frame-rate video is laid on it by its timestamps,
    repeating or dropping frames so its length and the audio sync hold, with a warning; see
    docs/media.md). max_frames keeps only the first frames, and the audio is cut to their
    duration. on_progress(n) is called with the number of frames decoded since its last call.
    FileNotFoundError when the file is missing; ValueError when it holds no readable video.
    """
    path = os.fspath(path)
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, but got {max_frames!r}")
    info = probe_video(path)
    count = info.frame_count if max_frames is None else min(info.frame_count, int(max_frames))
    frames = np.empty((count, info.height, info.width, 3), np.uint8)
    report = DecodeReport()
    try:
        for start, chunk in iter_frames(path, stop=count, info=info, report=report, check_interrupt=check_interrupt):
            frames[start : start + len(chunk)] = chunk
            if on_progress is not None:
                on_progress(len(chunk))
    except av.error.FFmpegError as error:
        raise ValueError(f"video file {path!r} is damaged: decoding stopped ({error})") from None
    audio = None
    if info.has_audio:
        duration = None if max_frames is None else Fraction(count) / info.fps
        audio = _read_audio(path, duration)
    return Video(frames=frames, fps=info.fps, audio=audio)


def read_audio(path: str | os.PathLike) -> dict:
    """The first audio stream of any audio or video file as AUDIO {"waveform": [1,C,S], "sample_rate"}.

    FileNotFoundError for a missing file; ValueError when it has no (decodable) audio."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"audio file {path!r} does not exist; check the path")
    try:
        with av.open(path) as container:
            has_audio = bool(container.streams.audio)
    except av.error.FFmpegError as error:
        raise ValueError(f"audio file {path!r} could not be read ({error}); is it an audio or video file?") from None
    audio = _read_audio(path, None) if has_audio else None
    if audio is None:
        raise ValueError(f"audio file {path!r} has no audio stream; pass a file with sound (wav, mp3, m4a, or a video with audio)")
    return audio


def _read_audio(path: str, duration_seconds: Fraction | None) -> dict | None:
    """The first audio stream as AUDIO {"waveform": float32 [1,C,S], "sample_rate"}, cut to duration."""
    with av.open(path) as container:
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        # Decoders give many sample formats (s16, fltp, ...); convert all to float planar.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        except av.error.FFmpegError as error:
            raise ValueError(f"audio of video file {path!r} is damaged ({error})") from None
    if not chunks:
        return None
    waveform = np.concatenate(chunks, axis=1).astype(np.float32)  # (C,S)
    if duration_seconds is not None:
        waveform = waveform[:, : int(round(duration_seconds * rate))]
        if waveform.shape[1] == 0:
            return None
    return {"waveform": torch.from_numpy(np.ascontiguousarray(waveform))[None], "sample_rate": rate}


def _check_frames(frames) -> tuple[int, int, int]:
    shape = tuple(int(v) for v in frames.shape)
    if len(shape) != 4 or shape[3] not in (3, 4):
        raise ValueError(f"frames must be a [N,H,W,3] batch (IMAGE or uint8 array), but got shape {shape}")
    if shape[0] == 0:
        raise ValueError("frames must hold at least one frame, but got an empty batch")
    return shape[0], shape[1], shape[2]


def _audio_planar(audio) -> tuple[np.ndarray, int]:
    """AUDIO dict -> ((C,S) float32 numpy, sample_rate), validated."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError(f"audio must be an AUDIO dict with 'waveform' and 'sample_rate', but got {type(audio).__name__}")
    waveform = audio_waveform_float("audio", audio["waveform"])  # int16 / int32 PCM converted exactly, other integers refused
    if waveform.ndim != 3 or waveform.shape[0] != 1:
        raise ValueError(f"audio waveform must have shape [1,C,S] (one clip), but got {tuple(waveform.shape)}")
    channels = waveform.shape[1]
    if not 1 <= channels <= AAC_MAX_CHANNELS:
        raise ValueError(f"audio must have 1 to {AAC_MAX_CHANNELS} channels for AAC, but got {channels}; downmix it first")
    rate = audio["sample_rate"]
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"audio sample_rate must be a positive int, but got {rate!r}")
    return np.ascontiguousarray(np.clip(waveform[0], -1.0, 1.0)), int(rate)


def _aac_rate(rate: int) -> int:
    """The AAC sample rate to encode `rate` at: itself when AAC allows it, else the next one up."""
    return next((allowed for allowed in AAC_SAMPLE_RATES if allowed >= rate), AAC_SAMPLE_RATES[-1])


def _partial_path(path: str) -> str:
    """A temporary name beside `path`, with the same extension so the container format is the same."""
    directory, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.{uuid.uuid4().hex[:8]}.partial{extension}")


def write_video(
    path: str | os.PathLike,
    frames,
    fps,
    audio: dict | None = None,
    *,
    crf: int = 18,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> None:
    """Encode frames as H.264 (libx264, yuv420p) and audio as AAC into an .mp4, .mov or .mkv file.

    frames: ComfyUI IMAGE (float32 torch [N,H,W,3] 0..1) or uint8 numpy (N,H,W,3) RGB; a 4th
    (alpha) channel is dropped. fps: a Fraction (or int / "30000/1001"); the stream time base is
    1/fps so every timestamp is exact. yuv420p needs even sides: an odd width or height is padded
    by repeating the last column or row (the file is then one pixel larger). audio: AUDIO dict
    {"waveform": [1,C,S], "sample_rate"}; rates AAC lacks are resampled to the next AAC rate up.
    crf: x264 quality (0 lossless luma, 18 visually transparent, 51 worst).

    Atomic: the file is written under a temporary name in the same folder and renamed at the end,
    so an error or interrupt never leaves a half-written file (an existing file stays as it was).
    The folder is created when missing.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in VIDEO_EXTENSIONS:
        raise ValueError(f"video path must end in one of {', '.join(VIDEO_EXTENSIONS)}, but got {path!r}")
    if os.path.isdir(path):  # found now, not when the encoded file is renamed into place
        raise ValueError(f"video path must name a file to write, but {path!r} is a folder; name a file in it")
    count, height, width = _check_frames(frames)
    fps = check_fps(fps)
    if not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an int in 0..51, but got {crf!r}")
    planar, rate = _audio_planar(audio) if audio is not None else (None, 0)
    pad_bottom, pad_right = height % 2, width % 2
    if pad_bottom or pad_right:
        log.info("padding %dx%d frames to even sides for yuv420p: %s", width, height, path)

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = _partial_path(path)
    try:
        with av.open(partial, mode="w") as container:
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height = width + pad_right, height + pad_bottom
            video.pix_fmt = "yuv420p"
            video.time_base = 1 / fps
            video.options = {"crf": str(int(crf))}
            sound = None
            if planar is not None:
                sound = container.add_stream("aac", rate=_aac_rate(rate))
                sound.layout = av.AudioLayout(f"{planar.shape[0]}c")
                sound.bit_rate = AAC_BIT_RATE_PER_CHANNEL * planar.shape[0]
            audio_cursor = 0
            for index in range(count):
                if check_interrupt is not None:
                    check_interrupt()
                pixels = _frame_uint8(frames[index])
                if pad_bottom or pad_right:
                    pixels = np.pad(pixels, ((0, pad_bottom), (0, pad_right), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                container.mux(video.encode(frame))
                if sound is not None:
                    # Interleave: audio up to the end of this frame, so the muxer buffers little.
                    until = int(round(Fraction(index + 1) / fps * rate))
                    audio_cursor = _encode_audio(container, sound, planar, rate, audio_cursor, until)
                if on_progress is not None:
                    on_progress(1)
            container.mux(video.encode(None))
            if sound is not None:
                _encode_audio(container, sound, planar, rate, audio_cursor, planar.shape[1])
                container.mux(sound.encode(None))
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _encode_audio(container, stream, planar: np.ndarray, rate: int, start: int, stop: int) -> int:
    """Encode samples [start, stop) of planar (C,S) float32; returns the new cursor."""
    stop = min(stop, planar.shape[1])
    layout = stream.layout.name
    for chunk_start in range(start, stop, AUDIO_CHUNK):
        chunk = np.ascontiguousarray(planar[:, chunk_start : min(chunk_start + AUDIO_CHUNK, stop)])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = chunk_start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    return max(start, stop)
