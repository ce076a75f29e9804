"""Videos of any length, a chunk of frames at a time: probe, decode in chunks, encode in segments.

Host-independent (no ComfyUI). Nothing here holds more than one chunk of frames:

- probe_video(path) reads the container's packets (no decoding) and says what the file holds:
  display size (rotation applied), exact fps, frame count on the constant-rate timeline, audio.
- iter_frames(path, chunk_frames, size) decodes uint8 RGB chunks, optionally scaled by FFmpeg
  while decoding (a downscaled decode for detection), rotated upright, and laid on a
  constant-rate timeline.
- SegmentWriter encodes chunks into one segment file; finish_video(segments, path, ...) joins
  segments by stream copy and muxes the source's audio (stream copy when the container takes
  the codec, else one AAC re-encode) into a temporary file that is renamed when complete.

The frame timeline. Frame i of the output sits at time i / fps, fps being the stream's exact
rate (30000/1001 stays 30000/1001). A variable-frame-rate file is laid on that timeline by its
timestamps: a frame that arrives late fills the slots it skipped (a repeated frame), a frame
that arrives early in a slot already filled is dropped. Duration and audio sync are kept; the
repeats and drops are counted in the DecodeReport so callers can warn. A packet the decoder
rejects (a corrupt frame) leaves its slot to the previous frame, so the frame count holds, and
the report names the frames.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator, Sequence

import av
import numpy as np

log = logging.getLogger(__name__)

# Output codecs: name -> (PyAV codec, pixel format, options). "h264" is the everyday choice;
# "h264_lossless" (libx264rgb, qp 0) keeps every RGB pixel exactly, so "bit-identical outside the
# faces" holds in the file too (larger files; not every player plays it).
CODECS = {
    "h264": ("libx264", "yuv420p", {}),
    "h264_lossless": ("libx264rgb", "rgb24", {"qp": "0", "preset": "ultrafast"}),
}
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")
# Segments are QuickTime files: their time base keeps 30000/1001 exact (Matroska rounds to 1 ms).
SEGMENT_EXTENSION = ".mov"
# Audio codecs each container takes as a stream copy; anything else is re-encoded once to AAC.
COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"},
    ".mov": {"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le", "ac3"},
    ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le", "pcm_f32le", "ac3", "eac3", "alac"},
}
AAC_SAMPLE_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. width/height as displayed (after rotation); frame_count on the
    constant-rate timeline of fps (see the module docstring)."""

    path: str
    width: int
    height: int
    fps: Fraction
    frame_count: int
    rotation: int  # degrees the decoded pictures are turned to stand upright: 0, 90, 180 or 270
    has_audio: bool
    variable_rate: bool

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) as displayed."""
        return self.height, self.width

    @property
    def duration(self) -> Fraction:
        return Fraction(self.frame_count) / self.fps


@dataclass
class DecodeReport:
    """What a decode had to repair: frames repeated (VFR gaps), dropped (VFR extras), corrupt."""

    repeated: int = 0
    dropped: int = 0
    corrupt_frames: list[int] = field(default_factory=list)

    def warnings(self, path: str) -> list[str]:
        notes = []
        if self.repeated or self.dropped:
            notes.append(f"{path}: variable frame rate laid on a constant rate ({self.repeated} frames repeated, {self.dropped} dropped); sync with the audio is kept")
        if self.corrupt_frames:
            shown = ", ".join(str(f) for f in self.corrupt_frames[:10]) + (" ..." if len(self.corrupt_frames) > 10 else "")
            notes.append(f"{path}: {len(self.corrupt_frames)} corrupt frames could not be decoded and repeat the frame before them: {shown}")
        return notes


def _open(path: str):
    if not os.path.exists(path):
        raise FileNotFoundError(f"video file {path!r} does not exist; check the path")
    if not os.path.isfile(path):
        raise ValueError(f"video path must be a file, but {path!r} is a directory")
    try:
        return av.open(path)
    except av.error.FFmpegError as error:
        raise ValueError(f"video file {path!r} could not be read as a video ({error}); is it a video file?") from None


def _video_stream(container, path: str):
    if not container.streams.video:
        kind = "an audio-only file" if container.streams.audio else "a file without a video stream"
        raise ValueError(f"video file {path!r} is {kind}; pass a video")
    return container.streams.video[0]


def _stream_fps(stream, path: str) -> Fraction:
    for rate in (stream.guessed_rate, stream.average_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    raise ValueError(f"video file {path!r} has no frame rate in its video stream; re-encode it with a fixed fps")


class _Timeline:
    """Maps presentation timestamps to slots of the constant-rate timeline (see module docstring)."""

    def __init__(self, stream, fps: Fraction) -> None:
        self.time_base = stream.time_base or Fraction(1, 1)
        self.fps = fps
        self.origin = None
        self.sequential = 0

    def slot(self, pts) -> int:
        if pts is None or self.time_base is None:
            slot = self.sequential
        else:
            if self.origin is None:
                self.origin = pts
            slot = int(round((pts - self.origin) * self.time_base * self.fps))
        self.sequential += 1
        return slot


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """What a video file holds, read from its packets (nothing is decoded but the first frame).

    FileNotFoundError for a missing file; ValueError for a file with no video stream (an
    audio-only file) or that is not a video.
    """
    path = os.fspath(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        fps = _stream_fps(stream, path)
        has_audio = bool(container.streams.audio)
        timeline = _Timeline(stream, fps)
        slots = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the flush packet
            slots.append(packet.pts)
        pts = [p for p in slots if p is not None]
        if pts and len(pts) == len(slots):
            ordered = sorted(pts)
            timeline.origin = ordered[0]
            mapped = [timeline.slot(p) for p in ordered]
            frame_count = max(mapped) + 1 if mapped else 0
            variable = len(set(mapped)) != len(mapped) or frame_count != len(mapped)
        else:
            frame_count, variable = len(slots), False
        container.seek(0)
        first = next(container.decode(stream), None)
        if first is None or frame_count == 0:
            raise ValueError(f"video file {path!r} holds no decodable video frames")
        rotation = int(getattr(first, "rotation", 0) or 0) % 360
        width, height = first.width, first.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path=path, width=width, height=height, fps=fps, frame_count=frame_count, rotation=rotation, has_audio=has_audio, variable_rate=variable)


def _upright(picture: np.ndarray, rotation: int) -> np.ndarray:
    # frame.rotation is the counter-clockwise angle the picture must turn to stand upright
    if rotation == 0:
        return picture
    return np.ascontiguousarray(np.rot90(picture, k=rotation // 90))


def iter_frames(
    path: str | os.PathLike,
    *,
    chunk_frames: int = 32,
    size: tuple[int, int] | None = None,
    start: int = 0,
    stop: int | None = None,
    info: VideoInfo | None = None,
    report: DecodeReport | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video a chunk at a time: yields (first frame index, uint8 [n,H,W,3] RGB).

    size (width, height) as displayed: FFmpeg scales while decoding (area filter), for a cheap
    detection pass; None keeps the file's size. Frames before `start` are decoded and skipped,
    decoding ends at `stop` (exclusive; default: the end). Frames follow probe_video's
    constant-rate timeline, so the chunks together hold exactly frame_count frames. Pass the
    DecodeReport to learn what had to be repaired.
    """
    path = os.fspath(path)
    info = info or probe_video(path)
    if not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive int, but got {chunk_frames!r}")
    stop = info.frame_count if stop is None else min(int(stop), info.frame_count)
    start = int(start)
    if not 0 <= start <= stop:
        raise ValueError(f"start must be in 0..{stop}, but got {start}")
    report = report if report is not None else DecodeReport()
    out_size = size if size is not None else (info.width, info.height)
    chunks = _Chunker(chunk_frames, out_size, start, stop)
    with closing(_timeline_pictures(path, info, out_size, stop, report, check_interrupt)) as pictures:
        for slot, picture in pictures:
            chunk = chunks.add(slot, picture)
            if chunk is not None:
                yield chunk
    for note in report.warnings(path):
        log.warning(note)


class _Chunker:
    """Gathers the pictures of slots start..stop-1, given in order, into chunks of at most
    chunk_frames frames: add() returns (first frame index, uint8 [n,H,W,3]) when one is full or
    the last slot came, else None. Slots outside start..stop-1 are ignored."""

    def __init__(self, chunk_frames: int, size: tuple[int, int], start: int, stop: int) -> None:
        width, height = size
        self.start, self.stop = start, stop
        self.buffer = np.empty((min(chunk_frames, max(stop - start, 1)), height, width, 3), np.uint8)
        self.filled = 0
        self.buffer_start = start

    def add(self, slot: int, picture: np.ndarray) -> tuple[int, np.ndarray] | None:
        if slot < self.start or slot >= self.stop:
            return None
        self.buffer[self.filled] = picture
        self.filled += 1
        if self.filled == len(self.buffer) or slot == self.stop - 1:
            chunk = (self.buffer_start, self.buffer[: self.filled])
            self.buffer = np.empty_like(self.buffer)  # the chunk handed out is the caller's: no copy of it
            self.buffer_start += self.filled
            self.filled = 0
            return chunk
        return None


def _timeline_pictures(
    path: str, info: VideoInfo, size: tuple[int, int], stop: int, report: DecodeReport, check_interrupt: Callable[[], None] | None
) -> Iterator[tuple[int, np.ndarray]]:
    """(slot, upright RGB picture of `size` (width, height)) for every slot 0..stop-1 of the
    constant-rate timeline, in order: a late frame's skipped slots repeat the frame before (or
    count as corrupt when a rejected packet came before), an early frame is dropped, and a file
    that ends early repeats its last frame. Every repair is counted in `report`."""
    out_width, out_height = size
    # the decoder's picture is unrotated: scale it to the rotated target's transposed size
    decode_width, decode_height = (out_height, out_width) if info.rotation in (90, 270) else (out_width, out_height)
    next_slot = 0
    previous: np.ndarray | None = None
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        timeline = _Timeline(stream, info.fps)
        for frame, corrupt_before in _decoded_frames(container, stream):
            if check_interrupt is not None:
                check_interrupt()
            slot = timeline.slot(frame.pts)
            if slot < next_slot:
                report.dropped += 1
                continue
            picture = _upright(frame.to_ndarray(width=decode_width, height=decode_height, format="rgb24", interpolation="AREA"), info.rotation)
            fill = previous if previous is not None else picture
            while next_slot < min(slot, stop):
                if corrupt_before:
                    report.corrupt_frames.append(next_slot)
                else:
                    report.repeated += 1
                yield next_slot, fill
                next_slot += 1
            if next_slot >= stop:
                break
            yield next_slot, picture
            next_slot += 1
            previous = picture
            if next_slot >= stop:
                break
    if previous is None:
        raise ValueError(f"video file {path!r} holds no decodable video frames")
    while next_slot < stop:  # the file ended early (a damaged tail): repeat the last frame
        report.corrupt_frames.append(next_slot)
        yield next_slot, previous
        next_slot += 1


class ForwardFrames:
    """The frames of a video file as a read-only sequence that is read front to back: frames[i]
    decodes forward to frame i, holding one chunk of uint8 (H,W,3) RGB frames at a time.

    For consumers that visit frames in increasing order (analysis samples): shape and dtype
    describe the whole video as a (frame_count, H, W, 3) uint8 batch would, but at most
    chunk_frames frames are ever in memory. Asking for a frame before the held chunk is an error.
    """

    dtype = np.uint8

    def __init__(self, path: str | os.PathLike, info: VideoInfo | None = None, *, chunk_frames: int = 16, report: DecodeReport | None = None,
                 check_interrupt: Callable[[], None] | None = None) -> None:
        self.info = info or probe_video(path)
        self.shape = (self.info.frame_count, self.info.height, self.info.width, 3)
        self._chunks = iter_frames(path, chunk_frames=chunk_frames, info=self.info, report=report, check_interrupt=check_interrupt)
        self._start, self._frames = 0, np.zeros((0, self.info.height, self.info.width, 3), np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"frame index must be in 0..{len(self) - 1}, but got {index}")
        if index < self._start:
            raise ValueError(f"frames are read front to back: frame {index} comes before the frames held ({self._start}..); read them in increasing order")
        while index >= self._start + len(self._frames):
            self._frames = None  # let go of the held chunk before decoding the next
            self._start, self._frames = next(self._chunks)
        return self._frames[index - self._start]


def _decoded_frames(container, stream):
    """(frame, a bad packet came just before it) in presentation order, skipping bad packets.

    A packet is bad when the decoder rejects it or makes nothing of it. (A decoder with delay also
    makes nothing of its first packets; that flag is harmless, since no slot is then skipped.)
    """
    corrupt = False
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            frames = []
        if packet.size and not frames:
            corrupt = True
        for frame in frames:
            yield frame, corrupt
            corrupt = False


def check_output_path(path: str | os.PathLike, codec: str = "h264") -> str:
    """The output path as a str, or ValueError when its extension or the codec is not one we write."""
    path = os.fspath(path)
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {', '.join(CODECS)}, but got {codec!r}")
    if os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"video path must end in one of {', '.join(VIDEO_EXTENSIONS)}, but got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"video path must name a file, but {path!r} is a directory")
    return path


class SegmentWriter:
    """Encodes uint8 RGB chunks into one segment file (written under a temporary name, renamed on close).

    All segments of one video must share fps, size and codec, so finish_video can join them by
    stream copy; each segment starts with a key frame.
    """

    def __init__(self, path: str | os.PathLike, *, fps: Fraction, size: tuple[int, int], codec: str = "h264", crf: int = 18) -> None:
        self.path = check_output_path(path, codec)
        name, pixel_format, options = CODECS[codec]
        self.width, self.height = (int(v) for v in size)
        self.pad_right, self.pad_bottom = (self.width % 2, self.height % 2) if pixel_format == "yuv420p" else (0, 0)
        self.partial = _partial_path(self.path)
        self.container = av.open(self.partial, mode="w")
        self.stream = self.container.add_stream(name, rate=fps)
        self.stream.width, self.stream.height = self.width + self.pad_right, self.height + self.pad_bottom
        self.stream.pix_fmt = pixel_format
        self.stream.time_base = 1 / Fraction(fps)
        self.stream.options = {"crf": str(int(crf)), **options} if name == "libx264" else dict(options)
        self.count = 0

    def write(self, frames_uint8: np.ndarray) -> None:
        for picture in frames_uint8:
            if picture.shape[:2] != (self.height, self.width):
                raise ValueError(f"frames must be {self.width}x{self.height}, but got {picture.shape[1]}x{picture.shape[0]}")
            if self.pad_bottom or self.pad_right:
                picture = np.pad(picture, ((0, self.pad_bottom), (0, self.pad_right), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture[..., :3]), format="rgb24")
            frame.pts = self.count
            self.container.mux(self.stream.encode(frame))
            self.count += 1

    def close(self) -> None:
        try:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            os.replace(self.partial, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a broken container is being thrown away
            pass
        if os.path.exists(self.partial):
            os.remove(self.partial)

    def __enter__(self) -> "SegmentWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _partial_path(path: str) -> str:
    """A temporary name beside `path`, with the same extension (so the same container format)."""
    directory, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.{uuid.uuid4().hex[:8]}.partial{extension}")


def finish_video(segments: Sequence[str], path: str | os.PathLike, *, audio_source: str | None = None, check_interrupt: Callable[[], None] | None = None) -> None:
    """Join segment files (stream copy) and the audio of audio_source into `path`, atomically.

    The audio stream is copied when the container takes its codec, else re-encoded once to AAC.
    The file appears under its final name only when complete; on any error (a full disk, an
    interrupt) nothing is left but what was there before.
    """
    path = os.fspath(path)
    if not segments:
        raise ValueError("segments must name at least one segment file, but got none")
    extension = os.path.splitext(path)[1].lower()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = _partial_path(path)
    try:
        with av.open(partial, mode="w") as output:
            with av.open(segments[0]) as first:
                template = first.streams.video[0]
                video_out = output.add_stream_from_template(template=template)
                time_base = template.time_base
            audio = _AudioMux(output, audio_source, extension) if audio_source else None
            offset = 0
            end = Fraction(0)
            for segment in segments:
                if check_interrupt is not None:
                    check_interrupt()
                with av.open(segment) as source:
                    stream = source.streams.video[0]
                    if stream.time_base != time_base:
                        raise ValueError(f"segment {segment!r} has time base {stream.time_base}, not {time_base}; segments must share fps")
                    last = offset
                    for packet in source.demux(stream):
                        if packet.dts is None:
                            continue
                        packet.pts = (packet.pts or 0) + offset
                        packet.dts = packet.dts + offset
                        last = max(last, packet.pts + (packet.duration or 1))
                        packet.stream = video_out
                        output.mux(packet)
                        if audio is not None:
                            audio.mux_until(Fraction(packet.dts) * time_base)
                    offset = last
                    end = Fraction(offset) * time_base
            if audio is not None:
                audio.mux_until(end, cut=True)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


class _AudioMux:
    """Copies (or re-encodes to AAC) the first audio stream of a file into an output container."""

    def __init__(self, output, source_path: str, extension: str) -> None:
        self.source = av.open(source_path)
        if not self.source.streams.audio:
            self.source.close()
            self.source = None
            return
        stream = self.source.streams.audio[0]
        self.input_stream = stream
        self.copy = stream.codec_context.name in COPYABLE_AUDIO.get(extension, set())
        if self.copy:
            self.output_stream = output.add_stream_from_template(template=stream)
        else:
            rate = next((r for r in AAC_SAMPLE_RATES if r >= stream.rate), AAC_SAMPLE_RATES[-1])
            channels = stream.codec_context.channels  # a standard layout: AAC refuses an unnamed one ("1 channels")
            layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
            self.output_stream = output.add_stream("aac", rate=rate)
            self.output_stream.layout = layout
            self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self.output = output
        self.packets = self.source.demux(stream)
        self.done = False

    def mux_until(self, seconds: Fraction, cut: bool = False) -> None:
        """Mux audio up to `seconds` of presentation time. cut: this is the video's end, so the
        audio ends there too (with the packet that reaches it) and the stream is closed."""
        if self.source is None or self.done:
            return
        time_base = self.input_stream.time_base
        for packet in self.packets:
            if packet.dts is None:
                continue
            if cut and packet.pts is not None and packet.pts * time_base >= seconds:
                break
            if self.copy:
                packet.stream = self.output_stream
                self.output.mux(packet)
            else:
                for frame in packet.decode():
                    for resampled in self.resampler.resample(frame):
                        self.output.mux(self.output_stream.encode(resampled))
            if not cut and packet.pts is not None and packet.pts * time_base >= seconds:
                return
        if not self.copy:
            for resampled in self.resampler.resample(None):
                self.output.mux(self.output_stream.encode(resampled))
            self.output.mux(self.output_stream.encode(None))
        self.done = True
        self.source.close()
