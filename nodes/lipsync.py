"""Lipsync nodes: Wav2Lip on FUSE face crops, the audio of one face sequence, fitting video to audio."""

from __future__ import annotations

import torch

from ..lipsync.audio import AUDIO_POLICIES, fit_clip_to_audio
from ..lipsync.backends import LICENSE_NOTE, MODEL_FOLDER, lipsync_options, load_lipsync_model
from ..lipsync.pipeline import LIPSYNC_AUDIO_POLICIES, LipsyncSpec, face_sequence_audio, lipsync_crops, sequence_speaking_weights
from ..analysis.selection import FaceSelection
from ..analysis.syncability import SyncRules
from ..models.store import file_fingerprint
from . import host

OFFSET_MS = {"default": 0, "min": -600000, "max": 600000, "step": 1}
SPEAKERS_TOOLTIP = (
    "Who speaks when, from FUSE Active Speaker: each face is synced only while it speaks (fading in and out around its "
    "segments) and keeps its own mouth otherwise; a face given a stem is driven by its own voice. A face listed in ranges "
    "follows its ranges instead (manual ranges override)."
)


class FUSELipsync:
    DESCRIPTION = (
        "Lipsyncs the tracked faces of FUSE crops to an audio track with Wav2Lip (models/lipsync: wav2lip.pth or "
        "wav2lip_gan.pth). Frame times come from the video's exact fps, so long clips at 29.97 fps stay in sync. "
        "Choose faces by track id or character name and give each a time range; frames outside the ranges, or whose face is too "
        "small (< 64 px), poorly detected (score < 0.5) or without audio (trim) pass through with a short fade. "
        "Connect crops to FUSE Paste Faces' crops and edit_mask to its edit_mask: only the mouth region changes. "
        + LICENSE_NOTE
    )
    CATEGORY = "FUSE/lipsync"
    FUNCTION = "lipsync"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("crops", "edit_mask")
    OUTPUT_TOOLTIPS = (
        "The crops with the synced mouths blended in (same rows and size as the input crops); connect to FUSE Paste Faces' crops.",
        "Where each crop was changed (lower face, 0 elsewhere and on frames passed through); connect to FUSE Paste Faces' edit_mask.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "crops": ("IMAGE", {"tooltip": "Face crops from FUSE Crop Face Sequences (all sequences, in plan order)."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan of those crops; its fps times the frames against the audio."}),
                "audio": ("AUDIO", {"tooltip": "The speech to sync to (any sample rate, mono or stereo; mixed to mono and resampled to 16 kHz)."}),
                "lipsync_model": (lipsync_options(host.model_store()), {"tooltip": "A Wav2Lip checkpoint in models/lipsync (wav2lip.pth, wav2lip_gan.pth). " + LICENSE_NOTE}),
                "audio_policy": (list(LIPSYNC_AUDIO_POLICIES), {"default": "pad_silence", "tooltip": "Frames the audio does not reach: pad_silence syncs them to silence (mouth closed); trim leaves them as they are. To loop or ping-pong the video to a longer audio, use FUSE Fit Video To Audio before detection."}),
                "audio_offset_ms": ("INT", dict(OFFSET_MS, tooltip="When the audio starts, in ms of video time: positive delays it, negative skips its beginning.")),
                "track_ids": ("STRING", {"default": "all", "tooltip": "Faces to sync (the `faces` selection of the other FUSE nodes, under its first name): all (or -1 or empty) = every face; track ids such as 1, 3; character names from FUSE Analyze Faces such as alice, bob (crop the tracks it outputs); or a mix such as 2, alice. An id or name that no face sequence of the crop plan has is an error naming the faces there."}),
                "ranges": ("STRING", {"default": "", "multiline": True, "tooltip": "Per face time ranges in ms as JSON, e.g. {\"1\": [[0, 2000], [5000, 8000]]}. Keys are track ids or character names of faces in the video (an unknown key is an error naming the faces there). Faces not listed are synced throughout. Ranges may start before the video or end after it."}),
                "batch_size": ("INT", {"default": 16, "min": 1, "max": 512, "step": 1, "tooltip": "Faces per model call: larger is faster on a GPU and needs more memory."}),
            },
            "optional": {
                "tracks": ("FUSE_TRACKS", {"tooltip": "The tracks the crop plan was made from: their landmarks place the mouth precisely and their box sizes and scores decide which frames are syncable. Without them the face is assumed centred in the crop."}),
                "min_face_px": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 1, "tooltip": "Faces narrower than this many source pixels are not synced (too small for Wav2Lip)."}),
                "min_score": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Frames whose face detection score is below this are not synced (needs tracks); FUSE Analyze Faces calls the same rule min_confidence."}),
                "fade_frames": ("INT", {"default": 3, "min": 0, "max": 100, "step": 1, "tooltip": "Frames over which the edit fades in and out where syncing starts or stops."}),
                "speakers": ("FUSE_SPEAKERS", {"tooltip": SPEAKERS_TOOLTIP}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, lipsync_model=None, **_):
        return host.is_changed(file_fingerprint(host.model_store(), MODEL_FOLDER, lipsync_model))  # run again when the checkpoint is replaced

    def lipsync(self, crops, crop_plan, audio, lipsync_model, audio_policy="pad_silence", audio_offset_ms=0, track_ids="all", ranges="", batch_size=16, tracks=None, min_face_px=64, min_score=0.5, fade_frames=3, speakers=None):
        device = host.torch_device()
        model = load_lipsync_model(host.model_path(MODEL_FOLDER, lipsync_model), device=device)
        spec = LipsyncSpec(
            faces=FaceSelection.parse(track_ids, input_name="track_ids"),
            ranges=ranges,
            audio_policy=audio_policy,
            audio_offset_ms=int(audio_offset_ms),
            rules=SyncRules(min_face_px=float(min_face_px), min_confidence=float(min_score)),
            fade_frames=int(fade_frames),
            batch_size=int(batch_size),
        )
        result = lipsync_crops(
            crops,
            crop_plan,
            audio,
            model,
            spec,
            tracks=tracks,
            speakers=speakers,
            device=device,
            on_progress=host.progress_callback(getattr(crop_plan, "total_rows", 0)),
            check_interrupt=host.check_interrupt,
        )
        out_device = host.intermediate_device()
        return (result.crops.to(out_device), result.edit_mask.to(out_device))


class FUSEFaceSequenceAudio:
    DESCRIPTION = (
        "The audio that plays during one face sequence, with that sequence's crops and a crop plan of it alone, so "
        "another lipsync node (LatentSync, MuseTalk, ...) can process FUSE crops: feed it crops and audio, then paste "
        "its result with FUSE Paste Faces and this crop_plan. Times are exact from the video's fps."
    )
    CATEGORY = "FUSE/lipsync"
    FUNCTION = "slice"
    RETURN_TYPES = ("AUDIO", "IMAGE", "FUSE_CROPS", "FLOAT", "MASK")
    RETURN_NAMES = ("audio", "crops", "crop_plan", "fps", "edit_mask")
    OUTPUT_TOOLTIPS = (
        "The audio from the sequence's first frame to the end of its last, silence where the input audio does not reach; it lasts exactly frames / fps. With speakers: the face's own stem if it has one, silent outside its speaking segments.",
        "The crops of this sequence only (empty when no crops are connected).",
        "A crop plan holding this sequence alone: paste the processed crops with it.",
        "The video's frame rate (exact value as a float), for nodes that ask for fps.",
        "Where to paste the other node's result, one mask per crop of the sequence: 1 while the face speaks, fading to 0 around its segments (all 1 without speakers). Connect to FUSE Paste Faces' edit_mask so the face keeps its own mouth while it is silent.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan from FUSE Crop Face Sequences."}),
                "audio": ("AUDIO", {"tooltip": "The audio of the whole video (it starts at video time audio_offset_ms)."}),
                "sequence_index": ("INT", {"default": 0, "min": 0, "max": 100000, "step": 1, "tooltip": "Which face sequence, counting from 0 in plan order (track id, then start frame)."}),
                "audio_offset_ms": ("INT", dict(OFFSET_MS, tooltip="When the audio starts, in ms of video time: positive delays it, negative skips its beginning.")),
            },
            "optional": {
                "crops": ("IMAGE", {"tooltip": "The crops of the plan; the rows of the chosen sequence are passed on."}),
                "speakers": ("FUSE_SPEAKERS", {"tooltip": "Who speaks when, from FUSE Active Speaker: the audio is the face's own (its stem, if it has one) and silent while it does not speak, and edit_mask says which crops to paste."}),
                "fade_frames": ("INT", {"default": 3, "min": 0, "max": 100, "step": 1, "tooltip": "With speakers: frames over which the audio and edit_mask fade in and out around each speaking segment."}),
            },
        }

    def slice(self, crop_plan, audio, sequence_index=0, audio_offset_ms=0, crops=None, speakers=None, fade_frames=3):
        sliced, rows, plan = face_sequence_audio(
            crop_plan, audio, int(sequence_index), crops=crops, audio_offset_ms=int(audio_offset_ms), speakers=speakers, fade_frames=int(fade_frames),
        )
        height, width = plan.crop_size
        if rows is None:
            rows = torch.zeros((0, height, width, 3))
        weights = torch.from_numpy(sequence_speaking_weights(crop_plan, speakers, int(sequence_index), int(fade_frames)))
        edit_mask = weights[:, None, None].expand(len(weights), height, width).contiguous()
        out_device = host.intermediate_device()
        return (sliced, rows.to(out_device), plan, float(crop_plan.fps), edit_mask.to(out_device))


class FUSEFitVideoToAudio:
    DESCRIPTION = (
        "Makes a video and its audio the same length before face detection: trim to the shorter, pad the audio "
        "with silence, or loop / ping-pong the video until the audio ends. The audio offset is applied, so the "
        "returned audio starts with the first returned frame (use offset 0 downstream)."
    )
    CATEGORY = "FUSE/lipsync"
    FUNCTION = "fit"
    RETURN_TYPES = ("IMAGE", "AUDIO")
    RETURN_NAMES = ("images", "audio")
    OUTPUT_TOOLTIPS = (
        "The frames, trimmed or repeated to the audio's length.",
        "The audio, offset applied, trimmed or padded with silence to exactly the frames' duration.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video frames."}),
                "audio": ("AUDIO", {"tooltip": "The speech the video will be lipsynced to."}),
                "fps": ("FLOAT", {"default": 25.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": "The video's frame rate (29.97 and 23.976 are taken as 30000/1001 and 24000/1001)."}),
                "audio_policy": (list(AUDIO_POLICIES), {"default": "pad_silence", "tooltip": "trim: cut to the shorter; pad_silence: keep the video, pad or cut the audio; loop_video / pingpong_video: repeat the video (forwards / forwards-backwards) until the audio ends."}),
                "audio_offset_ms": ("INT", dict(OFFSET_MS, tooltip="When the audio starts, in ms of video time: positive delays it, negative skips its beginning.")),
            }
        }

    def fit(self, images, audio, fps=25.0, audio_policy="pad_silence", audio_offset_ms=0):
        out_images, out_audio = fit_clip_to_audio(images, audio, float(fps), audio_policy, int(audio_offset_ms))
        return (out_images, out_audio)


NODE_CLASS_MAPPINGS = {
    "FUSELipsync": FUSELipsync,
    "FUSEFaceSequenceAudio": FUSEFaceSequenceAudio,
    "FUSEFitVideoToAudio": FUSEFitVideoToAudio,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FUSELipsync": "FUSE Lipsync",
    "FUSEFaceSequenceAudio": "FUSE Face Sequence Audio",
    "FUSEFitVideoToAudio": "FUSE Fit Video To Audio",
}
