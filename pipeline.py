"""The host-independent track pipeline: detect -> track -> crop -> paste back -> preview + report.

The crops are pasted back unprocessed (identity processing), so the output shows what the
pipeline guarantees: outside the faces the frames are bit-identical, inside within 2/255
(DESIGN.md invariants 1 and 2). The report measures both. The command line runs this; other
code can too (no ComfyUI needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .compositing.geometry import plan_crops
from .compositing.overlay import draw_tracks
from .compositing.paste import paste_faces
from .compositing.plan import fingerprint_frames
from .compositing.warp import crop_faces
from .models.face_detectors import detect_faces, load_face_detector
from .tracking.report import tracks_to_dict
from .tracking.track import track_faces
from .tracking.types import FaceDetections, FaceTracks, check_fps

# progress(stage, total) -> on_progress(n): one progress counter per named stage.
StageProgress = Callable[[str, int], Callable[[int], None]]


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
    yolo_files=(),
    insightface_files=(),
    resolve_path: Callable[[str, str], str] | None = None,
    score_threshold: float = 0.5,
    min_face_size: int = 16,
    detect_every: int = 1,
    face_size: int = 512,
    face_padding: float = 20,
    blend_mode: str = "box",
    blend_amount: float = 0.3,
    composite: bool = True,
    progress: StageProgress | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> PipelineResult:
    """Detect, track, crop and paste back every face of a clip; draw a preview; write a report.

    frames_bhwc: IMAGE float32 [N,H,W,3] 0..1 (see video_io.frames_to_image); fps: the exact
    frame rate (Fraction, int or "30000/1001"). detector: an option of
    models.face_detectors.detector_options(yolo_files, insightface_files), "auto" picks the best
    one found (Haar, built in, when no model file is there); resolve_path(folder, name) -> the
    absolute path of a model file (nodes.host.model_path). composite False skips crop and paste
    (output None), which saves the crops' memory when only tracks are wanted.
    progress(stage, total) gives the on_progress of each stage ("detect", "track", "crop",
    "paste", "preview"). The input is never changed.
    """
    fps = check_fps(fps)
    loaded = load_face_detector(detector, resolve_path, yolo_files=yolo_files, insightface_files=insightface_files)
    count = int(frames_bhwc.shape[0])

    def stage(name: str, total: int):
        return None if progress is None else progress(name, total)

    detections = detect_faces(
        loaded, frames_bhwc, score_threshold=score_threshold, min_face_size=min_face_size, detect_every=detect_every,
        on_progress=stage("detect", count), check_interrupt=check_interrupt,
    )
    tracks = track_faces(detections, fps=fps, on_progress=stage("track", count), check_interrupt=check_interrupt)
    report = {
        "video": {"frame_count": count, "width": int(frames_bhwc.shape[2]), "height": int(frames_bhwc.shape[1]), "fps": f"{fps.numerator}/{fps.denominator}", "fps_float": float(fps)},
        "detector": detections.detector,
        "detections": {"count": len(detections), "frames_with_faces": int(len(np.unique(detections.frame)))},
        "tracks": tracks_to_dict(tracks),
    }
    output = None
    if composite:
        plan = plan_crops(tracks, fingerprint_frames(frames_bhwc), face_size=face_size, face_padding=face_padding)
        crops = crop_faces(frames_bhwc, plan, on_progress=stage("crop", plan.total_rows), check_interrupt=check_interrupt)
        output, pasted_alpha = paste_faces(
            frames_bhwc, crops, plan, blend_mode=blend_mode, blend_amount=blend_amount, return_mask=True,
            on_progress=stage("paste", plan.total_rows), check_interrupt=check_interrupt,
        )
        del crops  # the largest buffer; the preview does not need it
        report["round_trip"] = {
            "processing": "identity", "crop_size": list(plan.crop_size or ()), "sequences": len(plan), "crops": plan.total_rows,
            **round_trip_difference(frames_bhwc, output, pasted_alpha),
        }
    preview = draw_tracks(output if output is not None else frames_bhwc, tracks, on_progress=stage("preview", count), check_interrupt=check_interrupt)
    return PipelineResult(detections=detections, tracks=tracks, output=output, preview=preview, report=report)

