"""Active speaker stage: who speaks when, from the faces, the frames and the audio (or one stem per speaker)."""

from __future__ import annotations

import json

import torch

from ..media.stream import iter_frames, probe_video
from ..speaker.active import SpeakerSettings
from ..core.images import uint8_chunks
from ..speaker.analyse import CHUNK_FRAMES, check_frames_match_tracks, find_active_speakers
from ..speaker.scorers import load_sync_scorer, sync_model_fingerprint, sync_model_options
from ..speaker.timeline import timeline_image
from . import host
from .lipsync import OFFSET_MS

STEMS = 4


class FUSEActiveSpeaker:
    DESCRIPTION = (
        "Finds who speaks when: per face and frame, whether that face is speaking, with a confidence. Speech is found in the "
        "audio itself (silence assigns no speaker); each face's mouth is compared with the audio over a sliding window "
        "(SyncNet's audio-visual sync confidence with its offset search; without SyncNet, the weaker 68-point landmark "
        "fallback: mouth opening against the speech level, InsightFace 1k3d68). Speech no face is in sync with (an "
        "off-screen speaker) goes to nobody. With stems (one audio track per speaker) each stem goes to the face it belongs "
        "to. Connect speakers to FUSE Lipsync (or FUSE Face Sequence Audio) so each face moves only while it speaks."
    )
    CATEGORY = "FUSE/lipsync"
    FUNCTION = "detect"
    RETURN_TYPES = ("FUSE_SPEAKERS", "STRING", "IMAGE")
    RETURN_NAMES = ("speakers", "report", "timeline")
    OUTPUT_TOOLTIPS = (
        "Who speaks when, per face and frame; connect to FUSE Lipsync's or FUSE Face Sequence Audio's speakers.",
        "The speaker report as JSON: segments (face, start, end, confidence), per face totals and stem, speech nobody on "
        "screen speaks, notes (schemas/speaker_report.schema.json).",
        "A timeline picture of who speaks when (audio rows: speech, red = off screen; one row per face, with its confidence).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        optional = {
            "images": ("IMAGE", {"tooltip": "The video frames the tracks were made from (connect images or video)."}),
            "video": ("VIDEO", {"tooltip": "The video the tracks were made from, read a chunk at a time (connect images or video)."}),
        }
        for index in range(1, STEMS + 1):
            optional[f"stem_{index}"] = ("AUDIO", {"tooltip": (
                f"Speaker {index}'s own audio track (a stem). With stems, each goes to the face whose mouth follows it and "
                "drives that face in FUSE Lipsync; the audio input is then not analysed. Stems start at audio_offset_ms too."
            )})
        return {
            "required": {
                "tracks": ("FUSE_TRACKS", {"tooltip": "The faces, from FUSE Track Faces, FUSE Analyze Faces (character names) or FUSE Track Video Faces."}),
                "audio": ("AUDIO", {"tooltip": "The soundtrack: speech of one or several people (any rate, mono or stereo)."}),
                "sync_model": (sync_model_options(host.model_store()), {"default": "auto", "tooltip": (
                    "What measures audio-visual sync. SyncNet (syncnet/syncnet_v2.model, research use): sync confidence of "
                    "each face's mouth against the audio, the best. InsightFace's 68-point landmarker (insightface/buffalo_l/"
                    "1k3d68.onnx): mouth opening against the speech level, a weaker fallback. auto: SyncNet if present, else "
                    "the landmarker; with neither, the node says which file to add."
                )}),
                "threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Sync confidence (0..1) a face needs to count as speaking. Lower finds quieter speakers and more false ones."}),
                "window_ms": ("INT", {"default": 1000, "min": 200, "max": 10000, "step": 40, "tooltip": "The sliding window sync is measured over: longer is steadier, shorter follows fast turns."}),
                "min_segment_ms": ("INT", {"default": 200, "min": 0, "max": 10000, "step": 10, "tooltip": "Speaking segments shorter than this are dropped."}),
                "max_gap_ms": ("INT", {"default": 300, "min": 0, "max": 10000, "step": 10, "tooltip": "Pauses shorter than this inside one face's speech are bridged."}),
                "audio_offset_ms": ("INT", dict(OFFSET_MS, tooltip="When the audio starts, in ms of video time: positive delays it, negative skips its beginning.")),
            },
            "optional": optional,
        }

    @classmethod
    def IS_CHANGED(cls, sync_model=None, **_):
        return host.is_changed(sync_model_fingerprint(sync_model, host.model_store()))  # run again when the model file changes

    def detect(self, tracks, audio, sync_model, threshold=0.5, window_ms=1000, min_segment_ms=200, max_gap_ms=300, audio_offset_ms=0, images=None, video=None, **stems):
        if images is None and video is None:
            raise ValueError("images or video must be connected: the frames the tracks were made from (FUSE Active Speaker reads the mouths in them)")
        settings = SpeakerSettings(threshold=float(threshold), window_ms=float(window_ms), min_segment_ms=float(min_segment_ms), max_gap_ms=float(max_gap_ms))
        scorer = load_sync_scorer(sync_model, host.model_store(), device=host.torch_device())
        if images is not None:
            check_frames_match_tracks(int(images.shape[0]), tuple(images.shape[1:3]), tracks, "images")
            chunks = uint8_chunks(images, CHUNK_FRAMES)
        else:
            path = host.video_file(video)
            info = probe_video(path)
            check_frames_match_tracks(info.frame_count, info.frame_size, tracks, "video")
            chunks = iter_frames(path, chunk_frames=CHUNK_FRAMES, info=info, check_interrupt=host.check_interrupt)
        stem_audio = [stems[f"stem_{index}"] for index in range(1, STEMS + 1) if stems.get(f"stem_{index}") is not None]
        run = find_active_speakers(
            scorer, tracks, chunks, audio, stems=stem_audio, audio_offset_ms=int(audio_offset_ms), settings=settings,
            on_progress=host.progress_callback(tracks.frame_count), check_interrupt=host.check_interrupt,
        )
        text = json.dumps(run.report, indent=1)
        picture = torch.from_numpy(timeline_image(run.speakers)).float()[None] / 255.0
        return {"ui": {"text": [text]}, "result": (run.speakers, text, picture.to(host.intermediate_device()))}


NODE_CLASS_MAPPINGS = {"FUSEActiveSpeaker": FUSEActiveSpeaker}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEActiveSpeaker": "FUSE Active Speaker"}
