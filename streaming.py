"""Whole videos in bounded memory: track, crop, process and paste a file a window at a time.

The in-memory pipeline (pipeline.py) holds the whole clip as an IMAGE batch; a minute of 1080p
is 45 GB that way. Here the video stays in its file:

- track_video: one decoding pass, downscaled by FFmpeg while decoding, detects faces chunk by
  chunk (boxes mapped back to source pixels exactly) and tracks them. Memory: one chunk of
  small frames plus the detections.
- process_video: a second pass over windows of `window_frames` frames. Per window the source
  frames are held as uint8, the window's face crops are cut, handed to a crop processor (a
  restorer, a video model, a lipsync model, or nothing), pasted back chunk by chunk and encoded
  into a segment file. Windows may overlap by `overlap_frames`: there the processed crops of
  the two windows are cross-faded, as the video-model windows inside one batch are, so no seam
  shows at a window boundary. Fades at the ends of face sequences are those of the whole video.
  Memory: one window of uint8 frames plus one window of crops, whatever the video's length.
- Crash safety and resume: segments and a manifest live in a job folder beside the output
  (.<name>.fuse-job); the output appears under its name only when complete (media.stream).
  Running the same job again (same source file, same tracks, same settings) skips the windows
  already encoded: at most the window that was interrupted is redone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .compositing.geometry import CropSpec, plan_crops, plan_rows
from .compositing.masks import sequence_fades
from .compositing.overlay import draw_tracks
from .compositing.paste import PasteSpec, paste_faces
from .core.images import frame_to_uint8, image_to_uint8
from .compositing.plan import CropPlan
from .compositing.warp import crop_one, footprint
from .core.fingerprint import fingerprint_frames
from .core.threads import one_torch_thread
from .core.types import FaceDetections, FaceTracks
from .media.stream import SEGMENT_EXTENSION, DecodeReport, SegmentWriter, VideoInfo, check_output_path, finish_video, iter_frames, probe_video
from .media.shots import ShotDetector
from .media.video import frames_to_image
from .models.face_detectors import detect_faces
from .tracking.report import tracks_to_dict
from .tracking.track import track_faces

log = logging.getLogger(__name__)

# process_crops(crops [M,h,w,3], plan, *, frame_offset, tracks, check_interrupt) -> [M,h,w,3],
# or (crops, edit_mask [M,h,w]). plan is the window's CropPlan (frames counted from the window's
# first frame); frame_offset is that first frame's index in the video (a lipsync model needs it
# to find its audio); tracks are the window's part of the tracks (landmarks place a mouth).
CropProcessor = Callable[..., torch.Tensor]

PASTE_CHUNK = 16  # frames decoded at a time; at most this many are float at once for pasting
FLOAT_CHUNK_BYTES = 64 * 2**20  # float32 frames pasted at once: about 5 at 720p, 2 at 1080p, 1 at 4K
REGION_MARGIN = 4  # source pixels around a crop's footprint that cutting and pasting may read (cubic reach, Poisson rim)


def float_chunk(frame_size: tuple[int, int]) -> int:
    """How many frames of this size (H, W) are converted to float at once (FLOAT_CHUNK_BYTES, 1..PASTE_CHUNK):
    pasting makes a few full-frame float buffers per frame, so memory stays the same at any resolution."""
    height, width = frame_size
    return max(1, min(PASTE_CHUNK, FLOAT_CHUNK_BYTES // max(1, height * width * 3 * 4)))


@dataclass(frozen=True)
class VideoTracking:
    """What track_video found: the detections, the tracks and what the file holds."""

    detections: FaceDetections
    tracks: FaceTracks
    info: VideoInfo
    decode: DecodeReport = field(default_factory=DecodeReport)
    timing_ms: dict = field(default_factory=dict)  # decode_ms, detection_ms (with shot detection), tracking_ms


def detection_size(info: VideoInfo, detect_size: int) -> tuple[int, int]:
    """(width, height) to decode at for detection: the longest side at most detect_size, even sides."""
    if not isinstance(detect_size, (int, np.integer)) or detect_size < 0:
        raise ValueError(f"detect_size must be an int >= 0 (0 = the video's own size), but got {detect_size!r}")
    longest = max(info.width, info.height)
    if detect_size == 0 or longest <= detect_size:
        return info.width, info.height
    scale = detect_size / longest
    return max(2, int(round(info.width * scale / 2)) * 2), max(2, int(round(info.height * scale / 2)) * 2)


def probe_limited(path: str, max_frames: int | None) -> VideoInfo:
    """probe_video, with the frame count cut to max_frames (None: the whole video)."""
    info = probe_video(path)
    if max_frames is None:
        return info
    if not isinstance(max_frames, (int, np.integer)) or max_frames < 1:
        raise ValueError(f"max_frames must be a positive int or None, but got {max_frames!r}")
    return dataclasses.replace(info, frame_count=min(info.frame_count, int(max_frames)))


def track_video(
    path: str | os.PathLike,
    detector,
    *,
    max_frames: int | None = None,
    detect_size: int = 960,
    score_threshold: float = 0.5,
    min_face_size: float = 16,
    detect_every: int = 1,
    chunk_frames: int = 32,
    track_options: dict | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    detect_cuts: bool = True,
) -> VideoTracking:
    """Detect and track every face of a video file in one decoding pass (see module docstring).

    detector: a loaded models.face_detectors detector. detect_size: the longest side of the frames
    the detector sees (0 = full size); boxes and landmarks are scaled back to source pixels, and
    min_face_size is in source pixels. detect_cuts: find the shot boundaries in the same pass
    (media/shots.py, on the decoded chunks). track_options go to tracking.track.track_faces
    (e.g. {"cuts": "+120"} to change the cuts found). on_progress(n) counts decoded frames.
    """
    path = os.fspath(path)
    info = probe_limited(path, max_frames)
    width, height = detection_size(info, detect_size)
    scale_x, scale_y = info.width / width, info.height / height
    if not isinstance(detect_every, (int, np.integer)) or detect_every < 1:
        raise ValueError(f"detect_every must be an int >= 1, but got {detect_every!r}")
    chunk_frames = max(int(detect_every), int(chunk_frames) // int(detect_every) * int(detect_every))
    report = DecodeReport()
    parts, sampled = [], []
    shots = ShotDetector() if detect_cuts else None
    timing = {"decode_ms": 0.0, "detection_ms": 0.0}
    clock = time.perf_counter()
    for start, frames in iter_frames(path, chunk_frames=chunk_frames, size=(width, height), info=info, report=report, check_interrupt=check_interrupt):
        timing["decode_ms"] += (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        if shots is not None:
            shots.feed(frames)
        found = detect_faces(detector, frames, score_threshold=score_threshold, min_face_size=float(min_face_size) / max(scale_x, scale_y), detect_every=detect_every, check_interrupt=check_interrupt)
        sampled.append(start + (found.sampled_frames if found.sampled_frames is not None else np.arange(len(frames))))
        parts.append(_to_source_pixels(found, start, info, scale_x, scale_y))
        if on_progress is not None:
            on_progress(len(frames))
        timing["detection_ms"] += (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
    detections = FaceDetections.merge(parts) if parts else FaceDetections.empty(info.frame_count, info.frame_size, getattr(detector, "name", ""))
    detections = _with_sampled(detections, np.unique(np.concatenate(sampled)) if detect_every > 1 and sampled else None, None if shots is None else shots.finish())
    tracks = track_faces(detections, fps=info.fps, check_interrupt=check_interrupt, **(track_options or {}))
    timing["tracking_ms"] = (time.perf_counter() - clock) * 1000
    return VideoTracking(detections=detections, tracks=tracks, info=info, decode=report, timing_ms=timing)


def _to_source_pixels(found: FaceDetections, start: int, info: VideoInfo, scale_x: float, scale_y: float) -> FaceDetections:
    """Detections of a downscaled chunk -> detections of the whole video in source pixels."""
    scale = np.array([scale_x, scale_y, scale_x, scale_y], np.float32)
    xyxy = found.xyxy * scale
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, info.width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, info.height)
    landmarks = None if found.landmarks is None else found.landmarks * np.array([scale_x, scale_y], np.float32)
    return FaceDetections(
        frame=found.frame + start, xyxy=xyxy, score=found.score, frame_count=info.frame_count, frame_size=info.frame_size,
        landmarks=landmarks, detector=found.detector,
    )


def _with_sampled(detections: FaceDetections, sampled: np.ndarray | None, cuts: np.ndarray | None) -> FaceDetections:
    cuts = None if cuts is None else cuts[cuts < detections.frame_count]  # a decode may stop short of the probed length
    return FaceDetections(
        frame=detections.frame, xyxy=detections.xyxy, score=detections.score, frame_count=detections.frame_count, frame_size=detections.frame_size,
        landmarks=detections.landmarks, embedding=detections.embedding, detector=detections.detector, sampled_frames=sampled, cuts=cuts,
    )


def check_window_sizes(window_frames: int, overlap_frames: int) -> None:
    """ValueError unless window_frames is a positive int and overlap_frames an int in 0..window_frames-1."""
    if not isinstance(window_frames, (int, np.integer)) or window_frames < 1:
        raise ValueError(f"window_frames must be a positive int, but got {window_frames!r}")
    if not isinstance(overlap_frames, (int, np.integer)) or not 0 <= overlap_frames < window_frames:
        raise ValueError(f"overlap_frames must be an int in 0..window_frames-1 ({window_frames - 1}), but got {overlap_frames!r}")


def plan_windows(frame_count: int, window_frames: int, overlap_frames: int) -> list[tuple[int, int]]:
    """Half-open frame windows [(start, stop), ...] covering 0..frame_count; consecutive windows
    share overlap_frames frames. The last window is shortened, never padded."""
    check_window_sizes(window_frames, overlap_frames)
    windows, start = [], 0
    while True:
        stop = min(start + int(window_frames), frame_count)
        windows.append((start, stop))
        if stop >= frame_count:
            return windows
        start = stop - int(overlap_frames)


class WindowReader:
    """Decodes a video once, front to back, and hands out windows of uint8 frames (windows
    move forward; frames before a window's start are let go). Decoded chunks are copied into
    the window as they come, so a window is in memory once, not twice."""

    def __init__(self, path: str, info: VideoInfo, check_interrupt) -> None:
        self.chunks = iter_frames(path, chunk_frames=PASTE_CHUNK, info=info, check_interrupt=check_interrupt)
        self.frame_shape = (info.height, info.width, 3)
        self.held: list[tuple[int, np.ndarray]] = []  # (first frame index, frames), in order

    def window(self, start: int, stop: int) -> np.ndarray:
        # keep only frames from `start` on, copied, so the previous window's array can be freed
        self.held = [(max(first, start), frames[max(0, start - first):].copy() if first < start else frames)
                     for first, frames in self.held if first + len(frames) > start]
        window = np.empty((stop - start, *self.frame_shape), np.uint8)
        filled, leftover = start, []
        pending = iter(self.held)
        while filled < stop:
            first, frames = next(pending, None) or next(self.chunks)
            low, high = max(first, filled), min(first + len(frames), stop)
            if high > low:
                window[low - start : high - start] = frames[low - first : high - first]
                filled = high
            if first + len(frames) > stop:
                leftover.append((max(first, stop), frames[max(0, stop - first) :]))
        leftover += list(pending)
        self.held = [(start, window), *leftover]
        return window


class VideoJob:
    """The job folder of one output file: finished segments, overlap crops and a manifest."""

    def __init__(self, output: str, key: dict, windows: list[tuple[int, int]], resume: bool) -> None:
        directory, name = os.path.split(os.path.abspath(output))
        self.folder = os.path.join(directory, f".{name}.fuse-job")
        self.manifest_path = os.path.join(self.folder, "manifest.json")
        self.key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        self.windows = windows
        self.done: set[int] = set()
        manifest = self._read_manifest()
        if resume and manifest is not None and manifest.get("key") == self.key:
            self.done = {k for k in manifest.get("done", []) if os.path.exists(self.segment(k))}
        elif os.path.isdir(self.folder):
            shutil.rmtree(self.folder)
        os.makedirs(self.folder, exist_ok=True)
        self._write_manifest()

    def _read_manifest(self) -> dict | None:
        try:
            with open(self.manifest_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _write_manifest(self) -> None:
        partial = self.manifest_path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump({"key": self.key, "windows": self.windows, "done": sorted(self.done)}, handle)
        os.replace(partial, self.manifest_path)

    def segment(self, index: int) -> str:
        return os.path.join(self.folder, f"window_{index:05d}{SEGMENT_EXTENSION}")

    def tail_path(self, index: int) -> str:
        return os.path.join(self.folder, f"window_{index:05d}_tail.npz")

    def finish_window(self, index: int) -> None:
        self.done.add(index)
        self._write_manifest()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def tracks_key(tracks: FaceTracks) -> str:
    digest = hashlib.sha256()
    for array in (tracks.track_id, tracks.offsets, tracks.row_frame, tracks.row_xyxy, tracks.row_state, tracks.cut_frames):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def check_tracks_match(tracks: FaceTracks, info: VideoInfo) -> None:
    if not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    if tracks.frame_count != info.frame_count or tracks.frame_size != info.frame_size:
        raise ValueError(
            f"tracks must come from this video ({info.frame_count} frames of {info.width}x{info.height}), but they describe "
            f"{tracks.frame_count} frames of {tracks.frame_size[1]}x{tracks.frame_size[0]}; track this video first"
        )


@dataclass(frozen=True)
class StreamSpec:
    """How process_video makes its output: the crops, the paste, the windows and the encoding.

    crop: compositing.geometry.CropSpec (face_size, face_padding, ...; align box). paste:
    compositing.paste.PasteSpec (blend_mode, blend_amount, fade_frames, ...; color_match is not
    available here, it measures whole sequences). window_frames: frames processed at a time;
    overlap_frames: frames consecutive windows share and cross-fade. codec, crf: the output's
    encoding (media.stream.CODECS). Every field is part of the job's resume key.
    """

    crop: CropSpec = field(default_factory=CropSpec)
    paste: PasteSpec = field(default_factory=PasteSpec)
    window_frames: int = 81
    overlap_frames: int = 0
    codec: str = "h264"
    crf: int = 18

    def __post_init__(self) -> None:
        if not isinstance(self.crop, CropSpec):
            raise TypeError(f"crop must be a CropSpec, but got {type(self.crop).__name__}")
        if not isinstance(self.paste, PasteSpec):
            raise TypeError(f"paste must be a PasteSpec, but got {type(self.paste).__name__}")
        if self.paste.color_match != "none":
            raise ValueError("color_match is not available on the streaming video path (it measures whole sequences); use it on the IMAGE path")
        check_window_sizes(self.window_frames, self.overlap_frames)

    def key(self) -> dict:
        """The settings as JSON-ready values, for the job's resume key."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def process_video(
    source: str | os.PathLike,
    tracks: FaceTracks,
    output: str | os.PathLike,
    spec: StreamSpec | None = None,
    *,
    process_crops: CropProcessor | None = None,
    max_frames: int | None = None,
    audio_source: str | os.PathLike | None = None,
    job_key: dict | None = None,
    resume: bool = True,
    measure: dict | None = None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> dict:
    """Cut, process and paste back every face of a video file, writing `output` (module docstring).

    tracks: FaceTracks of this file (track_video). spec: a StreamSpec (default StreamSpec()).
    process_crops: see CropProcessor; None pastes the crops back unprocessed (outside the faces
    the output is the source, bit for bit with codec "h264_lossless"). max_frames: only the first
    frames (and their audio). audio_source: the file whose audio the output carries (default: the
    source's own; a lipsync run gives the new speech). job_key: what else identifies the job for
    resume (e.g. the processor's settings); resume=False starts over. measure: a dict that gets
    the largest change pasting made, in 1/255, outside and inside the pasted faces
    ("max_abs_diff_outside_faces", "max_abs_diff_inside_faces": the round-trip check).
    on_progress(n) counts frames written. Returns a report dict (frames, windows, resumed
    windows, crops, sequences, output).
    """
    spec = StreamSpec() if spec is None else spec
    if not isinstance(spec, StreamSpec):
        raise TypeError(f"spec must be a StreamSpec, but got {type(spec).__name__}")
    source = os.fspath(source)
    output = check_output_path(output, spec.codec)
    _check_not_source("output", output, source)
    info = probe_limited(source, max_frames)
    check_tracks_match(tracks, info)
    plan = plan_crops(tracks, np.zeros((info.frame_count, 1, 1, 3), np.uint8), spec.crop)
    windows = plan_windows(info.frame_count, spec.window_frames, spec.overlap_frames)
    job = VideoJob(output, _job_key(source, tracks, info, windows, spec, job_key), windows, resume)
    resumed = len(job.done)
    if resumed:
        log.info("resuming %s: %d of %d windows were already done", output, resumed, len(windows))
    windows_pass = WindowPass(source, info, tracks, plan, spec, job, process_crops, measure, on_progress, check_interrupt)
    for index in range(len(windows)):
        windows_pass.run(index)
    audio = os.fspath(audio_source) if audio_source is not None else (source if info.has_audio else None)
    finish_video([job.segment(k) for k in range(len(windows))], output, audio_source=audio, check_interrupt=check_interrupt)
    job.remove()
    return {"frames": info.frame_count, "windows": len(windows), "resumed_windows": resumed, "crops": windows_pass.crops_done, "sequences": len(plan), "output": output}


def _check_not_source(name: str, path: str, source: str) -> None:
    if os.path.exists(path) and os.path.exists(source) and os.path.samefile(source, path):
        raise ValueError(f"{name} must not be the source video ({path!r}): it would be overwritten; choose another file name")


def _job_key(source: str, tracks: FaceTracks, info: VideoInfo, windows: list[tuple[int, int]], spec: StreamSpec, job_key: dict | None) -> dict:
    """What identifies a job for resume: the source file, the tracks and every setting."""
    stat = os.stat(source)
    key = {
        "source": [os.path.abspath(source), stat.st_size, stat.st_mtime_ns], "tracks": tracks_key(tracks), "windows": windows,
        "spec": spec.key(), "job": job_key or {}, "frames": info.frame_count,
    }
    return json.loads(json.dumps(key, default=str))


class WindowPass:
    """process_video's second pass, one window at a time: read the frames, cut the crops, run the
    processor, cross-fade the overlap with the previous window, paste and encode a segment."""

    def __init__(self, source: str, info: VideoInfo, tracks: FaceTracks, plan: CropPlan, spec: StreamSpec, job: VideoJob,
                 process_crops: CropProcessor | None, measure: dict | None, on_progress, check_interrupt) -> None:
        self.info, self.tracks, self.plan, self.spec, self.job = info, tracks, plan, spec, job
        self.process_crops, self.measure, self.on_progress, self.check_interrupt = process_crops, measure, on_progress, check_interrupt
        self.fades = torch.from_numpy(sequence_fades(plan, spec.paste.fade_frames))
        self.reader = WindowReader(source, info, check_interrupt)
        self.canvas = torch.zeros((float_chunk((info.height, info.width)), info.height, info.width, 3), dtype=torch.float32)  # paste_chunk's float frames, reused
        self.tail: dict[int, torch.Tensor] = {}  # the previous window's processed crops on the overlap, by plan row
        self.crops_done = 0

    def run(self, index: int) -> None:
        """Window `index` of the job: encoded into its segment (skipped when a resumed job has it)."""
        start, stop = self.job.windows[index]
        overlap = self.spec.overlap_frames
        last = index == len(self.job.windows) - 1
        write_to = stop if last else stop - overlap  # the overlap with the previous window is written here, cross-faded
        if index in self.job.done:
            self._progress(write_to - start)
            return
        if index and overlap and not self.tail:
            self.tail = _load_tail(self.job.tail_path(index - 1))
        frames = self.reader.window(start, stop)
        window_plan, rows = self.plan.window(start, stop, fingerprint_frames(frames))
        processed, edit_mask = self._processed_crops(frames, window_plan, start, stop)
        processed = _cross_fade(processed, rows, window_plan, start, overlap, self.tail)
        self.tail = _keep_tail(processed, rows, window_plan, start, stop, overlap, last)
        if self.tail:
            _save_tail(self.job.tail_path(index), self.tail)
        self._encode(index, frames, start, write_to, window_plan, rows, processed, edit_mask)
        self.crops_done += window_plan.total_rows
        self.job.finish_window(index)

    def _processed_crops(self, frames: np.ndarray, window_plan: CropPlan, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        with one_torch_thread():
            crops = cut_crops(frames, window_plan, self.check_interrupt)
        return _run_processor(self.process_crops, crops, window_plan, start, tracks_window(self.tracks, start, stop), self.check_interrupt)

    def _encode(self, index: int, frames: np.ndarray, start: int, write_to: int, window_plan: CropPlan, rows: np.ndarray, processed: torch.Tensor, edit_mask) -> None:
        """Paste the window's frames start..write_to a chunk at a time and encode them into the window's segment."""
        info = self.info
        with SegmentWriter(self.job.segment(index), fps=info.fps, size=(info.width, info.height), codec=self.spec.codec, crf=self.spec.crf) as writer:
            step = float_chunk(frames.shape[1:3])
            for chunk_start in range(start, write_to, step):
                chunk_stop = min(chunk_start + step, write_to)
                chunk = frames[chunk_start - start : chunk_stop - start]
                chunk_plan, chunk_rows = window_plan.window(chunk_start - start, chunk_stop - start, fingerprint_frames(chunk))
                pasted = chunk
                if chunk_plan.total_rows:
                    with one_torch_thread():
                        pasted = paste_chunk(chunk, processed, edit_mask, chunk_plan, chunk_rows, self.fades[rows[chunk_rows]], self.spec.paste, self.check_interrupt,
                                             tracks=self.tracks, start=chunk_start, measure=self.measure, canvas=self.canvas)
                writer.write(pasted)
                self._progress(chunk_stop - chunk_start)

    def _progress(self, frames: int) -> None:
        if self.on_progress is not None:
            self.on_progress(frames)


def tracks_window(tracks: FaceTracks, start: int, stop: int) -> FaceTracks:
    """The tracks on frames [start, stop), as tracks of a clip of those frames (cuts included)."""
    return tracks.window(start, stop)


def paste_chunk(frames_uint8, processed, edit_mask, plan: CropPlan, rows: np.ndarray, weights: torch.Tensor, paste: PasteSpec, check_interrupt, *, tracks=None, start=0, measure=None,
                canvas: torch.Tensor | None = None) -> np.ndarray:
    """Paste processed crops (rows of `processed`) onto a chunk of uint8 frames as `paste` says; returns uint8.

    weights: the rows' fade weights in the whole video (given as a crop mask, so the plan's own
    fades, which would see a chunk edge as a face's start, are off: paste.fade_frames is not read). tracks (of the whole video,
    the chunk starting at frame `start`) place the landmark blend masks. measure: see process_video.
    canvas: float32 zeros [>= n,H,W,3] to paste in, reused from chunk to chunk (it is handed back
    all zeros); None allocates one.

    Only the face regions (face_regions) are converted to float and back: the paste reads and
    writes nothing else, and elsewhere uint8 -> float -> uint8 is the identity, so the result
    is bit for bit that of pasting onto the whole frames as float.
    """
    height, width = plan.crop_size
    index = torch.from_numpy(rows)
    regions = face_regions(plan)
    frames = torch.zeros(frames_uint8.shape[:3] + (3,), dtype=torch.float32) if canvas is None else canvas[: len(frames_uint8)]  # pixels outside the regions are never read
    for frame, (x0, y0, x1, y1) in regions.items():
        frames[frame, y0:y1, x0:x1].copy_(torch.from_numpy(frames_uint8[frame, y0:y1, x0:x1, :3])).div_(255.0)  # in place, as frames_to_image converts
    plan = dataclasses.replace(plan, fingerprint=fingerprint_frames(frames))  # the plan is of these frames (paste checks it)
    pasted = paste_faces(
        frames, processed[index], plan, dataclasses.replace(paste, fade_frames=0), crop_mask=weights[:, None, None].expand(len(weights), height, width),
        edit_mask=None if edit_mask is None else edit_mask[index], check_interrupt=check_interrupt,
        tracks=None if tracks is None else tracks_window(tracks, start, start + plan.frame_count), return_mask=measure is not None, in_place=True,
    )
    pasted, alpha = pasted if measure is not None else (pasted, None)
    output = np.array(frames_uint8[..., :3])
    for frame, (x0, y0, x1, y1) in regions.items():
        output[frame, y0:y1, x0:x1] = frame_to_uint8(pasted[frame, y0:y1, x0:x1])
        frames[frame, y0:y1, x0:x1] = 0.0  # the canvas goes back all zeros (the paste wrote inside the regions only)
    if measure is not None:
        change = np.abs(output.astype(np.int16) - frames_uint8[..., :3]).max(axis=-1)
        touched = alpha.numpy() > 0
        for key, where in (("max_abs_diff_outside_faces", ~touched), ("max_abs_diff_inside_faces", touched)):
            measure[key] = max(measure.get(key, 0), int(change[where].max()) if where.any() else 0)
    return output


def face_regions(plan: CropPlan) -> dict[int, tuple[int, int, int, int]]:
    """Per frame of the plan that has crops: the box (x0, y0, x1, y1), half-open, of the source
    pixels cutting and pasting its crops can read or write (their footprints, REGION_MARGIN
    wider, clipped to the frame). Frames whose crops all lie outside the frame are left out."""
    frame_index, _, crop_to_src = plan_rows(plan)
    height, width = plan.frame_size
    crop_height, crop_width = plan.crop_size or (0, 0)
    regions: dict[int, tuple[int, int, int, int]] = {}
    for frame, affine in zip(frame_index.tolist(), crop_to_src):
        xmin, ymin, xmax, ymax = footprint(affine, (-0.5, -0.5, crop_width - 0.5, crop_height - 0.5))
        x0, y0 = max(int(np.floor(xmin)) - REGION_MARGIN, 0), max(int(np.floor(ymin)) - REGION_MARGIN, 0)
        x1, y1 = min(int(np.ceil(xmax)) + REGION_MARGIN + 1, width), min(int(np.ceil(ymax)) + REGION_MARGIN + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        if frame in regions:
            a0, b0, a1, b1 = regions[frame]
            x0, y0, x1, y1 = min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1)
        regions[frame] = (x0, y0, x1, y1)
    return regions


def _run_processor(process_crops, crops: torch.Tensor, plan: CropPlan, start: int, tracks: FaceTracks, check_interrupt) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(processed crops, edit mask or None) of one window; the crops unchanged without a processor."""
    if process_crops is None:
        return crops, None
    result = process_crops(crops, plan, frame_offset=start, tracks=tracks, check_interrupt=check_interrupt)
    processed, edit_mask = result if isinstance(result, tuple) else (result, None)
    if tuple(processed.shape[:3]) != tuple(crops.shape[:3]):
        raise ValueError(f"processed crops must keep the crop batch's shape {tuple(crops.shape[:3])}, but got {tuple(processed.shape)}; the processor must return one crop per input crop")
    return processed.float(), edit_mask


def row_fades(plan: CropPlan, tracks: FaceTracks, start: int, fade_frames: int) -> torch.Tensor:
    """(M,) paste weights of a window plan's rows (frames from `start`), fading each face in and
    out at the ends of its run in the whole video, as compositing.masks.sequence_fades does for
    a whole-video plan (so a window edge is never mistaken for a face appearing; a cut, where
    the whole picture changes, is no fade either)."""
    weights = []
    for sequence in plan.sequences:
        runs = tracks.runs(tracks.index_of(sequence.track_id))
        for frame in (sequence.frames + start).tolist():
            first, stop = next((a, b) for a, b in runs if a <= frame < b)
            weight = 1.0
            if first > 0 and first not in tracks.cut_frames:
                weight = min(weight, (frame - first + 1) / (fade_frames + 1))
            if stop < tracks.frame_count and stop not in tracks.cut_frames:
                weight = min(weight, (stop - frame) / (fade_frames + 1))
            weights.append(weight)
    return torch.tensor(weights, dtype=torch.float32)


def cut_crops(frames: np.ndarray, plan: CropPlan, check_interrupt) -> torch.Tensor:
    """The plan's crops of a window of uint8 frames; only the pixels each crop reads are
    converted to float (the same bits as converting the whole frames)."""
    frame_index, _, crop_to_src = plan_rows(plan)
    crop_size = plan.crop_size or (0, 0)
    crops = torch.empty((plan.total_rows, *crop_size, 3), dtype=torch.float32)
    for row, frame in enumerate(frame_index.tolist()):
        if check_interrupt is not None and row % PASTE_CHUNK == 0:
            check_interrupt()
        crops[row] = crop_one(torch.from_numpy(frames[frame]), crop_to_src[row], crop_size)
    return crops


def _row_frames(plan: CropPlan) -> np.ndarray:
    return np.concatenate([s.frames for s in plan.sequences]) if plan.sequences else np.zeros(0, np.int64)


def _cross_fade(processed: torch.Tensor, rows: np.ndarray, plan: CropPlan, start: int, overlap: int, tail: dict[int, torch.Tensor]) -> torch.Tensor:
    """Blend the first `overlap` frames of this window with the previous window's result there."""
    if not overlap or not tail:
        return processed
    frames = _row_frames(plan)
    for position, (row, frame) in enumerate(zip(rows.tolist(), frames.tolist())):
        if frame < overlap and row in tail:
            weight = (frame + 1) / (overlap + 1)  # 0 -> previous window, 1 -> this one
            processed[position] = tail[row].to(processed.dtype) * (1 - weight) + processed[position] * weight
    return processed


def _keep_tail(processed: torch.Tensor, rows: np.ndarray, plan: CropPlan, start: int, stop: int, overlap: int, last: bool) -> dict[int, torch.Tensor]:
    """This window's processed crops on its last `overlap` frames, by row of the whole plan."""
    if not overlap or last:
        return {}
    frames = _row_frames(plan)
    keep = np.flatnonzero(frames >= (stop - start) - overlap)
    return {int(rows[position]): processed[position].clone() for position in keep}


def _save_tail(path: str, tail: dict[int, torch.Tensor]) -> None:
    rows = np.array(sorted(tail), np.int64)
    np.savez(path + ".partial.npz", rows=rows, crops=torch.stack([tail[int(r)] for r in rows]).numpy())
    os.replace(path + ".partial.npz", path)


def _load_tail(path: str) -> dict[int, torch.Tensor]:
    if not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {int(row): torch.from_numpy(crop.copy()) for row, crop in zip(data["rows"], data["crops"])}


def draw_preview(
    source: str | os.PathLike,
    tracks: FaceTracks,
    output: str | os.PathLike,
    *,
    max_frames: int | None = None,
    crf: int = 18,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> None:
    """Write `output`: the source with every track drawn (boxes, ids, states), a chunk at a time."""
    source = os.fspath(source)
    output = check_output_path(output)
    info = probe_limited(source, max_frames)
    check_tracks_match(tracks, info)
    folder = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.preview-job")
    os.makedirs(folder, exist_ok=True)
    segment = os.path.join(folder, f"preview{SEGMENT_EXTENSION}")
    try:
        with SegmentWriter(segment, fps=info.fps, size=(info.width, info.height), crf=crf) as writer:
            for start, frames in iter_frames(source, chunk_frames=PASTE_CHUNK, info=info, check_interrupt=check_interrupt):
                with one_torch_thread():
                    drawn = draw_tracks(frames_to_image(frames), tracks_window(tracks, start, start + len(frames)))
                writer.write(image_to_uint8(drawn))
                if on_progress is not None:
                    on_progress(len(frames))
        finish_video([segment], output, audio_source=source if info.has_audio else None, check_interrupt=check_interrupt)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def track_file(
    source: str | os.PathLike,
    detector,
    *,
    output: str | None = None,
    preview: str | None = None,
    max_frames: int | None = None,
    score_threshold: float = 0.5,
    detect_size: int = 960,
    face_size: int = 256,
    stage=None,
    check_interrupt: Callable[[], None] | None = None,
    detect_cuts: bool = True,
    cuts: str = "",
) -> tuple[VideoTracking, dict]:
    """The command line's `track` on a file, in bounded memory: track, then optionally write the
    unprocessed round trip (output) and a preview. Returns the tracking and a JSON-ready report
    (video, detector, detections, tracks and, with output, the round-trip check).

    stage(name, total) -> on_progress, as pipeline.run_track_pipeline's progress. detect_cuts /
    cuts: shot boundaries, as in pipeline.run_track_pipeline.
    """
    def progress(name: str, total: int):
        return None if stage is None else stage(name, total)

    source = os.fspath(source)
    for name, path in (("output", output), ("preview", preview)):
        if path is not None:
            _check_not_source(name, check_output_path(path), source)
    info = probe_limited(source, max_frames)
    tracked = track_video(source, detector, max_frames=max_frames, score_threshold=score_threshold, detect_size=detect_size, detect_cuts=detect_cuts,
                          track_options={"cuts": cuts}, on_progress=progress("detect+track", info.frame_count), check_interrupt=check_interrupt)
    detections = tracked.detections
    report = {
        "video": {"frame_count": info.frame_count, "width": info.width, "height": info.height, "fps": f"{info.fps.numerator}/{info.fps.denominator}", "fps_float": float(info.fps)},
        "detector": detections.detector,
        "detections": {"count": len(detections), "frames_with_faces": int(len(np.unique(detections.frame)))},
        "tracks": tracks_to_dict(tracked.tracks),
    }
    notes = tracked.decode.warnings(os.path.basename(source))
    if notes:
        report["decode_warnings"] = notes
    if output is not None:
        measure: dict = {}
        done = process_video(source, tracked.tracks, output, StreamSpec(crop=CropSpec(face_size=face_size)), max_frames=max_frames, resume=False,
                             measure=measure, on_progress=progress("crop+paste", info.frame_count), check_interrupt=check_interrupt)
        report["round_trip"] = {"processing": "identity", "sequences": done["sequences"], "crops": done["crops"], **{k: measure.get(k, 0) for k in ("max_abs_diff_outside_faces", "max_abs_diff_inside_faces")}, "units": "1/255"}
    if preview is not None:
        draw_preview(source, tracked.tracks, preview, max_frames=max_frames, on_progress=progress("preview", info.frame_count), check_interrupt=check_interrupt)
    return tracked, report
