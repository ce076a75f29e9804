"""Crop node: cut temporally stable face sequences out of a tracked video."""

from __future__ import annotations

from ..analysis.selection import FaceSelection, select_faces
from ..compositing.geometry import ALIGN_MODES, CropSpec
from ..compositing.warp import crop_face_sequences
from . import host

SIZE_MULTIPLES = ["1", "8", "16", "32", "64"]


class FUSECropFaceSequences:
    DESCRIPTION = (
        "Cuts every tracked face out of the video as a face sequence: one crop per frame that follows "
        "the (smoothed) track, all of one size, so any IMAGE node (a video model, lipsync, restoration) "
        "can process them; align ffhq_landmarks rotates each face onto the face restorers' template. "
        "Keep the crop plan: FUSE Paste Faces needs it to put the processed crops back (with the inverse of the same transform)."
    )
    CATEGORY = "FUSE/crop"
    FUNCTION = "crop"
    RETURN_TYPES = ("IMAGE", "FUSE_CROPS", "MASK")
    RETURN_NAMES = ("crops", "crop_plan", "valid")
    OUTPUT_TOOLTIPS = (
        "Face crops of every sequence, concatenated in plan order (track id, then start frame). Process them and "
        "keep the row count and size; an empty batch when the video has no faces.",
        "Where each crop came from (frame, affine, source video fingerprint); connect it to FUSE Paste Faces.",
        "1 where a crop pixel came from inside the frame, 0 where the crop reached past the frame edge (those "
        "pixels repeat the edge and are never pasted back).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video frames the tracks were made from."}),
                "tracks": ("FUSE_TRACKS", {"tooltip": "Face tracks from FUSE Track Faces (smooth them first for steady crops)."}),
                "face_size": ("INT", {"default": 512, "min": 16, "max": 4096, "step": 16, "tooltip": "Crop width in pixels (and height when force_square), rounded to size_multiple."}),
                "face_padding": ("INT", {"default": 20, "min": 0, "max": 1024, "step": 1, "tooltip": "Source pixels added around the face box on each side."}),
                "margin": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 4.0, "step": 0.05, "tooltip": "Extra room on each side as a fraction of the face size (0.25 = a quarter of the face); added to face_padding."}),
                "force_square": ("BOOLEAN", {"default": True, "tooltip": "Square crops. Off: one aspect for the whole batch, from the median padded face, with the height rounded to size_multiple."}),
                "size_multiple": (SIZE_MULTIPLES, {"default": "16", "tooltip": "Crop sides are multiples of this: 16 for Wan 2.1's VAE, 32 for Wan 2.2 5B, 8 for image VAEs, 1 for none."}),
                "min_run_length": ("INT", {"default": 1, "min": 1, "max": 100000, "step": 1, "tooltip": "Face runs shorter than this many frames are not cropped (their faces stay as they are)."}),
                "face_id": ("INT", {"default": -1, "min": -1, "max": 100000, "step": 1, "tooltip": "-1 crops every track; otherwise only the track with this id (see FUSE Preview Tracks)."}),
                "largest_n": ("INT", {"default": 0, "min": 0, "max": 1000, "step": 1, "tooltip": "0 keeps every selected track; otherwise only the N tracks with the largest faces."}),
            },
            "optional": {
                "align": (
                    list(ALIGN_MODES),
                    {
                        "default": "box",
                        "tooltip": "box: crops follow the face boxes (upright, padded by face_padding and margin). ffhq_landmarks: each face is rotated and "
                        "scaled onto the FFHQ 512 template from its smoothed landmarks, as face restorers (GFPGAN, CodeFormer) expect; square "
                        "face_size crops, face_padding / margin / force_square unused. Needs a detector with landmarks (YOLO pose, InsightFace, "
                        "MTCNN); without landmarks the node falls back to box crops and logs a warning.",
                    },
                ),
                "faces": ("STRING", {"default": "all", "tooltip": (
                    "Faces to crop: all (or -1 or empty) = every face; track ids such as 1, 3; character names from FUSE "
                    "Analyze Faces such as alice, bob (connect its tracks); or a mix such as 2, alice. Leave face_id at -1. "
                    "An id or name that no face of this clip has is an error naming the faces there (a clip without faces is not)."
                )}),
            },
        }

    def crop(self, images, tracks, face_size=512, face_padding=20, margin=0.0, force_square=True, size_multiple="16", min_run_length=1, face_id=-1, largest_n=0, align="box", faces="all"):
        selection = FaceSelection.parse(faces, face_id=int(face_id), largest_n=int(largest_n))
        spec = CropSpec(
            face_size=int(face_size), face_padding=float(face_padding), margin=float(margin), force_square=bool(force_square),
            size_multiple=int(size_multiple), min_run_length=int(min_run_length), align=align,
        )
        tracks = select_faces(tracks, selection)
        crops, plan, valid = crop_face_sequences(
            images, tracks, spec, on_progress=host.progress_callback(int(tracks.present.sum())), check_interrupt=host.check_interrupt,
        )
        device = host.intermediate_device()
        return (crops.to(device), plan, valid.to(device))

NODE_CLASS_MAPPINGS = {"FUSECropFaceSequences": FUSECropFaceSequences}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSECropFaceSequences": "FUSE Crop Face Sequences"}
