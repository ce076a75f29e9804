"""AUDIO in, audio on the video's timeline out: validation, mono mixdown, resampling, alignment.

Time is exact. The video's fps is a Fraction (30000/1001 stays 30000/1001) and every sample
position is computed from the time of a frame, i / fps, with Fraction arithmetic and one floor at
the end, never by adding up a rounded per-frame step: frame 17981 of a 29.97 fps clip lands on
the same sample as its true time, not 0.6 s away as an integer-fps tool would put it.

Conventions: `offset_ms` is the video time at which the audio's first sample plays. Positive
offsets delay the audio (the video starts in silence); negative ones skip the audio's beginning.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.checks import audio_waveform_float, check_instance, check_memory
from ..core.types import check_fps

log = logging.getLogger(__name__)

AUDIO_POLICIES = ("trim", "pad_silence", "loop_video", "pingpong_video")
AUDIO_HINT = 'AUDIO is {"waveform": [B,C,S] float tensor, "sample_rate": int}; connect a Load Audio or Get Video Components output'


def check_audio(audio, name: str = "audio") -> tuple[np.ndarray, int]:
    """Validate a ComfyUI AUDIO dict; return its first clip as (C,S) float32 numpy and the sample rate.

    A batch of several clips (B > 1) uses the first and logs it. Raises ValueError / TypeError that
    name the input (`name`) for: nothing connected, not a dict, missing keys, a sample rate that is
    not a positive int, a waveform that is not [B,C,S], zero samples, NaN or inf samples, integer
    samples other than int16 / int32 PCM (those are converted: core.checks.audio_waveform_float).
    """
    if audio is None:
        raise ValueError(f"{name} must be an AUDIO input, but got nothing; {AUDIO_HINT}")
    if not isinstance(audio, dict):
        raise TypeError(f"{name} must be an AUDIO dict, but got {type(audio).__name__}; {AUDIO_HINT}")
    missing = [key for key in ("waveform", "sample_rate") if key not in audio]
    if missing:
        raise ValueError(f"{name} must have keys waveform and sample_rate, but {', '.join(missing)} is missing (keys: {sorted(audio)}); {AUDIO_HINT}")
    sample_rate = audio["sample_rate"]
    if isinstance(sample_rate, (float, np.floating)) and float(sample_rate).is_integer():
        sample_rate = int(sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"{name} sample_rate must be a positive int, but got {sample_rate!r}; re-export the audio or load it again")
    waveform = audio_waveform_float(name, audio["waveform"])  # int16 / int32 PCM converted exactly, other integers refused
    if waveform.ndim != 3:
        raise ValueError(f"{name} waveform must be a 3D [B,C,S] tensor (batch, channels, samples), but got shape {tuple(waveform.shape)}")
    if waveform.shape[0] == 0 or waveform.shape[1] == 0:
        raise ValueError(f"{name} waveform must hold at least one clip and one channel, but got shape {tuple(waveform.shape)}")
    if waveform.shape[2] == 0:
        raise ValueError(f"{name} must hold at least one sample, but got zero-length audio (shape {tuple(waveform.shape)}); check the audio file or the trim before this node")
    if waveform.shape[0] > 1:
        log.info("%s holds %d clips; using the first", name, waveform.shape[0])
    clip = waveform[0]
    if not np.isfinite(clip).all():
        raise ValueError(f"{name} waveform must hold finite samples, but got NaN or inf")
    return clip, int(sample_rate)


def mono_mixdown(waveform_cs: np.ndarray) -> np.ndarray:
    """(C,S) -> (S,) float32: the mean of the channels."""
    return np.asarray(waveform_cs, dtype=np.float32).mean(axis=0)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample along the last axis by the exact ratio to_rate/from_rate (polyphase, scipy).

    44100 -> 16000 is up 160, down 441; output length is ceil(S * to_rate / from_rate).
    """
    from scipy.signal import resample_poly

    if from_rate == to_rate:
        return np.asarray(samples, dtype=np.float32)
    common = math.gcd(int(from_rate), int(to_rate))
    up, down = int(to_rate) // common, int(from_rate) // common
    return resample_poly(np.asarray(samples, dtype=np.float32), up, down, axis=-1).astype(np.float32, copy=False)


def audio_to_mono(audio, sample_rate: int, name: str = "audio") -> np.ndarray:
    """A validated AUDIO dict -> (S,) float32 mono samples at `sample_rate`."""
    waveform, rate = check_audio(audio, name)
    return resample(mono_mixdown(waveform), rate, sample_rate)


def as_offset(offset_ms) -> Fraction:
    """An audio offset in milliseconds (int, float or Fraction) -> exact seconds."""
    if isinstance(offset_ms, (float, np.floating)):
        if not math.isfinite(offset_ms):
            raise ValueError(f"audio_offset_ms must be a finite number of milliseconds, but got {offset_ms!r}")
        return Fraction(round(float(offset_ms) * 1000), 1_000_000)
    return Fraction(offset_ms) / 1000


def frame_time(frame_index: int, fps) -> Fraction:
    """Exact start time in seconds of a video frame."""
    return Fraction(int(frame_index)) / check_fps(fps)


def audio_window_for_frame(frame_index: int, fps, sample_rate: int, offset_ms=0, window_seconds: Fraction = Fraction(1, 5)) -> tuple[int, int]:
    """Sample positions [start, stop) in the audio stream that belong to a video frame.

    The window starts at the frame's time (frame_index / fps) and lasts window_seconds (0.2 s:
    Wav2Lip's 16 mel frames). Positions are floor(time * sample_rate) computed exactly, and may be
    negative or past the end of the audio (the caller pads with silence there).
    """
    start_time = frame_time(frame_index, fps) - as_offset(offset_ms)
    start = math.floor(start_time * sample_rate)
    stop = math.floor((start_time + Fraction(window_seconds)) * sample_rate)
    return start, stop


def duration_of(sample_count: int, sample_rate: int) -> Fraction:
    return Fraction(int(sample_count), int(sample_rate))


def frames_with_audio(frame_indices: np.ndarray, fps, audio_duration: Fraction, offset_ms=0) -> np.ndarray:
    """(n,) bool: the audio is playing at the start time of each frame (offset <= t < offset + duration)."""
    fps = check_fps(fps)
    start = as_offset(offset_ms)
    stop = start + Fraction(audio_duration)
    return np.array([start <= Fraction(int(i)) / fps < stop for i in np.asarray(frame_indices).reshape(-1)], dtype=bool)


def place_on_timeline(samples: np.ndarray, sample_rate: int, start: Fraction, stop: Fraction, offset_ms=0) -> np.ndarray:
    """The audio heard from video time `start` to `stop` (seconds), silence where there is none.

    samples (..., S) at sample_rate, its first sample playing at offset_ms. Returns (..., L) float32
    with L = floor(stop * rate) - floor(start * rate), the positions computed exactly.
    """
    samples = np.asarray(samples, dtype=np.float32)
    shift = as_offset(offset_ms)
    first = math.floor((Fraction(start) - shift) * sample_rate)
    last = math.floor((Fraction(stop) - shift) * sample_rate)
    length = max(last - first, 0)
    out = np.zeros(samples.shape[:-1] + (length,), np.float32)
    source_start, source_stop = max(first, 0), min(last, samples.shape[-1])
    if source_stop > source_start:
        out[..., source_start - first : source_stop - first] = samples[..., source_start:source_stop]
    return out


@dataclass(frozen=True)
class VideoAudioFit:
    """How a video and its audio are fitted by a policy.

    frame_indices (n,) int64: the source frame shown at each output frame (loops repeat frames);
    duration: the output length in seconds (n / fps), to which the audio is trimmed or padded.
    """

    frame_indices: np.ndarray
    duration: Fraction


def fit_video_to_audio(frame_count: int, fps, audio_duration: Fraction, policy: str, offset_ms=0) -> VideoAudioFit:
    """Output frames for a video of frame_count frames and an audio that ends at offset + duration.

    trim: the shorter one sets the length (video cut at the audio's end, or audio cut at the video's);
    pad_silence: the video is kept whole, the audio padded with silence or cut to it;
    loop_video / pingpong_video: the video is repeated (0..n-1, 0.. / 0..n-1, n-2..1, 0..) until
    the audio ends, or cut there when the audio is shorter. The audio end counts frames whose start
    time is before it: ceil(audio_end * fps), at least one frame.
    """
    if policy not in AUDIO_POLICIES:
        raise ValueError(f"audio_policy must be one of {', '.join(AUDIO_POLICIES)}, but got {policy!r}")
    if frame_count < 1:
        raise ValueError(f"images must hold at least one frame, but got {frame_count}")
    fps = check_fps(fps)
    audio_end = as_offset(offset_ms) + Fraction(audio_duration)
    audio_frames = max(math.ceil(audio_end * fps), 1)
    if policy == "pad_silence":
        count = frame_count
    elif policy == "trim":
        count = min(frame_count, audio_frames)
    else:
        count = audio_frames
    steps = np.arange(count, dtype=np.int64)
    if policy == "pingpong_video" and frame_count > 1:
        period = 2 * frame_count - 2
        phase = steps % period
        indices = np.where(phase < frame_count, phase, period - phase)
    else:
        indices = steps % frame_count
    return VideoAudioFit(indices.astype(np.int64), Fraction(count) / fps)


def audio_for_frames(audio, first_frame: int, stop_frame: int, fps, offset_ms=0, name: str = "audio") -> dict:
    """The AUDIO slice that plays during frames [first_frame, stop_frame), in the source rate and channels.

    Returns {"waveform": float32 torch [1,C,L], "sample_rate": rate}; L is exact from the frame
    times, with silence where the audio does not reach (before its offset or after its end), so the
    slice always lasts (stop_frame - first_frame) / fps.
    """
    import torch

    waveform, rate = check_audio(audio, name)
    fps = check_fps(fps)
    start, stop = Fraction(int(first_frame)) / fps, Fraction(int(stop_frame)) / fps
    sliced = place_on_timeline(waveform, rate, start, stop, offset_ms)
    return {"waveform": torch.from_numpy(np.ascontiguousarray(sliced))[None], "sample_rate": rate}


def fit_clip_to_audio(images, audio, fps, policy: str, offset_ms=0):
    """Loop, ping-pong or trim a video (IMAGE [N,H,W,C]) to its audio, and the audio to the video.

    Returns (images [n,H,W,C], AUDIO dict) where the audio starts with the first output frame (the
    offset is applied: silence before a positive offset, the skipped start cut for a negative one)
    and lasts exactly n / fps, padded with silence or cut. See fit_video_to_audio for the policies.
    """
    import torch

    check_instance("images", images, torch.Tensor, "IMAGE")
    waveform, rate = check_audio(audio)
    fit = fit_video_to_audio(int(images.shape[0]), fps, duration_of(waveform.shape[-1], rate), policy, offset_ms)
    if len(fit.frame_indices) == images.shape[0] and (fit.frame_indices == np.arange(images.shape[0])).all():
        out_images = images
    else:
        frame_bytes = images[:1].numel() * images.element_size()
        check_memory(
            f"the {policy} video ({len(fit.frame_indices)} frames of {images.shape[2]}x{images.shape[1]} for {float(fit.duration):.1f} s of audio)",
            len(fit.frame_indices) * frame_bytes, "use a shorter audio, lower the resolution first, or trim / pad_silence instead of looping", images.device,
        )
        out_images = images[torch.from_numpy(fit.frame_indices).to(images.device)]
    fitted = place_on_timeline(waveform, rate, Fraction(0), fit.duration, offset_ms)
    return out_images, {"waveform": torch.from_numpy(np.ascontiguousarray(fitted))[None], "sample_rate": rate}
