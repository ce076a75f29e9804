"""Track stage: FUSE_FACES of a whole clip -> FUSE_TRACKS (one id per face), and a JSON report."""

from __future__ import annotations

from ..tracking.report import tracks_to_json
from ..tracking.spec import TrackSpec
from ..tracking.track import track_faces
from . import host


class FUSETrackFaces:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "faces": ("FUSE_FACES", {"tooltip": "Faces found in every frame of the clip (from FUSE Face Detector)."}),
                "fps": ("FLOAT", {"default": 25.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": (
                    "The video's exact frame rate, e.g. 29.97 from VideoHelperSuite's video info. 29.97, 23.976 and 59.94 "
                    "are snapped to 30000/1001, 24000/1001 and 60000/1001. Used to turn gaps into seconds when linking."
                )}),
                "iou_threshold": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "A face may continue a track when its box overlaps the track's predicted box at least this much (IoU)."
                )}),
                "distance_threshold": ("FLOAT", {"default": 100.0, "min": 0.0, "max": 10000.0, "step": 1.0, "tooltip": (
                    "...or when its centre is within this many pixels of the prediction. Scaled down for faces under 100 px "
                    "(distance_threshold/100 face widths), so a tiny face never jumps to something far away."
                )}),
                "max_gap": ("INT", {"default": 15, "min": 0, "max": 10000, "step": 1, "tooltip": (
                    "A track survives this many frames without a detection (occlusion, missed detections) and the gap is "
                    "filled by interpolation. Frames skipped by detect_every never count."
                )}),
                "min_hits": ("INT", {"default": 3, "min": 1, "max": 1000, "step": 1, "tooltip": (
                    "Detections a track needs before it counts: higher drops more false positives, and faces seen only briefly."
                )}),
                "smooth_boxes": ("BOOLEAN", {"default": True, "tooltip": "Smooth the boxes over time (without lag). Off: detected boxes stay exactly as detected."}),
                "smooth_window": ("INT", {"default": 3, "min": 1, "max": 61, "step": 1, "tooltip": (
                    "Smoothing strength: about as much noise removed as a centred moving average of this many frames. The box "
                    "size is smoothed three times as strongly as its position."
                )}),
                "link_gaps": ("BOOLEAN", {"default": True, "tooltip": (
                    "Keep a face's id across longer gaps (it left the frame and came back) when its position, size and the "
                    "time away make it unambiguous; otherwise it gets a new id."
                )}),
            },
            "optional": {
                "cuts": ("STRING", {"default": "", "tooltip": (
                    "Change the shot boundaries FUSE Face Detector found (FUSE Preview Tracks shows them). Frame numbers from 0, "
                    "comma separated: '120, +348' adds cuts, '-200' removes the one found at 200, '=120, 348' gives the cuts exactly, "
                    "'none' means one shot. Empty: as found. A cut at frame c starts a new shot at c; nothing is tracked, smoothed, "
                    "filled, cropped or blended across a cut."
                )}),
                "max_jump": ("FLOAT", {"default": 2.5, "min": 0.0, "max": 10.0, "step": 0.1, "tooltip": (
                    "Face sizes a face may jump in one frame (whip pans, fast head turns, dropped frames) and keep its id, when no "
                    "other face is near and the next frames confirm it. Nothing is drawn between the two places. 0 = off."
                )}),
            },
        }

    RETURN_TYPES = ("FUSE_TRACKS",)
    RETURN_NAMES = ("tracks",)
    OUTPUT_TOOLTIPS = ("One track per face with ids from 1: a smoothed box per frame, detected or interpolated.",)
    FUNCTION = "track"
    CATEGORY = "FUSE/track"
    DESCRIPTION = (
        "Follows each face through the clip, seeing the whole clip at once: global matching per frame, tracks that survive "
        "occlusions and fast jumps, false positives dropped, ids kept across gaps, gaps interpolated, boxes smoothed without lag. "
        "Shot by shot: nothing crosses a cut; with face embeddings the same person keeps one id across shots."
    )

    def track(self, faces, fps, iou_threshold, distance_threshold, max_gap, min_hits, smooth_boxes, smooth_window, link_gaps, cuts="", max_jump=2.5):
        spec = TrackSpec(
            fps=fps,
            iou_threshold=iou_threshold,
            distance_threshold=distance_threshold,
            max_gap=max_gap,
            min_hits=min_hits,
            link_gaps=link_gaps,
            smooth_boxes=smooth_boxes,
            smooth_window=smooth_window,
            max_jump=max_jump,
            cuts=cuts,
        )
        tracks = track_faces(faces, spec, on_progress=host.progress_callback(getattr(faces, "frame_count", 0)), check_interrupt=host.check_interrupt)
        return (tracks,)


class FUSETracksToJSON:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tracks": ("FUSE_TRACKS", {"tooltip": "Tracks from FUSE Track Faces."})}}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("json",)
    OUTPUT_TOOLTIPS = ("The tracks as JSON: fps, frame size, the cuts and shots and, per track id, every present frame's box, state and score.",)
    FUNCTION = "to_json"
    CATEGORY = "FUSE/track"
    OUTPUT_NODE = True
    DESCRIPTION = "Shows the tracks as JSON text and outputs it as a STRING (to save, or to feed other tools)."

    def to_json(self, tracks):
        text = tracks_to_json(tracks, indent=1)
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {"FUSETrackFaces": FUSETrackFaces, "FUSETracksToJSON": FUSETracksToJSON}
NODE_DISPLAY_NAME_MAPPINGS = {"FUSETrackFaces": "FUSE Track Faces", "FUSETracksToJSON": "FUSE Tracks To JSON"}
