"""The seed's whole pipeline in one call: detect -> track -> crop -> process the crops -> paste.

FUSEVideoLatentKSampler (a video model on face sequences) and FUSEVideoKSampler (an image model
frame by frame) are this function with different crop processors. Outside the pasted faces the
output frames are bit-identical to the input (DESIGN.md invariant 1); a clip without faces comes
back unchanged.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

from ..compositing.paste import paste_faces
from ..compositing.plan import CropPlan
from ..compositing.warp import crop_face_sequences
from ..models.face_detectors import detect_faces
from ..tracking.identity import parse_track_spec, select_tracks
from ..tracking.track import track_faces
from ..tracking.types import FaceTracks

log = logging.getLogger(__name__)

# process_crops(crops [M,h,w,3], plan, on_progress=, check_interrupt=) -> processed crops [M,h,w,3]
CropProcessor = Callable[..., torch.Tensor]
# progress(stage, total) -> on_progress(n): one progress counter per named stage (as pipeline.py).
StageProgress = Callable[[str, int], Callable[[int], None]]


def process_faces_in_video(
    frames_bhwc: torch.Tensor,
    process_crops: CropProcessor,
    *,
    tracks: FaceTracks | None = None,
    detector=None,
    fps=25,
    iou_threshold: float = 0.3,
    smooth_boxes: bool = True,
    smooth_window: int = 3,
    faces: str = "all",
    face_size: int = 512,
    face_padding: float = 20,
    force_square: bool = True,
    size_multiple: int = 1,
    blend_mode: str = "box",
    blend_amount: float = 0.3,
    progress: StageProgress | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Process every face of a clip and paste it back.

    frames_bhwc: IMAGE float32 [N,H,W,C] 0..1. Faces come from `tracks` (FaceTracks of this clip)
    or, when it is None, from `detector` (a loaded models.face_detectors FaceDetector) and
    tracking with iou_threshold / smooth_boxes / smooth_window at `fps` (a float such as 29.97 is
    taken as 30000/1001; given tracks carry their own). faces: the tracks to process, as
    tracking.identity.select_tracks reads them ("all" / "-1" / "" every track, "1, 3" track ids,
    "alice, bob" identities of tracks from FUSE Analyze Faces, mixed). Crops: face_size,
    face_padding, force_square as FUSE Crop Face Sequences, sides multiples of size_multiple (the
    sampler's size, so crops need no resize). process_crops gets the
    crop batch and its CropPlan and returns processed crops of the same shape. blend_mode /
    blend_amount: see compositing/masks.py. progress(stage, total) gives the on_progress of each
    stage ("detect", "track", "crop", "process", "paste"). Returns frames [N,H,W,C]; the input is
    never modified.
    """
    count = int(frames_bhwc.shape[0])

    def stage(name: str, total: int):
        return None if progress is None else progress(name, total)

    selection = parse_track_spec(faces)  # a bad selection fails before any detection
    if tracks is None:
        if detector is None:
            raise ValueError("detector must be a loaded face detector when no tracks are given, but got None; connect tracks or pick a detector")
        if selection is not None and selection[1]:
            raise ValueError(f"faces names identities {sorted(selection[1])}, but faces detected here have none; connect the tracks of FUSE Analyze Faces, or select by track id")
        detections = detect_faces(detector, frames_bhwc, on_progress=stage("detect", count), check_interrupt=check_interrupt)
        tracks = track_faces(
            detections, fps=fps, iou_threshold=iou_threshold, smooth_boxes=smooth_boxes, smooth_window=smooth_window,
            on_progress=stage("track", count), check_interrupt=check_interrupt,
        )
    elif not isinstance(tracks, FaceTracks):
        raise TypeError(f"tracks must be FaceTracks (socket FUSE_TRACKS), but got {type(tracks).__name__}")
    if len(tracks):  # no face is never an error, whatever the selection
        tracks = select_tracks(tracks, faces)
    crops, plan, _ = crop_face_sequences(
        frames_bhwc, tracks, face_size=face_size, face_padding=face_padding, force_square=force_square, size_multiple=size_multiple,
        on_progress=stage("crop", int(tracks.present.sum())), check_interrupt=check_interrupt,
    )
    log.info("processing %d face sequences (%d crops) of a %d-frame clip", len(plan), plan.total_rows, count)
    processed = _process(crops, plan, process_crops, stage("process", plan.total_rows), check_interrupt)
    del crops
    return paste_faces(
        frames_bhwc, processed, plan, blend_mode=blend_mode, blend_amount=blend_amount,
        on_progress=stage("paste", plan.total_rows), check_interrupt=check_interrupt,
    )


def _process(crops: torch.Tensor, plan: CropPlan, process_crops: CropProcessor, on_progress, check_interrupt) -> torch.Tensor:
    # called for an empty plan too, so a wrong VAE or model is reported whether or not faces were found
    processed = process_crops(crops, plan, on_progress=on_progress, check_interrupt=check_interrupt)
    if tuple(processed.shape[:3]) != tuple(crops.shape[:3]):
        raise ValueError(f"processed crops must keep the crop batch's shape {tuple(crops.shape[:3])}, but got {tuple(processed.shape)}")
    return processed
