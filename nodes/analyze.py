"""Analyze stage: identities, head pose, syncability and quality of every face -> a JSON report."""

from __future__ import annotations

import json

from ..models.face_detectors import AUTO_OPTION, DETECTORS, load_face_detector
from ..models.face_embedders import EMBEDDERS, embedder_options, load_face_embedder
from ..models.face_landmarks import LANDMARKERS, landmarker_options, load_face_landmarker
from ..analysis.analyze import DEFAULT_SAMPLE_FPS, AnalysisSpec, analyze_faces, parse_reference_names
from ..core.images import frame_to_uint8
from ..analysis.syncability import SyncRules
from . import host


class FUSEAnalyzeFaces:
    @classmethod
    def INPUT_TYPES(cls):
        models = host.model_store()
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video the faces were found in, as a batch of frames [B,H,W,3]."}),
                "embedder": (embedder_options(models), {"default": "auto", "tooltip": (
                    "Face recogniser that tells people apart: InsightFace ArcFace from models/insightface (e.g. "
                    "buffalo_l/w600k_r50.onnx). auto: the first one found. none: no identities; every track is its own "
                    "face_1, face_2, ... and reference images cannot be used."
                )}),
                "landmarks_3d": (landmarker_options(models), {"default": "auto", "tooltip": (
                    "Head pose source. InsightFace's 3D landmark model (buffalo_l/1k3d68.onnx) gives the best pose, also "
                    "near profile. auto: use it when it is in models/insightface. none: solve the pose from the detector's "
                    "five landmarks (no pose when the detector gives none, e.g. Haar)."
                )}),
                "sample_fps": ("FLOAT", {"default": DEFAULT_SAMPLE_FPS, "min": 0.0, "max": 240.0, "step": 0.5, "tooltip": (
                    "Frames analysed per second of video (the report lists these frames). 0 = every frame."
                )}),
                "similarity_threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "Cosine similarity a face needs to count as a reference character (and for two unknown tracks to be "
                    "one person). Higher: fewer, surer matches."
                )}),
                "merge_identities": ("BOOLEAN", {"default": True, "tooltip": (
                    "Make one track per person: the tracks of one character, or of one unknown face that left and came "
                    "back, become one track id. Tracks present at the same time are never merged."
                )}),
                "max_yaw": ("FLOAT", {"default": 45.0, "min": 0.0, "max": 90.0, "step": 1.0, "tooltip": (
                    "Faces turned further than this many degrees are not syncable (skip reason profile_view)."
                )}),
                "min_face_px": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 1, "tooltip": (
                    "Faces narrower than this many source pixels are not syncable (skip reason face_too_small)."
                )}),
                "min_confidence": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "Faces detected with less confidence are not syncable (skip reason low_detection_quality)."
                )}),
            },
            "optional": {
                "tracks": ("FUSE_TRACKS", {"tooltip": "Tracks from FUSE Track Faces (connect tracks or faces)."}),
                "faces": ("FUSE_FACES", {"tooltip": "Faces from FUSE Face Detector, tracked here with default settings when no tracks are connected."}),
                "fps": ("FLOAT", {"default": 25.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": (
                    "The video's frame rate, used only with faces (tracks carry their own). 29.97 is read as 30000/1001."
                )}),
                "reference_images": ("IMAGE", {"tooltip": (
                    "Headshots of the characters to find, 1 to 15 per character (averaged). The largest face in each is used."
                )}),
                "reference_names": ("STRING", {"default": "", "tooltip": (
                    "The character of each reference image, in batch order: \"alice, alice, bob\", or one name for all "
                    "of them. Names are what the report and the face selections of other FUSE nodes use."
                )}),
            },
        }

    RETURN_TYPES = ("STRING", "FUSE_TRACKS")
    RETURN_NAMES = ("report", "tracks")
    OUTPUT_TOOLTIPS = (
        "The detection report as JSON: per analysed frame every face's character, box [x, y, w, h], confidence, head pose "
        "[pitch, yaw, roll], syncability and quality; per face its sync segments, summary and best reference frame; timings.",
        "The tracks with identities (character names or face_1, face_2, ...), merged per person when asked. Other FUSE nodes "
        "can select faces by these names.",
    )
    FUNCTION = "analyze"
    CATEGORY = "FUSE/analyze"
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Finds out who each face is (reference headshots -> InsightFace embeddings -> cosine similarity), where it looks "
        "(head pose), whether lipsync may touch it (profile, too small, low confidence) and how good it looks. Outputs the "
        "report and the tracks named by character."
    )

    @classmethod
    def IS_CHANGED(cls, embedder=None, landmarks_3d=None, **inputs):
        # run again when an "auto" choice would pick another model or a chosen file changed;
        # connected reference images (present, as None, among the inputs) are detected with "auto"
        models = host.model_store()
        fingerprints = [EMBEDDERS.fingerprint(embedder, models), LANDMARKERS.fingerprint(landmarks_3d, models)]
        if "reference_images" in inputs:
            fingerprints.append(DETECTORS.fingerprint(AUTO_OPTION, models))
        return host.is_changed(*fingerprints)

    def analyze(self, images, embedder, landmarks_3d, sample_fps, similarity_threshold, merge_identities, max_yaw, min_face_px, min_confidence,
                tracks=None, faces=None, fps=25.0, reference_images=None, reference_names=""):
        if tracks is None and faces is None:
            raise ValueError("tracks or faces must be connected: FUSE Track Faces' tracks, or FUSE Face Detector's faces")
        models = host.model_store()
        face_embedder = load_face_embedder(embedder, models)
        landmarker = load_face_landmarker(landmarks_3d, models)
        references, names, reference_detector = [], [], None
        if reference_images is not None:
            references = [frame_to_uint8(image) for image in reference_images]
            names = parse_reference_names(reference_names, len(references))
            reference_detector = load_face_detector(AUTO_OPTION, models, device=host.torch_device())
        spec = AnalysisSpec(
            sample_fps=sample_fps,
            similarity_threshold=similarity_threshold,
            merge_identities=merge_identities,
            rules=SyncRules(max_yaw_deg=max_yaw, min_face_px=min_face_px, min_confidence=min_confidence),
        )
        analysis = analyze_faces(
            images,
            tracks if tracks is not None else faces,
            spec,
            fps=fps,
            embedder=face_embedder,
            landmarker=landmarker,
            reference_images=references,
            reference_names=names,
            reference_detector=reference_detector,
            on_progress=host.progress_callback(getattr(images, "shape", (0,))[0]),
            check_interrupt=host.check_interrupt,
        )
        text = json.dumps(analysis.report, indent=1)
        return {"ui": {"text": [text]}, "result": (text, analysis.tracks)}


NODE_CLASS_MAPPINGS = {"FUSEAnalyzeFaces": FUSEAnalyzeFaces}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEAnalyzeFaces": "FUSE Analyze Faces"}
