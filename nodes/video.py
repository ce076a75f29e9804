"""The VIDEO path: whole videos of any length in bounded memory (LoadVideo -> FUSE -> SaveVideo).

FUSE Track Video Faces and FUSE Process Video Faces stream the file behind ComfyUI's VIDEO
(streaming.py); the face processors (restorer, video model, lipsync) are the IMAGE nodes' own
work, wrapped as FUSE_FACE_PROCESSOR so the video node can run them a window at a time. A chain
through any other pack's IMAGE node runs window after window with FUSE Video Crop Window and
FUSE Video Paste Window, the window index advancing with each queued run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from fractions import Fraction

import numpy as np
import torch

from ..analysis.selection import FaceSelection
from ..compositing.geometry import CropSpec, plan_crops
from ..compositing.paste import PASTE_BLEND_MODES, PasteSpec
from ..lipsync.selection import check_range_keys, parse_ranges, range_key
from ..media.stream import CODECS, SegmentWriter, finish_video, probe_video
from ..models.face_detectors import DETECTORS, HAAR_OPTION, detector_options, load_face_detector
from ..core.threads import one_torch_thread
from ..tracking.cuts import parse_cut_override
from ..core.fingerprint import fingerprint_frames
from ..streaming import (
    StreamSpec, VideoJob, WindowReader, check_tracks_match, cut_crops, float_chunk, paste_chunk, plan_windows, process_video, row_fades,
    track_video, tracks_key,
)
from . import host
from .lipsync import FUSELipsync
from .restore import FUSERestoreFaces
from .sample import FUSESampleFaceSequences

log = logging.getLogger(__name__)

VIDEO_TOOLTIP = "A video from ComfyUI's Load Video (a file: it is read a chunk at a time, never loaded whole)."
TRACKS_TOOLTIP = "Tracks of this video, from FUSE Track Video Faces."


def _crop_inputs() -> dict:
    return {
        "window_frames": ("INT", {"default": 81, "min": 1, "max": 100000, "step": 1, "tooltip": (
            "Frames processed at a time: only one window of frames and face crops is in memory, so memory does not grow "
            "with the video's length. 81 suits Wan (4k+1 frames)."
        )}),
        "face_size": ("INT", {"default": 512, "min": 16, "max": 4096, "step": 8, "tooltip": "Width of each face crop in pixels (the size the processor works at)."}),
        "face_padding": ("FLOAT", {"default": 20.0, "min": 0.0, "max": 2000.0, "step": 1.0, "tooltip": "Source pixels added around each face box before cropping."}),
    }


def _paste_inputs() -> dict:
    return {
        "blend_mode": (list(PASTE_BLEND_MODES), {"default": "box", "tooltip": "Shape of the paste mask: box or ellipse (feathered by blend_amount), or the landmark hulls face_hull / lower_face (need landmarks)."}),
        "blend_amount": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Feather of the box/ellipse mask as a fraction of the crop."}),
        "fade_frames": ("INT", {"default": 3, "min": 0, "max": 1000, "step": 1, "tooltip": "Frames over which a face fades in and out where its track starts or ends, so no face pops."}),
        "codec": (list(CODECS), {"default": "h264", "tooltip": (
            "h264: the everyday file. h264_lossless: every pixel outside the faces stays exactly the source's (large files)."
        )}),
        "crf": ("INT", {"default": 18, "min": 0, "max": 51, "step": 1, "tooltip": "h264 quality: 0 best, 18 visually transparent, 51 worst (ignored by h264_lossless)."}),
    }


class FUSEVideoTrackFaces:
    DESCRIPTION = (
        "Finds and follows every face of a VIDEO in one pass over the file: frames are decoded a chunk at a time, scaled "
        "down for the detector (boxes are mapped back exactly) and tracked. Memory stays flat however long the video is."
    )
    CATEGORY = "FUSE/video"
    FUNCTION = "track"
    RETURN_TYPES = ("FUSE_TRACKS", "FUSE_FACES", "FLOAT", "INT")
    RETURN_NAMES = ("tracks", "faces", "fps", "frame_count")
    OUTPUT_TOOLTIPS = (
        "One track per face with ids from 1, in source pixels; connect to FUSE Process Video Faces.",
        "The raw detections (source pixels).",
        "The video's frame rate (exact rates such as 30000/1001 are kept inside the tracks).",
        "Frames in the video, on its constant-rate timeline.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        options = detector_options(host.model_store())
        return {
            "required": {
                "video": ("VIDEO", {"tooltip": VIDEO_TOOLTIP}),
                "detector": (options, {"default": "auto", "tooltip": f"Face detector, as in FUSE Face Detector (auto: the best model found, else '{HAAR_OPTION}')."}),
                "score_threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Drop faces the detector is less sure of than this (0..1)."}),
                "min_face_size": ("INT", {"default": 16, "min": 0, "max": 4096, "step": 1, "tooltip": "Drop faces whose shorter side is below this many source pixels."}),
                "detect_every": ("INT", {"default": 1, "min": 1, "max": 1000, "step": 1, "tooltip": "Run the detector on every k-th frame; tracking fills the frames between."}),
                "detect_size": ("INT", {"default": 960, "min": 0, "max": 8192, "step": 32, "tooltip": (
                    "Longest side of the frames the detector sees (FFmpeg scales while decoding, cheaply). 0 = full size. "
                    "Lower is faster; faces smaller than about 20 px at this size are missed."
                )}),
            },
            "optional": {
                "detect_cuts": ("BOOLEAN", {"default": True, "tooltip": (
                    "Find shot boundaries (hard cuts, fades through black) in the same decoding pass, as FUSE Face Detector does. "
                    "Nothing is tracked, smoothed, filled, cropped or blended across a cut. Off: the video is one shot."
                )}),
                "cuts": ("STRING", {"default": "", "tooltip": (
                    "Change the cuts found, as in FUSE Track Faces: '120, +348' adds, '-200' removes the one found at 200, "
                    "'=120, 348' gives them exactly, 'none' means one shot. Frame numbers from 0."
                )}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, detector=None, **_):
        # run again when "auto" would pick another model (one was added) or the chosen file changed
        return host.is_changed(DETECTORS.fingerprint(detector, host.model_store()))

    def track(self, video, detector, score_threshold, min_face_size, detect_every, detect_size, detect_cuts=True, cuts=""):
        parse_cut_override(cuts)  # a malformed cut list fails before the video is decoded
        path = host.video_file(video)
        info = probe_video(path)
        loaded = load_face_detector(detector, host.model_store(), device=host.torch_device())
        result = track_video(
            path, loaded, detect_size=int(detect_size), score_threshold=float(score_threshold), min_face_size=float(min_face_size),
            detect_every=int(detect_every), on_progress=host.progress_callback(info.frame_count), check_interrupt=host.check_interrupt,
            detect_cuts=bool(detect_cuts), track_options={"cuts": cuts},
        )
        for note in result.decode.warnings(os.path.basename(path)):
            log.warning(note)
        return (result.tracks, result.detections, float(info.fps), int(info.frame_count))


class FUSEVideoProcessFaces:
    DESCRIPTION = (
        "Cuts every tracked face out of a VIDEO a window at a time, runs it through a face processor (FUSE Restore / Sample / "
        "Lipsync Processor; none = unchanged), pastes it back and writes a new video file with the source's audio and exact "
        "frame rate. Memory stays flat however long the video is. An interrupted run resumes where it stopped when queued "
        "again with the same inputs. Connect the VIDEO to Save Video or a preview."
    )
    CATEGORY = "FUSE/video"
    FUNCTION = "process"
    RETURN_TYPES = ("VIDEO", "STRING")
    RETURN_NAMES = ("video", "report")
    OUTPUT_TOOLTIPS = ("The processed video (a file in output/fuse; Save Video copies it without re-encoding).", "What was done, as JSON.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "video": ("VIDEO", {"tooltip": VIDEO_TOOLTIP}),
                "tracks": ("FUSE_TRACKS", {"tooltip": TRACKS_TOOLTIP}),
                **_crop_inputs(),
                "overlap_frames": ("INT", {"default": 8, "min": 0, "max": 1000, "step": 1, "tooltip": (
                    "Frames shared by consecutive windows; there the two windows' results are cross-faded, so no seam shows "
                    "at a window boundary. 0 for processors that work frame by frame."
                )}),
                **_paste_inputs(),
            },
            "optional": {
                "processor": ("FUSE_FACE_PROCESSOR", {"tooltip": "What to do to the faces (FUSE Restore / Sample / Lipsync Processor). Not connected: the faces are pasted back unchanged."}),
            },
        }

    def process(self, video, tracks, window_frames, face_size, face_padding, overlap_frames, blend_mode, blend_amount, fade_frames, codec, crf, processor=None):
        source, info = _open_video(video, tracks)
        settings = {
            "window_frames": int(window_frames), "overlap_frames": int(overlap_frames), "face_size": int(face_size), "face_padding": float(face_padding),
            "blend_mode": blend_mode, "blend_amount": float(blend_amount), "fade_frames": int(fade_frames), "codec": codec, "crf": int(crf),
            "processor": None if processor is None else processor.key,
        }
        _, output = _output_path(source, tracks, settings)
        if os.path.exists(output):
            log.info("FUSE Process Video Faces: %s is already done", output)
            report = {"output": output, "frames": info.frame_count, "already_done": True}
        else:
            spec = StreamSpec(
                crop=CropSpec(face_size=int(face_size), face_padding=float(face_padding)),
                paste=PasteSpec(blend_mode=blend_mode, blend_amount=float(blend_amount), fade_frames=int(fade_frames)),
                window_frames=int(window_frames), overlap_frames=int(overlap_frames), codec=codec, crf=int(crf),
            )
            report = process_video(
                source, tracks, output, spec, process_crops=processor, job_key=settings,
                on_progress=host.progress_callback(info.frame_count), check_interrupt=host.check_interrupt,
            )
        return (host.video_output(output), json.dumps(report))


class FaceProcessor:
    """A FUSE_FACE_PROCESSOR: an IMAGE node's crop work with its settings, callable per window.

    Called as processor(crops, window_plan, frame_offset=, check_interrupt=) -> crops, or
    (crops, edit_mask) for processors that say where they changed the crop. key: the settings,
    so a changed setting makes a new job (and an unchanged one resumes).
    """

    def __init__(self, name: str, run, settings: dict) -> None:
        self.name = name
        self.run = run
        self.key = {"name": name, **{k: _describe(v) for k, v in settings.items()}}

    def __call__(self, crops, plan, *, frame_offset: int = 0, tracks=None, check_interrupt=None):
        return self.run(crops, plan, frame_offset, tracks)


def _describe(value):
    """A JSON-able stand-in for a setting (objects such as a MODEL by identity)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return f"{type(value).__name__}@{id(value):x}"


def _processor_inputs(node_class) -> dict:
    """The node's inputs without its crops and crop plan (the video node supplies those)."""
    spec = node_class.INPUT_TYPES()
    return {group: {k: v for k, v in inputs.items() if k not in ("crops", "crop_plan")} for group, inputs in spec.items()}


class ProcessorNode:
    """A node that wraps an IMAGE node's crop work (WRAPS.FUNCTION on crops and crop_plan) as a
    FUSE_FACE_PROCESSOR with the same inputs, less the crops and the crop plan."""

    WRAPS: type
    NAME: str
    CATEGORY = "FUSE/video"
    FUNCTION = "build"
    RETURN_TYPES = ("FUSE_FACE_PROCESSOR",)
    RETURN_NAMES = ("processor",)
    OUTPUT_TOOLTIPS = ("Connect to FUSE Process Video Faces' processor.",)

    @classmethod
    def INPUT_TYPES(cls):
        return _processor_inputs(cls.WRAPS)

    def build(self, **settings):
        work = getattr(self.WRAPS(), self.WRAPS.FUNCTION)
        return (FaceProcessor(self.NAME, lambda crops, plan, offset, tracks: work(crops, plan, **settings)[0], settings),)


class FUSERestoreProcessor(ProcessorNode):
    DESCRIPTION = "FUSE Restore Faces as a face processor for FUSE Process Video Faces (same settings, run a window at a time)."
    WRAPS = FUSERestoreFaces
    NAME = "restore"

    @classmethod
    def IS_CHANGED(cls, **inputs):
        return FUSERestoreFaces.IS_CHANGED(**inputs)  # a replaced model file makes a new processor


class FUSESampleProcessor(ProcessorNode):
    DESCRIPTION = (
        "FUSE Sample Face Sequences (Wan with your MODEL, VAE and prompts) as a face processor for FUSE Process Video Faces. "
        "Give the video node an overlap (e.g. 8 frames) so consecutive windows cross-fade."
    )
    WRAPS = FUSESampleFaceSequences
    NAME = "sample"


class FUSELipsyncProcessor(ProcessorNode):
    DESCRIPTION = (
        "FUSE Lipsync as a face processor for FUSE Process Video Faces: each window is synced to its own stretch of the "
        "audio (cut at the exact sample of the window's first frame), and only the mouth region is pasted."
    )
    WRAPS = FUSELipsync
    NAME = "lipsync"
    OUTPUT_TOOLTIPS = ("Connect to FUSE Process Video Faces' processor (overlap_frames 0 is fine: Wav2Lip works frame by frame).",)

    @classmethod
    def INPUT_TYPES(cls):
        spec = _processor_inputs(FUSELipsync)
        spec["optional"].pop("tracks", None)  # each window gets its part of the video node's tracks
        return spec

    @classmethod
    def IS_CHANGED(cls, **inputs):
        return FUSELipsync.IS_CHANGED(**inputs)  # a replaced checkpoint makes a new processor

    def build(self, audio, ranges="", **settings):
        node = FUSELipsync()
        faces = FaceSelection.parse(settings.get("track_ids", "all"), input_name="track_ids")  # a bad selection fails before the first window
        parsed_ranges = parse_ranges(ranges)  # so does bad JSON

        def run(crops, plan, offset, tracks):
            if tracks is not None:  # range keys name faces of the whole video; a window holds only those on screen
                check_range_keys(parsed_ranges, tracks.track_id, tracks.identity, "the video's tracks")
            # a window holds the faces on screen in it: sync the selected ones that are, none when none is
            present = faces.present_in([s.track_id for s in plan.sequences], [s.identity for s in plan.sequences])
            if present is None:
                return crops, torch.zeros(tuple(crops.shape[:3]), dtype=torch.float32)
            shift = Fraction(offset) / plan.fps  # seconds of video before this window
            window_audio = audio_from(audio, shift)
            on_screen = {str(s.track_id) for s in plan.sequences} | {s.identity for s in plan.sequences if s.identity}
            crops_out, edit_mask = node.lipsync(crops, plan, window_audio, ranges=shift_ranges(ranges, shift, on_screen), tracks=tracks, **{**settings, "track_ids": str(present)})
            return crops_out, edit_mask

        return (FaceProcessor("lipsync", run, {**settings, "audio": audio, "ranges": ranges}),)


def audio_from(audio: dict, seconds: Fraction) -> dict:
    """AUDIO starting `seconds` in (cut at the exact sample)."""
    rate = int(audio["sample_rate"])
    start = int(round(seconds * rate))
    return {"waveform": audio["waveform"][..., start:], "sample_rate": rate}


def shift_ranges(ranges: str, seconds: Fraction, faces: set[str] | None = None) -> str:
    """Lipsync ranges (JSON, ms of video time) moved `seconds` earlier, for a window starting there;
    with faces (track ids as text, character names), only the ranges of those faces (the window's)."""
    if not ranges or not ranges.strip():
        return ranges
    shift_ms = float(seconds * 1000)
    parsed = json.loads(ranges)
    return json.dumps({face: [[float(a) - shift_ms, float(b) - shift_ms] for a, b in spans] for face, spans in parsed.items() if faces is None or range_key(face) in faces})


class FUSEVideoCropWindow:
    DESCRIPTION = (
        "For a chain through any IMAGE node (another pack's restorer, upscaler, ...): cuts the faces of one window of a "
        "VIDEO. Process the crops, then connect them to FUSE Video Paste Window with the same window_index. Queue the "
        "workflow once per window (window_count says how many; window_index advances by itself with 'increment'); the "
        "last window writes the video."
    )
    CATEGORY = "FUSE/video"
    FUNCTION = "crop"
    RETURN_TYPES = ("IMAGE", "FUSE_CROPS", "INT", "INT")
    RETURN_NAMES = ("crops", "crop_plan", "window_index", "window_count")
    OUTPUT_TOOLTIPS = ("This window's face crops.", "Their crop plan (frames counted from the window's first frame).", "The window cut (0-based).", "How many windows the video has.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "video": ("VIDEO", {"tooltip": VIDEO_TOOLTIP}),
                "tracks": ("FUSE_TRACKS", {"tooltip": TRACKS_TOOLTIP}),
                "window_index": ("INT", {"default": 0, "min": 0, "max": 1000000, "step": 1, "control_after_generate": "increment", "tooltip": (
                    "Which window to cut (0 = the first). Set the widget to 'increment' and queue once per window."
                )}),
                **_crop_inputs(),
            }
        }

    def crop(self, video, tracks, window_index, window_frames, face_size, face_padding):
        source, info = _open_video(video, tracks)
        windows, index = _window(info, window_frames, window_index)
        start, stop = windows[index]
        plan = plan_crops(tracks, np.zeros((info.frame_count, 1, 1, 3), np.uint8), CropSpec(face_size=int(face_size), face_padding=float(face_padding)))
        frames = WindowReader(source, info, host.check_interrupt).window(start, stop)
        window_plan, _ = plan.window(start, stop, fingerprint_frames(frames))
        with one_torch_thread():
            crops = cut_crops(frames, window_plan, host.check_interrupt)
        return (crops, window_plan, index, len(windows))


def _open_video(video, tracks) -> tuple[str, object]:
    """(the file behind a VIDEO, its VideoInfo), or ValueError when the tracks are of another video."""
    source = host.video_file(video)
    info = probe_video(source)
    check_tracks_match(tracks, info)
    return source, info


def _window(info, window_frames, window_index) -> tuple[list[tuple[int, int]], int]:
    """(the video's windows without overlap, the checked window index) for the window chain."""
    windows = plan_windows(info.frame_count, int(window_frames), 0)
    if not 0 <= int(window_index) < len(windows):
        raise ValueError(f"window_index must be in 0..{len(windows) - 1} for this video ({len(windows)} windows), but got {window_index}; set it back to 0")
    return windows, int(window_index)


def _output_path(source: str, tracks, settings: dict) -> tuple[str, str]:
    """(a name for the job, the output file in the job directory): one per source file, tracks and settings."""
    stat = os.stat(source)
    name = hashlib.sha256(json.dumps([os.path.abspath(source), stat.st_size, stat.st_mtime_ns, tracks_key(tracks), settings], sort_keys=True).encode()).hexdigest()[:16]
    return name, os.path.join(host.job_directory(), f"{os.path.splitext(os.path.basename(source))[0]}_fuse_{name}.mp4")


class FUSEVideoPasteWindow:
    DESCRIPTION = (
        "Pastes one window's processed crops (from FUSE Video Crop Window through any IMAGE node) back into the VIDEO and "
        "keeps the encoded window in a job folder. When every window is done it writes the whole video (source audio, exact "
        "frame rate) to output/fuse and shows it. Windows already done are kept across runs and server restarts."
    )
    CATEGORY = "FUSE/video"
    FUNCTION = "paste"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("status",)
    OUTPUT_TOOLTIPS = ("Which windows are done, and the output file once complete.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "video": ("VIDEO", {"tooltip": VIDEO_TOOLTIP}),
                "tracks": ("FUSE_TRACKS", {"tooltip": TRACKS_TOOLTIP}),
                "crops": ("IMAGE", {"tooltip": "This window's processed crops (same rows and size as FUSE Video Crop Window gave)."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan from FUSE Video Crop Window."}),
                "window_index": ("INT", {"default": 0, "min": 0, "max": 1000000, "tooltip": "Connect FUSE Video Crop Window's window_index."}),
                "window_frames": ("INT", {"default": 81, "min": 1, "max": 100000, "tooltip": "The same window_frames as FUSE Video Crop Window."}),
                **_paste_inputs(),
            }
        }

    def paste(self, video, tracks, crops, crop_plan, window_index, window_frames, blend_mode, blend_amount, fade_frames, codec, crf):
        source, info = _open_video(video, tracks)
        windows, index = _window(info, window_frames, window_index)
        start, stop = windows[index]
        if crop_plan.frame_count != stop - start:
            raise ValueError(f"crop_plan must be window {index}'s ({stop - start} frames), but it covers {crop_plan.frame_count}; connect FUSE Video Crop Window's crop_plan and window_index")
        settings = {"window_frames": int(window_frames), "blend_mode": blend_mode, "blend_amount": float(blend_amount), "fade_frames": int(fade_frames), "codec": codec, "crf": int(crf)}
        name, output = _output_path(source, tracks, settings)
        if os.path.exists(output):
            return {"ui": {"text": [f"done: {output}"]}, "result": (output,)}
        job = VideoJob(output, {"settings": settings, "source": name}, windows, resume=True)
        frames = WindowReader(source, info, host.check_interrupt).window(start, stop)
        fades = row_fades(crop_plan, tracks, start, int(fade_frames))
        with SegmentWriter(job.segment(index), fps=info.fps, size=(info.width, info.height), codec=codec, crf=int(crf)) as writer, one_torch_thread():
            step = float_chunk(frames.shape[1:3])
            paste = PasteSpec(blend_mode=blend_mode, blend_amount=float(blend_amount))
            for chunk_start in range(0, stop - start, step):
                chunk = frames[chunk_start : chunk_start + step]
                chunk_plan, chunk_rows = crop_plan.window(chunk_start, chunk_start + len(chunk), fingerprint_frames(chunk))
                if chunk_plan.total_rows:
                    chunk = paste_chunk(chunk, crops, None, chunk_plan, chunk_rows, fades[torch.from_numpy(chunk_rows)], paste, host.check_interrupt, tracks=tracks, start=start + chunk_start)
                writer.write(chunk)
        job.finish_window(index)
        missing = [k for k in range(len(windows)) if k not in job.done]
        if missing:
            text = f"window {index + 1} of {len(windows)} done; {len(missing)} to go (next: window_index {missing[0]})"
            return {"ui": {"text": [text]}, "result": (text,)}
        finish_video([job.segment(k) for k in range(len(windows))], output, audio_source=source if info.has_audio else None, check_interrupt=host.check_interrupt)
        job.remove()
        return {"ui": {"text": [f"done: {output}"]}, "result": (output,)}


NODE_CLASS_MAPPINGS = {
    "FUSEVideoTrackFaces": FUSEVideoTrackFaces,
    "FUSEVideoProcessFaces": FUSEVideoProcessFaces,
    "FUSERestoreProcessor": FUSERestoreProcessor,
    "FUSESampleProcessor": FUSESampleProcessor,
    "FUSELipsyncProcessor": FUSELipsyncProcessor,
    "FUSEVideoCropWindow": FUSEVideoCropWindow,
    "FUSEVideoPasteWindow": FUSEVideoPasteWindow,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FUSEVideoTrackFaces": "FUSE Track Video Faces",
    "FUSEVideoProcessFaces": "FUSE Process Video Faces",
    "FUSERestoreProcessor": "FUSE Restore Processor",
    "FUSESampleProcessor": "FUSE Sample Processor",
    "FUSELipsyncProcessor": "FUSE Lipsync Processor",
    "FUSEVideoCropWindow": "FUSE Video Crop Window",
    "FUSEVideoPasteWindow": "FUSE Video Paste Window",
}
