"""Sample stage: face crops through the host's own MODEL, VAE, conditioning and sampler.

FUSE Sample Face Sequences is the composable piece (crops in, crops out); FUSE Video Latent
KSampler (a video model on face sequences) and FUSE Video KSampler (an image model frame by
frame) run the seed's whole pipeline in one node: detect, track, crop, sample, paste.
"""

from __future__ import annotations

from functools import partial

from ..analysis.selection import FaceSelection
from ..compositing.geometry import CropSpec
from ..compositing.masks import BLEND_MODES
from ..compositing.paste import PasteSpec
from ..models.face_detectors import DETECTORS, HAAR_OPTION, detector_options, load_face_detector
from ..sampling.backend import LatentSampler, VaeCodec
from ..sampling.frames import sample_face_frames
from ..sampling.sequences import sample_face_sequences
from ..tracking.spec import TrackSpec
from ..core.progress import StagedProgress
from ..pipeline import process_faces_in_video, process_stage_weights
from . import host

SEED_MAX = 0xFFFFFFFFFFFFFFFF


def vae_codec(vae) -> VaeCodec:
    """The host VAE as the sampling core sees it (facts read from the VAE, calls through host)."""
    return VaeCodec(encode=partial(host.vae_encode, vae), decode=partial(host.vae_decode, vae), **host.vae_facts(vae))


def latent_sampler(model, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise, model_low_noise=None, switch_step=0) -> LatentSampler:
    """The host sampler bound to the node's conditioning and settings."""
    sample = partial(
        host.sample_latent, steps=int(steps), cfg=float(cfg), sampler_name=sampler_name, scheduler=scheduler,
        positive=positive, negative=negative, denoise=float(denoise),
    )
    models = [model] if model_low_noise is None else [model, model_low_noise]
    spatial_noise_mask = all(host.model_takes_spatial_noise_mask(each) for each in models)
    return LatentSampler(sample, model, int(steps), int(seed), model_low_noise, int(switch_step), host.model_spatial_patch(model), spatial_noise_mask)


# The whole-video samplers' one progress bar runs 0..100: percent of the run's weighted work.
RUN_PROGRESS_TOTAL = 100


def sampler_inputs() -> dict:
    """The KSampler node's settings, with the seed's defaults (denoise 0.5: enhance, don't replace)."""
    return {
        "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True, "tooltip": (
            "Noise seed. Every face gets its own noise, seed + track id - 1, the same for all its windows and frames, "
            "so a face's result does not depend on the other faces or on batching."
        )}),
        "steps": ("INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "Sampling steps (as in KSampler)."}),
        "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01, "tooltip": "Classifier-free guidance scale (Wan's reference is 3.5 to 5)."}),
        "sampler_name": (host.sampler_names(), {"default": "euler", "tooltip": "Sampling algorithm (the KSampler list)."}),
        "scheduler": (host.scheduler_names(), {"default": "normal", "tooltip": "Noise schedule (the KSampler list; Wan workflows often use simple)."}),
        "denoise": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
            "How much of each face is re-generated: 0 keeps it, 1 replaces it. 0.3-0.6 enhances a face and keeps who it is."
        )}),
    }


def window_inputs() -> dict:
    return {
        "window_frames": ("INT", {"default": 81, "min": 1, "max": 4097, "step": 4, "tooltip": (
            "Longest clip sent to the video model at once (rounded down to 4k+1 for Wan). Longer face sequences are "
            "sampled in overlapping windows, cross-faded. Lower it if you run out of memory."
        )}),
        "overlap": ("INT", {"default": 16, "min": 0, "max": 4096, "tooltip": "Frames shared by consecutive windows, cross-faded so no seam shows (a multiple of 4 suits Wan)."}),
        "temporal_padding": ("INT", {"default": 0, "min": 0, "max": 256, "tooltip": (
            "Context frames added before and after every window (neighbouring frames, mirrored at the ends of a face run) "
            "and dropped after decoding; gives the model motion context at the edges."
        )}),
        "batch_tracks": ("BOOLEAN", {"default": False, "tooltip": (
            "Sample windows of equal length from different faces together (B > 1, up to one per face sequence): faster "
            "on a big GPU, more memory. Off: one clip at a time."
        )}),
        "face_only_mask": ("BOOLEAN", {"default": False, "tooltip": (
            "Denoise only a feathered ellipse inside each crop; the crop's border keeps its original latent, which hides the paste seam. "
            "Wan 2.2 5B reads a noise mask as one noise level per frame, so for it the whole crop is sampled and the border put back afterwards."
        )}),
    }


def two_model_inputs() -> dict:
    return {
        "model_low_noise": ("MODEL", {"tooltip": (
            "Wan 2.2 A14B: the low-noise model. `model` then runs steps [0, switch_step) with noise added and leftover "
            "noise kept, this one runs [switch_step, steps) without new noise, as the official two-KSampler templates do."
        )}),
        "switch_step": ("INT", {"default": 10, "min": 0, "max": 10000, "tooltip": "Step at which sampling moves from `model` (high noise) to model_low_noise; ignored without model_low_noise."}),
    }


def video_model_inputs() -> dict:
    return {
        "model": ("MODEL", {"tooltip": "The video diffusion model (for Wan 2.2 A14B: the high-noise model)."}),
        "vae": ("VAE", {"tooltip": "The video model's VAE (Wan 2.1 VAE for Wan 2.1 and 2.2 A14B, Wan 2.2 VAE for 5B)."}),
    }


def conditioning_inputs() -> dict:
    return {
        "positive": ("CONDITIONING", {"tooltip": "What the faces should look like."}),
        "negative": ("CONDITIONING", {"tooltip": "What to avoid."}),
    }


def face_inputs() -> dict:
    """Detection, tracking, cropping and blending inputs with the seed's defaults."""
    options = detector_options(host.model_store())
    return {
        "detector": (options, {"default": "auto", "tooltip": (
            "Face detector (used when no tracks are connected). auto: a YOLO face model from models/ultralytics/bbox, "
            f"else InsightFace SCRFD from models/insightface, else MTCNN, else '{HAAR_OPTION}' (OpenCV's Haar cascade: "
            "no download, low quality, frontal faces only)."
        )}),
        "face_id": ("INT", {"default": -1, "min": -1, "max": 100000, "tooltip": (
            "-1 processes every face; otherwise only the track with this id (see FUSE Preview Tracks). Kept for saved "
            "workflows: the `faces` input also selects several faces and characters by name."
        )}),
        "face_size": ("INT", {"default": 512, "min": 16, "max": 4096, "step": 16, "tooltip": "Crop width in pixels, rounded to what the VAE and model need (Wan 2.1: 16, Wan 2.2 5B: 32)."}),
        "face_padding": ("INT", {"default": 20, "min": 0, "max": 1024, "tooltip": "Source pixels added around each face box."}),
        "force_square": ("BOOLEAN", {"default": True, "tooltip": "Square crops; off: one aspect for the whole batch, from the median face."}),
        "iou_threshold": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Overlap (IoU) a face needs with a track's last box to continue it."}),
        "smooth_boxes": ("BOOLEAN", {"default": True, "tooltip": "Smooth the tracked boxes over time so the crops do not jitter."}),
        "smooth_window": ("INT", {"default": 3, "min": 1, "max": 101, "tooltip": "Smoothing strength, about a moving average over this many frames."}),
        "blend_mode": (list(BLEND_MODES), {"default": "box", "tooltip": "Shape pasted back: box (feathered rectangle) or ellipse (inscribed in the crop)."}),
        "blend_amount": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Feather width of the paste as a fraction of half the crop side (box) or of the radius (ellipse)."}),
    }


def face_choice_inputs() -> dict:
    """Optional inputs added after the first release (last, so saved workflows keep their widget order)."""
    return {
        "faces": ("STRING", {"default": "all", "tooltip": (
            "Faces to process: all (or -1 or empty) = every face; track ids such as 1, 3; character names from FUSE "
            "Analyze Faces such as alice, bob (connect its tracks); or a mix such as 2, alice. Leave face_id at -1."
        )}),
        "fps": ("FLOAT", {"default": 25.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": (
            "The video's fps, e.g. from VideoHelperSuite's video info (29.97 is taken as 30000/1001); tracking uses it "
            "to bridge gaps in seconds. Ignored when tracks are connected (they carry their own)."
        )}),
    }


def load_detector(detector: str):
    return load_face_detector(detector, host.model_store(), device=host.torch_device())


def sequence_processor(codec: VaeCodec, sampler: LatentSampler, window_frames, overlap, temporal_padding, batch_tracks, face_only_mask):
    """process_crops(crops, plan, on_progress=, check_interrupt=): face sequences through the video
    model in windows, as the window inputs say (batch_tracks: up to one clip per sequence at once)."""

    def process_crops(crops, plan, on_progress=None, check_interrupt=None):
        return sample_face_sequences(
            crops, plan, codec, sampler, window_frames=int(window_frames), overlap=int(overlap), temporal_padding=int(temporal_padding),
            batch_size=max(1, len(plan)) if batch_tracks else 1, face_only_mask=bool(face_only_mask),
            on_progress=on_progress, check_interrupt=check_interrupt,
        )

    return process_crops


class FUSESampleFaceSequences:
    DESCRIPTION = (
        "Runs face crops through a video model (Wan 2.1 / 2.2) with your MODEL, VAE and prompts: every face sequence is one "
        "clip (long ones in overlapping windows), encoded by the video VAE, sampled like KSampler and decoded. Connect the "
        "crops and crop plan of FUSE Crop Face Sequences, and the result to FUSE Paste Faces."
    )
    CATEGORY = "FUSE/sample"
    FUNCTION = "sample"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("crops",)
    OUTPUT_TOOLTIPS = ("The processed crops: same row count, order and size as the input crops; connect them to FUSE Paste Faces with the same crop plan.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "crops": ("IMAGE", {"tooltip": "Face crops from FUSE Crop Face Sequences (or crops processed since, same rows and size)."}),
                "crop_plan": ("FUSE_CROPS", {"tooltip": "The crop plan that came with the crops: it says which rows form each face sequence."}),
                **video_model_inputs(),
                **conditioning_inputs(),
                **sampler_inputs(),
                **window_inputs(),
            },
            "optional": two_model_inputs(),
        }

    def sample(self, crops, crop_plan, model, vae, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise,
               window_frames, overlap, temporal_padding, batch_tracks, face_only_mask, model_low_noise=None, switch_step=10):
        sampler = latent_sampler(model, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise, model_low_noise, switch_step)
        process_crops = sequence_processor(vae_codec(vae), sampler, window_frames, overlap, temporal_padding, batch_tracks, face_only_mask)
        processed = process_crops(crops, crop_plan, on_progress=host.progress_callback(getattr(crop_plan, "total_rows", 0)), check_interrupt=host.check_interrupt)
        return (processed.to(host.intermediate_device()),)


class WholeVideoSampler:
    """What FUSE Video Latent KSampler and FUSE Video KSampler share: their outputs, the face and
    sampler inputs, and the run detect -> track -> select -> crop -> process -> paste."""

    CATEGORY = "FUSE/sample"
    FUNCTION = "sample"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("The video with every processed face pasted back; frames without faces are unchanged.",)

    @classmethod
    def IS_CHANGED(cls, detector=None, **inputs):
        # run again when "auto" would pick another detector (one was added) or the chosen file
        # changed; connected tracks (present, as None, among the inputs) mean no detection runs here
        if "tracks" in inputs:
            return ""
        return host.is_changed(DETECTORS.fingerprint(detector, host.model_store()))

    @staticmethod
    def video_inputs(models: dict, processing: dict) -> dict:
        """INPUT_TYPES: the models, the video, prompts, face and sampler settings, then `processing`."""
        return {
            "required": {
                **models,
                "images": ("IMAGE", {"tooltip": "The video as a batch of frames [frames, height, width, 3]."}),
                **conditioning_inputs(),
                **face_inputs(),
                **sampler_inputs(),
                **processing,
            },
            "optional": {
                "tracks": ("FUSE_TRACKS", {"tooltip": "Face tracks from FUSE Track Faces or FUSE Analyze Faces; when connected, no detection runs here."}),
                **two_model_inputs(),
                **face_choice_inputs(),
            },
        }

    def process_video(self, images, process_crops, size_multiple, detector, face_id, face_size, face_padding, force_square,
                      iou_threshold, smooth_boxes, smooth_window, blend_mode, blend_amount, tracks=None, faces="all", fps=25.0):
        selection = FaceSelection.parse(faces, face_id=int(face_id))
        crop = CropSpec(face_size=int(face_size), face_padding=float(face_padding), force_square=bool(force_square), size_multiple=size_multiple)
        paste = PasteSpec(blend_mode=blend_mode, blend_amount=float(blend_amount))
        progress = StagedProgress(host.progress_callback(RUN_PROGRESS_TOTAL), process_stage_weights(detecting=tracks is None), RUN_PROGRESS_TOTAL)
        output = process_faces_in_video(
            images, process_crops, tracks=tracks, detector=None if tracks is not None else load_detector(detector),
            track=TrackSpec(fps=float(fps), iou_threshold=float(iou_threshold), smooth_boxes=bool(smooth_boxes), smooth_window=int(smooth_window)),
            selection=selection, crop=crop, paste=paste, progress=progress, check_interrupt=host.check_interrupt,
        )
        progress.finish()
        return (output.to(host.intermediate_device()),)


class FUSEVideoLatentKSampler(WholeVideoSampler):
    DESCRIPTION = (
        "Enhances every face of a video with a video model (Wan 2.1 / 2.2) in one node: detects and tracks the faces, "
        "crops each as a stable face sequence, samples it as one clip through your MODEL, VAE and prompts, and pastes it "
        "back. Only the faces are sampled, so it is much faster than video-to-video on whole frames, and everything "
        "outside the faces stays bit-identical. Choose faces by track id or character name with `faces`."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return cls.video_inputs(video_model_inputs(), window_inputs())

    def sample(self, model, vae, images, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise,
               window_frames, overlap, temporal_padding, batch_tracks, face_only_mask, model_low_noise=None, switch_step=10, **face_settings):
        codec = vae_codec(vae)
        sampler = latent_sampler(model, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise, model_low_noise, switch_step)
        process_crops = sequence_processor(codec, sampler, window_frames, overlap, temporal_padding, batch_tracks, face_only_mask)
        return self.process_video(images, process_crops, codec.spatial_compression * sampler.spatial_patch, **face_settings)


class FUSEVideoKSampler(WholeVideoSampler):
    DESCRIPTION = (
        "Enhances every face of a video with an image model (SD 1.5, SDXL, Flux...) frame by frame: detects and tracks the "
        "faces, encodes each crop on its own, samples them in batches with the same noise for every frame of a face (so "
        "detail does not flicker), and pastes them back. For a video model use FUSE Video Latent KSampler."
    )

    @classmethod
    def INPUT_TYPES(cls):
        models = {"model": ("MODEL", {"tooltip": "The image diffusion model."}), "vae": ("VAE", {"tooltip": "The image model's VAE."})}
        processing = {
            "frames_per_batch": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip": "Crops sampled together per sampler call: more is faster and uses more memory."}),
            "face_only_mask": window_inputs()["face_only_mask"],
        }
        return cls.video_inputs(models, processing)

    def sample(self, model, vae, images, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise,
               frames_per_batch, face_only_mask, model_low_noise=None, switch_step=10, **face_settings):
        codec = vae_codec(vae)
        sampler = latent_sampler(model, positive, negative, seed, steps, cfg, sampler_name, scheduler, denoise, model_low_noise, switch_step)
        process_crops = partial(sample_face_frames, vae=codec, sampler=sampler, frames_per_batch=int(frames_per_batch), face_only_mask=bool(face_only_mask))
        return self.process_video(images, process_crops, codec.spatial_compression * sampler.spatial_patch, **face_settings)


NODE_CLASS_MAPPINGS = {
    "FUSEVideoLatentKSampler": FUSEVideoLatentKSampler,
    "FUSEVideoKSampler": FUSEVideoKSampler,
    "FUSESampleFaceSequences": FUSESampleFaceSequences,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FUSEVideoLatentKSampler": "FUSE Video Latent KSampler",
    "FUSEVideoKSampler": "FUSE Video KSampler",
    "FUSESampleFaceSequences": "FUSE Sample Face Sequences",
}
