"""The one orchestrator: detect -> track -> select -> crop -> process -> paste (no ComfyUI needed).

run_track_pipeline pastes the crops back unprocessed and draws a preview and a report (the
command line's `track`); process_faces_in_video runs any crop processor (the sampler nodes' video
model or image model) between crop and paste.

In run_track_pipeline the crops go back unprocessed (identity processing), so the output shows
what the pipeline guarantees: outside the faces the frames are bit-identical, inside within 2/255
(docs/architecture.md, invariants 1 and 2); the report measures both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .analysis.selection import FaceSelection, check_names_usable, select_faces
from .compositing.geometry import CropSpec
from .compositing.overlay import draw_tracks
from .compositing.paste import PasteSpec, paste_faces
from .compositing.plan import CropPlan
from .compositing.warp import crop_face_sequences, crop_faces, plan_face_crops
from .media.shots import ShotDetector
from .models.face_detectors import detect_faces, load_face_detector
from .models.store import ModelFolders, ModelStore
from .tracking.report import tracks_to_dict
from .tracking.spec import TrackSpec
from .tracking.track import track_faces
from .core.progress import StageProgress
from .core.types import FaceDetections, FaceTracks, check_fps

log = logging.getLogger(__name__)

# process_crops(crops [M,h,w,3], plan, on_progress=, check_interrupt=) -> processed crops [M,h,w,3]
CropProcessor = Callable[..., torch.Tensor]

# Shares of one progress bar over a process_faces_in_video run (core.progress.StagedProgress):
# a diffusion model on the crops dominates; detection is next (every frame through a detector).
PROCESS_STAGE_WEIGHTS = {"detect": 10, "track": 1, "crop": 2, "process": 85, "paste": 2}


def process_stage_weights(detecting: bool) -> dict[str, int]:
    """The stages process_faces_in_video runs, with their PROCESS_STAGE_WEIGHTS; detecting False
    when tracks are given (no detect or track stage)."""
    skipped = () if detecting else ("detect", "track")
    return {stage: weight for stage, weight in PROCESS_STAGE_WEIGHTS.items() if stage not in skipped}


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """What run_track_pipeline made.

    output: IMAGE float32 [N,H,W,3], the frames with every face cropped and pasted back, or None
    when composite was off; preview: IMAGE [N,H,W,3], output (or input) frames with the tracks
    drawn; report: a JSON-ready dict (video, detector, detections, tracks, round-trip check).
    """

    detections: FaceDetections
    tracks: FaceTracks
    output: torch.Tensor | None
    preview: torch.Tensor
    report: dict


def round_trip_difference(frames_bhwc: torch.Tensor, output_bhwc: torch.Tensor, pasted_alpha: torch.Tensor) -> dict:
    """Largest per-pixel change a paste made, in 0..255 units, outside and inside the paste masks.

    pasted_alpha: float32 [N,H,W], the frame-space alpha paste_faces used (0 = untouched). Outside
    (alpha 0) the frames must be bit-identical (max 0); inside, identity processing stays within
    2/255 (DESIGN.md invariants 1 and 2).
    """
    outside, inside = 0.0, 0.0
    for frame in range(frames_bhwc.shape[0]):
        difference = (output_bhwc[frame, :, :, :3] - frames_bhwc[frame, :, :, :3]).abs().amax(dim=-1)
        touched = pasted_alpha[frame] > 0
        outside = max(outside, float(difference[~touched].max()) if bool((~touched).any()) else 0.0)
        inside = max(inside, float(difference[touched].max()) if bool(touched.any()) else 0.0)
    return {"max_abs_diff_outside_faces": round(outside * 255.0, 4), "max_abs_diff_inside_faces": round(inside * 255.0, 4), "units": "1/255"}


def run_track_pipeline(
    frames_bhwc: torch.Tensor,
    fps,
    *,
    detector: str = "auto",
    models: ModelFolders | None = None,
    score_threshold: float = 0.5,
    min_face_size: int = 16,
    detect_every: int = 1,
    crop: CropSpec = CropSpec(),
    paste: PasteSpec = PasteSpec(),
    composite: bool = True,
    progress: StageProgress | None = None,
    check_interrupt: Callable[[], None] | None = None,
    detect_cuts: bool = True,
    cuts: str = "",
) -> PipelineResult:
    """Detect, track, crop and paste back every face of a clip; draw a preview; write a report.

    frames_bhwc: IMAGE float32 [N,H,W,3] 0..1 (see video_io.frames_to_image); fps: the exact
    frame rate (Fraction, int or "30000/1001"). detector: an option of
    models.face_detectors.detector_options(models), "auto" picks the best one found (Haar, built
    in, when no model file is there); models: the model folders (default: a models.store.ModelStore
    below FUSE_MODELS_DIR, else ./models). crop / paste: how faces are cut and pasted back (every
    face; see CropSpec, PasteSpec). composite False skips crop and paste
    (output None), which saves the crops' memory when only tracks are wanted.
    progress(stage, total) gives the on_progress of each stage ("detect", "track", "crop",
    "paste", "preview"). detect_cuts: find shot boundaries while detecting (media/shots.py);
    cuts: the user's changes to them (tracking/cuts.py). Nothing crosses a cut: tracks, crops and
    the paste's fades stop at it. The input is never changed.
    """
    fps = check_fps(fps)
    spec = TrackSpec(fps=fps, cuts=cuts)  # a malformed cut list fails before detection
    loaded = load_face_detector(detector, models if models is not None else ModelStore())
    count = int(frames_bhwc.shape[0])

    def stage(name: str, total: int):
        return None if progress is None else progress(name, total)

    detections = detect_faces(
        loaded, frames_bhwc, score_threshold=score_threshold, min_face_size=min_face_size, detect_every=detect_every,
        on_progress=stage("detect", count), check_interrupt=check_interrupt, shot_detector=ShotDetector() if detect_cuts else None,
    )
    tracks = track_faces(detections, spec, on_progress=stage("track", count), check_interrupt=check_interrupt)
    report = {
        "video": {"frame_count": count, "width": int(frames_bhwc.shape[2]), "height": int(frames_bhwc.shape[1]), "fps": f"{fps.numerator}/{fps.denominator}", "fps_float": float(fps)},
        "detector": detections.detector,
        "detections": {"count": len(detections), "frames_with_faces": int(len(np.unique(detections.frame)))},
        "tracks": tracks_to_dict(tracks),
    }
    output = None
    if composite:
        plan = plan_face_crops(frames_bhwc, tracks, crop)
        crops = crop_faces(frames_bhwc, plan, on_progress=stage("crop", plan.total_rows), check_interrupt=check_interrupt)
        output, pasted_alpha = paste_faces(
            frames_bhwc, crops, plan, paste, return_mask=True, on_progress=stage("paste", plan.total_rows), check_interrupt=check_interrupt,
        )
        del crops  # the largest buffer; the preview does not need it
        report["round_trip"] = {
            "processing": "identity", "crop_size": list(plan.crop_size or ()), "sequences": len(plan), "crops": plan.total_rows,
            **round_trip_difference(frames_bhwc, output, pasted_alpha),
        }
    preview = draw_tracks(output if output is not None else frames_bhwc, tracks, on_progress=stage("preview", count), check_interrupt=check_interrupt)
    return PipelineResult(detections=detections, tracks=tracks, output=output, preview=preview, report=report)


def process_faces_in_video(
    frames_bhwc: torch.Tensor,
    process_crops: CropProcessor,
    *,
    tracks: FaceTracks | None = None,
    detector=None,
    track: TrackSpec = TrackSpec(),
    selection: FaceSelection = FaceSelection(),
    crop: CropSpec = CropSpec(),
    paste: PasteSpec = PasteSpec(),
    progress: StageProgress | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Process the selected faces of a clip and paste them back.

    frames_bhwc: IMAGE float32 [N,H,W,C] 0..1. Faces come from `tracks` (FaceTracks of this clip)
    or, when it is None, from `detector` (a loaded models.face_detectors FaceDetector) and
    tracking as `track` says (TrackSpec, its fps included; given tracks carry their own). selection: the faces to process
    (analysis.selection; names need tracks from FUSE Analyze Faces). crop: how they are cut
    (CropSpec; the sampler's size_multiple, so crops need no resize); paste: how they go back
    (PasteSpec). process_crops gets the crop batch and its CropPlan and returns processed crops
    of the same shape. progress(stage, total) gives the on_progress of each stage ("detect",
    "track", "crop", "process", "paste"). Returns frames [N,H,W,C]; the input is never modified.
    """
    count = int(frames_bhwc.shape[0])

    def stage(name: str, total: int):
        return None if progress is None else progress(name, total)

    if tracks is None:
        if detector is None:
            raise ValueError("detector must be a loaded face detector when no tracks are given, but got None; connect tracks or pick a detector")
        check_names_usable(selection, False, "the detections")  # before any detection
        detections = detect_faces(detector, frames_bhwc, on_progress=stage("detect", count), check_interrupt=check_interrupt, shot_detector=ShotDetector())
        tracks = track_faces(detections, track, on_progress=stage("track", count), check_interrupt=check_interrupt)
    tracks = select_faces(tracks, selection)
    crops, plan, _ = crop_face_sequences(frames_bhwc, tracks, crop, on_progress=stage("crop", int(tracks.present.sum())), check_interrupt=check_interrupt)
    log.info("processing %d face sequences (%d crops) of a %d-frame clip", len(plan), plan.total_rows, count)
    processed = _process(crops, plan, process_crops, stage("process", plan.total_rows), check_interrupt)
    del crops
    return paste_faces(frames_bhwc, processed, plan, paste, on_progress=stage("paste", plan.total_rows), check_interrupt=check_interrupt)


def _process(crops: torch.Tensor, plan: CropPlan, process_crops: CropProcessor, on_progress, check_interrupt) -> torch.Tensor:
    # called for an empty plan too, so a wrong VAE or model is reported whether or not faces were found
    processed = process_crops(crops, plan, on_progress=on_progress, check_interrupt=check_interrupt)
    if tuple(processed.shape[:3]) != tuple(crops.shape[:3]):
        raise ValueError(f"processed crops must keep the crop batch's shape {tuple(crops.shape[:3])}, but got {tuple(processed.shape)}")
    return processed
