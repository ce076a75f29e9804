"""Detect stage: find faces in every frame of a video (IMAGE batch) -> FUSE_FACES."""

from __future__ import annotations

from ..media.shots import DEFAULT_MIN_SHOT_FRAMES, DEFAULT_THRESHOLD, ShotDetector
from ..models.face_detectors import DETECTORS, HAAR_OPTION, detect_faces, detector_options, load_face_detector
from . import host


class FUSEFaceDetector:
    @classmethod
    def INPUT_TYPES(cls):
        options = detector_options(host.model_store())
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video as a batch of frames [B,H,W,3]."}),
                "detector": (options, {"default": "auto", "tooltip": (
                    "Face detector. auto: a YOLO face model from models/ultralytics/bbox, else an InsightFace SCRFD detector "
                    "from models/insightface (e.g. buffalo_l/det_10g.onnx), else MTCNN (if facenet-pytorch is installed), "
                    f"else '{HAAR_OPTION}': OpenCV's Haar cascade, the zero-download fallback. It is low quality: frontal faces only, "
                    "no landmarks, a fixed score of 0.6."
                )}),
                "score_threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Drop faces the detector is less sure of than this (0..1)."}),
                "min_face_size": ("INT", {"default": 16, "min": 0, "max": 4096, "step": 1, "tooltip": "Drop faces whose shorter side is below this many pixels."}),
                "detect_every": ("INT", {"default": 1, "min": 1, "max": 1000, "step": 1, "tooltip": (
                    "Run the detector on every k-th frame (and always the last); tracking fills the frames between. "
                    "1 = every frame."
                )}),
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "step": 1, "tooltip": "Frames per detector call: more is faster and uses more memory."}),
            },
            "optional": {
                "detect_cuts": ("BOOLEAN", {"default": True, "tooltip": (
                    "Find shot boundaries (hard cuts, fades through black) in the same pass, on a 256 px wide copy of every frame "
                    "(PySceneDetect). Tracks, smoothing, gap filling, crops, windows and fades never cross a cut. Off: the clip is one shot."
                )}),
                "cut_threshold": ("FLOAT", {"default": DEFAULT_THRESHOLD, "min": 1.1, "max": 20.0, "step": 0.1, "tooltip": (
                    "How much more a frame must change than its neighbours to count as a cut (PySceneDetect's adaptive threshold). "
                    "Higher finds fewer cuts. Camera pans are recognised and never count."
                )}),
                "min_shot_frames": ("INT", {"default": DEFAULT_MIN_SHOT_FRAMES, "min": 1, "max": 1000, "step": 1, "tooltip": (
                    "The shortest shot in frames: no two cuts are closer (a flash is not two cuts)."
                )}),
            },
        }

    RETURN_TYPES = ("FUSE_FACES",)
    RETURN_NAMES = ("faces",)
    OUTPUT_TOOLTIPS = ("Face boxes (source pixels), scores and landmarks (when the detector gives them) per frame, and the shot boundaries found.",)
    FUNCTION = "detect"
    CATEGORY = "FUSE/detect"
    DESCRIPTION = "Detects the faces and the cuts of a video. Connect the faces to FUSE Track Faces."

    @classmethod
    def IS_CHANGED(cls, detector=None, **_):
        # run again when "auto" would pick another model (one was added) or the chosen file changed
        return host.is_changed(DETECTORS.fingerprint(detector, host.model_store()))

    def detect(self, images, detector, score_threshold, min_face_size, detect_every, batch_size, detect_cuts=True, cut_threshold=DEFAULT_THRESHOLD, min_shot_frames=DEFAULT_MIN_SHOT_FRAMES):
        face_detector = load_face_detector(detector, host.model_store(), device=host.torch_device())
        faces = detect_faces(
            face_detector,
            images,
            score_threshold=score_threshold,
            min_face_size=min_face_size,
            detect_every=detect_every,
            batch_size=batch_size,
            on_progress=host.progress_callback(getattr(images, "shape", (0,))[0]),
            check_interrupt=host.check_interrupt,
            shot_detector=ShotDetector(cut_threshold, min_shot_frames) if detect_cuts else None,
        )
        return (faces,)


NODE_CLASS_MAPPINGS = {"FUSEFaceDetector": FUSEFaceDetector}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSEFaceDetector": "FUSE Face Detector"}
