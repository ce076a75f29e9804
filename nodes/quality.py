"""Quality stage: measure the processed faces against the original, face by face and segment by
segment (lip sync, identity, flicker, jitter, seams), and put the original face back where a
segment fails. FUSE Quality Check takes IMAGE batches, FUSE Video Quality Check VIDEO files."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import torch

from ..lipsync.syncnet import MODEL_FOLDER, resolve_syncnet_option, syncnet_options
from ..models.face_embedders import EMBEDDERS, embedder_options, load_face_embedder
from ..models.store import file_fingerprint
from ..quality.check import QualityOptions, Thresholds
from ..quality.fallback import apply_fallback, write_fallback_video
from ..quality.frames import ImageFrames, VideoFrames
from ..quality.plot import plot_quality
from ..quality.report import build_report, summary_lines
from ..quality.run import load_syncnet_choice, run_check
from . import host

DEFAULTS = Thresholds()
OPTION_DEFAULTS = QualityOptions()


def _settings_inputs() -> dict:
    return {
        "syncnet": (syncnet_options(host.model_files(MODEL_FOLDER)), {"default": "auto", "tooltip": (
            "SyncNet for the lip-sync scores (LSE-D, LSE-C, offset), used when audio is connected. auto: the first file in "
            "models/syncnet (syncnet_v2.model; FUSE Download Model gets it); none: no lip-sync scores."
        )}),
        "embedder": (embedder_options(host.model_store()), {"default": "auto", "tooltip": (
            "ArcFace face recogniser for identity drift (auto: the first in models/insightface, e.g. buffalo_l/w600k_r50.onnx; "
            "none: no identity figures)."
        )}),
        "fallback": ("BOOLEAN", {"default": True, "tooltip": "On: segments that fail get the original face back (cross-faded). Off: only measure; the result is the processed video."}),
        "fade_frames": ("INT", {"default": 4, "min": 0, "max": 100, "step": 1, "tooltip": "Frames over which a put-back face cross-fades where it meets a passing segment of the same shot."}),
        "segment_seconds": ("FLOAT", {"default": OPTION_DEFAULTS.segment_seconds, "min": 0.2, "max": 600.0, "step": 0.1, "tooltip": (
            "Faces are judged (and put back) in segments of about this length; a segment never crosses a shot cut. Longer "
            "segments give steadier lip-sync scores, shorter ones replace less."
        )}),
        "min_lse_c": ("FLOAT", {"default": DEFAULTS.min_lse_c, "min": 0.0, "max": 20.0, "step": 0.1, "tooltip": (
            "Lip sync: a segment whose LSE-C (SyncNet confidence) is below this fails; 0 = off. In-sync speech scores about "
            "6-9, out of sync 0-2. Connect audio only when the faces should speak it."
        )}),
        "max_av_offset": ("INT", {"default": DEFAULTS.max_av_offset, "min": -1, "max": 15, "step": 1, "tooltip": (
            "Lip sync: a segment whose best audio-video offset is more than this many 25 fps frames fails; -1 = off."
        )}),
        "min_identity": ("FLOAT", {"default": DEFAULTS.min_identity, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
            "Identity: a segment whose median ArcFace similarity between original and processed face is below this fails; 0 = off."
        )}),
        "max_flicker": ("FLOAT", {"default": DEFAULTS.max_flicker, "min": 0.0, "max": 255.0, "step": 0.1, "tooltip": (
            "Flicker: a segment whose largest excess warping error (grey levels the processed face changes beyond the "
            "original's motion, frame to frame) is above this fails; 0 = off."
        )}),
        "max_jitter": ("FLOAT", {"default": DEFAULTS.max_jitter, "min": 0.0, "max": 10.0, "step": 0.005, "tooltip": (
            "Crop jitter: a segment whose crop shakes more than this (95th percentile of the box centre's jerk, as a fraction "
            "of the face size) fails; 0 = off."
        )}),
        "max_seam": ("FLOAT", {"default": DEFAULTS.max_seam, "min": 0.0, "max": 100.0, "step": 0.05, "tooltip": (
            "Seams: a segment whose paste edge stands out more than this (median seam contrast: the change's gradient energy "
            "on the edge against the detail beside it) fails; 0 = off."
        )}),
        "face_margin": ("FLOAT", {"default": OPTION_DEFAULTS.face_margin, "min": 0.0, "max": 4.0, "step": 0.05, "tooltip": (
            "The face region is the box grown by this fraction of its larger side on every side: where flicker and seams are "
            "looked for and what the fallback replaces. 1.0 covers crops reaching half the box beyond it (crop margin up to 0.5)."
        )}),
        "shot_cuts": ("STRING", {"default": "", "tooltip": (
            "Shot cuts (frames that start a new shot): empty = the tracks' cuts, else found in the original; \"none\"; or a "
            "list such as \"120, 348\"."
        )}),
    }


AUDIO_INPUT = ("AUDIO", {"tooltip": (
    "The audio the faces should speak (for a lipsync result, the audio it was synced to); its first sample plays with frame 0. "
    "Not connected: no lip-sync scores."
)})


def _options(segment_seconds, min_lse_c, max_av_offset, min_identity, max_flicker, max_jitter, max_seam, face_margin, shot_cuts) -> QualityOptions:
    thresholds = Thresholds(float(min_lse_c), int(max_av_offset), float(min_identity), float(max_flicker), float(max_jitter), float(max_seam))
    return QualityOptions(thresholds, float(segment_seconds), float(face_margin), str(shot_cuts))


def _models(syncnet, embedder, audio):
    """(SyncNet or None, why not, ArcFace embedder or None, why not); SyncNet is loaded only with audio."""
    net, note = load_syncnet_choice(syncnet, host.model_files(MODEL_FOLDER), host.model_path, host.torch_device()) if audio is not None else (None, "")
    face_embedder = load_face_embedder(embedder, host.model_store())
    identity_note = "identity turned off (embedder: none)" if embedder == "none" else ""
    return net, note, face_embedder, identity_note


def _is_changed(syncnet, embedder) -> str | float:
    """Run again when "auto" would choose another model or a chosen file changed."""
    models = host.model_store()
    if isinstance(syncnet, str) and syncnet != "none":
        file = resolve_syncnet_option(syncnet, models.files(MODEL_FOLDER))
        syncnet_print = "syncnet: none found" if file is None else file_fingerprint(models, MODEL_FOLDER, file)
    else:
        syncnet_print = None if not isinstance(syncnet, str) else "syncnet: none"
    return host.is_changed(syncnet_print, EMBEDDERS.fingerprint(embedder, models))


def _plot_image(result) -> torch.Tensor:
    return torch.from_numpy(plot_quality(result)).float().div_(255.0)[None]


def _report_text(result, fallback: bool, weights, fade_frames: int) -> str:
    report = build_report(result, fallback={"applied": weights is not None, "fade_frames": int(fade_frames)} if fallback else None)
    report["summary"] = summary_lines(report)
    return json.dumps(report, indent=1)


OUTPUT_TOOLTIPS = (
    "The plot: each face's figures over time, failing segments shaded red, shot cuts grey, thresholds dashed.",
    "The report as JSON (schemas/quality_report.schema.json): per face and segment every figure, what failed, what was put "
    "back; docs/quality.md says how to read each figure.",
)


class QualityCheckNode:
    """What both quality check nodes share: the model choices, the check itself, the outputs."""

    CATEGORY = "FUSE/quality"
    FUNCTION = "check"
    OUTPUT_NODE = True

    @classmethod
    def IS_CHANGED(cls, syncnet=None, embedder=None, **_):
        return _is_changed(syncnet, embedder)

    @staticmethod
    def _run(before, after, tracks, options, audio, syncnet, embedder, fallback, fade_frames):
        """(result, fallback weights or None, the progress bar, at half way) of run_check on the two videos."""
        net, note, face_embedder, identity_note = _models(syncnet, embedder, audio)
        bar = host.progress(before.frame_count * 2)
        result, weights = run_check(before, after, tracks, options=options, audio=audio, syncnet=net, syncnet_note=note, embedder=face_embedder,
                                    identity_note=identity_note, fallback=bool(fallback), fade_frames=int(fade_frames), on_progress=bar.update,
                                    check_interrupt=host.check_interrupt)
        return result, weights, bar

    @staticmethod
    def _outputs(result, output, fallback, weights, fade_frames) -> dict:
        text = _report_text(result, bool(fallback), weights, fade_frames)
        return {"ui": {"text": [text]}, "result": (output, _plot_image(result), text)}


class FUSEQualityCheck(QualityCheckNode):
    DESCRIPTION = (
        "Checks processed faces against the original. Face by face and segment by segment: lip sync (SyncNet LSE-D / LSE-C "
        "and offset, with audio), identity drift (ArcFace), flicker (flow-warping error), crop jitter, seams, and change "
        "outside the faces. Segments that fail get the original face back. Outputs the result, a plot and a JSON report."
    )
    RETURN_TYPES = ("IMAGE", "IMAGE", "STRING")
    RETURN_NAMES = ("images", "plot", "report")
    OUTPUT_TOOLTIPS = ("The processed frames with the original faces put back in failing segments (unchanged when none fail or fallback is off).", *OUTPUT_TOOLTIPS)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "original": ("IMAGE", {"tooltip": "The frames before processing (the ones the tracks were made on)."}),
                "processed": ("IMAGE", {"tooltip": "The same frames after processing (e.g. FUSE Paste Faces' images)."}),
                "tracks": ("FUSE_TRACKS", {"tooltip": "Tracks of the original frames (FUSE Track Faces / Analyze Faces)."}),
                **_settings_inputs(),
            },
            "optional": {"audio": AUDIO_INPUT},
        }

    def check(self, original, processed, tracks, syncnet, embedder, fallback, fade_frames, audio=None, **settings):
        options = _options(**settings)  # segment_seconds, the thresholds, face_margin, shot_cuts
        if original.shape[-1] != processed.shape[-1]:
            raise ValueError(f"processed must have the original's {original.shape[-1]} channels, but got {processed.shape[-1]}; convert both to RGB")
        before, after = ImageFrames(original, "original"), ImageFrames(processed, "processed")
        result, weights, bar = self._run(before, after, tracks, options, audio, syncnet, embedder, fallback, fade_frames)
        images = processed
        if weights is not None:  # only the face regions of failing frames change; every other value stays exactly
            images = processed.clone()
            for t in np.flatnonzero(weights.any(axis=0)).tolist():
                host.check_interrupt()
                mixed = apply_fallback(original[t : t + 1].cpu().numpy(), processed[t : t + 1].cpu().numpy(), t, tracks, weights, options.face_margin)
                images[t] = torch.from_numpy(mixed[0]).to(images.device, images.dtype)
        bar.update(before.frame_count)
        return self._outputs(result, images, fallback, weights, fade_frames)


class FUSEVideoQualityCheck(QualityCheckNode):
    DESCRIPTION = (
        "FUSE Quality Check for VIDEO files. Any length (read a chunk at a time): the same figures, the same fallback, "
        "written to a new video with the processed video's audio."
    )
    RETURN_TYPES = ("VIDEO", "IMAGE", "STRING")
    RETURN_NAMES = ("video", "plot", "report")
    OUTPUT_TOOLTIPS = ("The processed video with the original faces put back in failing segments (the processed VIDEO itself when none fail or fallback is off).", *OUTPUT_TOOLTIPS)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "original": ("VIDEO", {"tooltip": "The video before processing (Load Video; the one the tracks were made on)."}),
                "processed": ("VIDEO", {"tooltip": "The same video after processing (e.g. FUSE Process Video Faces' video)."}),
                "tracks": ("FUSE_TRACKS", {"tooltip": "Tracks of the original video (FUSE Track Video Faces)."}),
                **_settings_inputs(),
                "codec": (["h264", "h264_lossless"], {"default": "h264", "tooltip": "Codec of the fallback video (written only when a segment fails)."}),
                "crf": ("INT", {"default": 18, "min": 0, "max": 51, "step": 1, "tooltip": "h264 quality of the fallback video: 0 best, 18 visually transparent."}),
            },
            "optional": {"audio": (AUDIO_INPUT[0], {"tooltip": AUDIO_INPUT[1]["tooltip"].replace("Not connected: no lip-sync scores.", "Not connected: the processed video's own audio.")})},
        }

    def check(self, original, processed, tracks, syncnet, embedder, fallback, fade_frames, codec, crf, audio=None, **settings):
        from ..media.video import read_audio

        options = _options(**settings)  # segment_seconds, the thresholds, face_margin, shot_cuts
        before = VideoFrames(host.video_file(original), host.check_interrupt)
        after = VideoFrames(host.video_file(processed), host.check_interrupt)
        if audio is None and after.info.has_audio:
            audio = read_audio(after.path)
        result, weights, bar = self._run(before, after, tracks, options, audio, syncnet, embedder, fallback, fade_frames)
        video = processed
        if weights is not None:
            key = json.dumps([before.path, after.path, os.path.getmtime(after.path), np.flatnonzero(result.failed).tolist(), int(fade_frames), float(options.face_margin), codec, int(crf)])
            path = os.path.join(host.job_directory(), f"{os.path.splitext(after.name)[0]}_qc_{hashlib.sha256(key.encode()).hexdigest()[:16]}.mp4")
            if not os.path.exists(path):
                write_fallback_video(before, after, tracks, weights, options.face_margin, path, codec=codec, crf=int(crf),
                                     audio_source=after.path if after.info.has_audio else None, on_progress=bar.update, check_interrupt=host.check_interrupt)
            video = host.video_output(path)
        return self._outputs(result, video, fallback, weights, fade_frames)


NODE_CLASS_MAPPINGS = {"FUSEQualityCheck": FUSEQualityCheck, "FUSEVideoQualityCheck": FUSEVideoQualityCheck}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEQualityCheck": "FUSE Quality Check", "FUSEVideoQualityCheck": "FUSE Video Quality Check"}
