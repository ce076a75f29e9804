"""Lipsync on FUSE face crops: audio on the video's timeline, the model per crop, an edit mask.

crops (IMAGE [M,h,w,3], plan order) + CropPlan + AUDIO -> new crops and a crop-space edit mask
[M,h,w] over the lower face. Feed both to FUSE Paste Faces (crops and edit_mask): only the mouth
region of the selected faces changes; every other pixel stays the original.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import torch

from ..analysis.selection import FaceSelection
from ..analysis.syncability import SyncRules
from ..compositing.plan import CropPlan, check_crops_match_plan
from ..core.checks import check_choice, check_instance, check_number
from ..core.types import FaceTracks
from .adapter import centred_geometry, lower_face_mask, model_affines, tracks_geometry, warp_from_model, warp_to_model
from .audio import as_offset, audio_for_frames, audio_to_mono, duration_of, frames_with_audio, place_on_timeline
from .backends import LipsyncModel
from .mel import MEL_FRAMES_PER_SECOND, MEL_STEP, SAMPLE_RATE, mel_chunks, melspectrogram
from .selection import check_speakers_match_plan, fade_weights, parse_ranges, selected_rows, speaking_rows, syncable_rows

log = logging.getLogger(__name__)

LIPSYNC_AUDIO_POLICIES = ("pad_silence", "trim")  # on a fixed crop batch; see audio.fit_video_to_audio for loops


@dataclass(frozen=True)
class LipsyncSpec:
    """How crops are lipsynced: the settings of lipsync_crops (FUSE Lipsync and `comfyui-fuse
    lipsync` build one), validated when made.

    faces: the faces to sync among the plan's sequences (analysis.selection; FUSE Lipsync reads it
    from track_ids). ranges: JSON {"1": [[0, 2000]]} in ms per track id or identity (faces not
    listed: throughout). audio_policy: "pad_silence" syncs frames without audio to silence (closed
    mouth); "trim" passes them through (audio longer than the video is cut at the video's end).
    audio_offset_ms: video time (ms, may be negative) at which the audio's first sample plays.
    rules: which faces are syncable (analysis.syncability.SyncRules: min_face_px source pixels,
    min_confidence, max_yaw_deg when the pose is known). fade_frames: rows over which the edit
    weight ramps where syncing starts or stops. batch_size: crop rows per model call.
    """

    faces: FaceSelection = FaceSelection(input_name="track_ids")
    ranges: str = ""
    audio_policy: str = "pad_silence"
    audio_offset_ms: int | float | Fraction = 0
    rules: SyncRules = SyncRules()
    fade_frames: int = 3
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.faces, FaceSelection):
            raise TypeError(f"faces must be a FaceSelection, but got {type(self.faces).__name__}")
        parse_ranges(self.ranges)  # a malformed range list is named now, not after the audio is read
        check_choice("audio_policy", self.audio_policy, LIPSYNC_AUDIO_POLICIES, "; loop or ping-pong the video with FUSE Fit Video To Audio before detection")
        as_offset(self.audio_offset_ms)
        if not isinstance(self.rules, SyncRules):
            raise TypeError(f"rules must be a SyncRules, but got {type(self.rules).__name__}")
        check_number("fade_frames", self.fade_frames, 0, integer=True)
        check_number("batch_size", self.batch_size, 1, integer=True)


@dataclass(frozen=True)
class LipsyncResult:
    """crops float32 [M,h,w,3]; edit_mask float32 [M,h,w] (0 = keep the input crop pixel);
    weights (M,) float32 per-row edit strength (0 = row passed through)."""

    crops: torch.Tensor
    edit_mask: torch.Tensor
    weights: np.ndarray


def timeline_mel(samples_16k: np.ndarray, plan: CropPlan, offset_ms) -> np.ndarray:
    """(80, T) mel of the audio heard from video time 0 to the end of the last frame's window,
    silence where there is no audio: mel frame k is video time k / 80 s."""
    end = Fraction(plan.frame_count) / plan.fps + Fraction(MEL_STEP + 1, MEL_FRAMES_PER_SECOND)
    return melspectrogram(place_on_timeline(samples_16k, SAMPLE_RATE, Fraction(0), end, offset_ms))


def _model_input(faces_bgr: np.ndarray) -> torch.Tensor:
    """(B,S,S,3) BGR 0..1 -> (B,6,S,S): the face with its lower half zeroed, then the face as reference."""
    faces = torch.from_numpy(np.ascontiguousarray(faces_bgr)).permute(0, 3, 1, 2)  # BHWC -> BCHW
    masked = faces.clone()
    masked[:, :, faces.shape[2] // 2 :] = 0.0
    return torch.cat([masked, faces], dim=1)


def _sync_weights(plan: CropPlan, geometry, faces: FaceSelection, ranges: str, rules: SyncRules, covers: np.ndarray, fade_frames: int, speakers=None) -> np.ndarray:
    """(M,) float32 edit weight per crop row: the face is selected, inside its ranges, has audio
    (covers), passes the rules, and speaks (speakers, when given; manual ranges override them);
    ramped over fade_frames rows (selection.fade_weights)."""
    parsed = parse_ranges(ranges)
    active = selected_rows(plan, faces, parsed) & covers & syncable_rows(geometry, rules)
    if speakers is not None:
        active &= speaking_rows(plan, speakers, parsed, int(fade_frames))
    return fade_weights(active, plan.row_offsets, fade_frames)


def row_mels(samples_16k: np.ndarray, plan: CropPlan, offset_ms, speakers=None) -> tuple[list[np.ndarray], np.ndarray]:
    """The mels the rows are driven by and (M,) the index of each row's: 0 is the soundtrack's;
    a face given a stem by `speakers` gets its stem's (stems lie on the video timeline: offset 0)."""
    mels = [timeline_mel(samples_16k, plan, offset_ms)]
    mel_of_row = np.zeros(plan.total_rows, np.int64)
    if speakers is None or not speakers.stems:
        return mels, mel_of_row
    check_speakers_match_plan(speakers, plan)
    stem_mel = {}
    for sequence, start in zip(plan.sequences, plan.row_offsets[:-1]):
        stem = int(speakers.stem_of_track[speakers.index_of(sequence.track_id)])
        if stem < 0:
            continue
        if stem not in stem_mel:
            stem_mel[stem] = len(mels)
            mels.append(timeline_mel(audio_to_mono(speakers.stems[stem], SAMPLE_RATE, f"stem_{stem + 1}"), plan, 0))
        mel_of_row[start : start + len(sequence)] = stem_mel[stem]
    return mels, mel_of_row


def _sync_rows(source: torch.Tensor, rows: np.ndarray, weights: np.ndarray, mel_batch: torch.Tensor, affines: np.ndarray, model: LipsyncModel, device, out_crops: torch.Tensor, edit_mask: torch.Tensor) -> None:
    """Run the model on one batch of crop rows and blend its faces into out_crops by the lower-face
    mask times each row's weight (edit_mask records that alpha), in place."""
    size = model.face_size
    height, width = (int(v) for v in source.shape[1:3])
    bgr = model.architecture.channel_order == "BGR"
    faces = np.stack([warp_to_model(source[row].numpy(), affines[row], size) for row in rows])
    if bgr:
        faces = faces[..., ::-1]
    with torch.inference_mode():
        predicted = model.net(mel_batch.to(device), _model_input(faces).to(device)).float().cpu()
    predicted = predicted.permute(0, 2, 3, 1).numpy()  # BCHW -> BHWC
    if bgr:
        predicted = predicted[..., ::-1]
    model_mask = lower_face_mask(size)
    for position, row in enumerate(rows):
        face = warp_from_model(np.ascontiguousarray(predicted[position]), affines[row], (height, width))
        alpha = np.clip(warp_from_model(model_mask, affines[row], (height, width), cubic=False), 0.0, 1.0) * weights[row]
        alpha = alpha[..., None]
        out_crops[row] = torch.from_numpy(np.clip(source[row].numpy() * (1 - alpha) + face * alpha, 0.0, 1.0))
        edit_mask[row] = torch.from_numpy(alpha[..., 0])


def lipsync_crops(
    crops: torch.Tensor,
    plan: CropPlan,
    audio,
    model: LipsyncModel,
    spec: LipsyncSpec = LipsyncSpec(),
    *,
    tracks: FaceTracks | None = None,
    speakers=None,
    device=None,
    on_progress: Callable[[int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> LipsyncResult:
    """Lipsync the selected faces of a crop batch to `audio`, as spec says (LipsyncSpec).

    crops: IMAGE float32 [M,h,w,3] 0..1, rows in plan order (from FUSE Crop Face Sequences).
    plan: its CropPlan; frame i plays at i / plan.fps (exact Fraction).
    audio: AUDIO dict {"waveform": [B,C,S], "sample_rate"}; mixed to mono, resampled to 16 kHz.
    tracks: the FaceTracks the plan was made from (optional): landmarks, face size and score per
        row; without them the face is assumed centred in the crop.
    Returns LipsyncResult: crops [M,h,w,3] (input crops blended with the model's face by the edit
    mask), edit_mask [M,h,w] in crop space (0 outside the lower face and on rows passed through).
    on_progress gets the rows done after each batch; check_interrupt runs before each batch.
    speakers: ActiveSpeakers (FUSE Active Speaker) or None: each face is synced only while it
        speaks (lipsync.selection.speaking_rows; faces with manual ranges follow their ranges), and
        a face given a stem is driven by its stem instead of `audio`.
    """
    if not isinstance(spec, LipsyncSpec):
        raise TypeError(f"spec must be a LipsyncSpec, but got {type(spec).__name__}")
    check_crops_match_plan(crops, plan, channels=(3,))
    audio_policy, audio_offset_ms, batch_size = spec.audio_policy, spec.audio_offset_ms, spec.batch_size
    rows = plan.total_rows
    samples = audio_to_mono(audio, SAMPLE_RATE)
    audio_duration = duration_of(len(samples), SAMPLE_RATE)
    if as_offset(audio_offset_ms) + audio_duration < Fraction(plan.frame_count) / plan.fps:
        log.info("the audio ends before the video; %s", "frames after it are synced to silence" if audio_policy == "pad_silence" else "frames after it pass through")
    frames = np.concatenate([s.frames for s in plan.sequences]) if rows else np.zeros(0, np.int64)
    covers = np.ones(rows, bool) if audio_policy == "pad_silence" else frames_with_audio(frames, plan.fps, audio_duration, audio_offset_ms)
    geometry = tracks_geometry(plan, tracks) if tracks is not None else centred_geometry(plan)
    weights = _sync_weights(plan, geometry, spec.faces, spec.ranges, spec.rules, covers, spec.fade_frames, speakers)
    source = crops.detach().to("cpu", torch.float32)
    out_crops = source.clone()
    edit_mask = torch.zeros((rows, *source.shape[1:3]), dtype=torch.float32)
    work = np.flatnonzero(weights > 0)
    log.info("lipsync: %d of %d crop rows synced with %s", len(work), rows, model.source)
    if on_progress is not None and rows > len(work):
        on_progress(rows - len(work))  # rows passed through are done
    if not len(work):
        return LipsyncResult(out_crops, edit_mask, weights)

    mels, mel_of_row = row_mels(samples, plan, audio_offset_ms, speakers)
    affines = model_affines(geometry, model.face_size)
    device = device if device is not None else torch.device("cpu")
    model.net.to(device)
    for start in range(0, len(work), batch_size):
        if check_interrupt is not None:
            check_interrupt()
        batch = work[start : start + batch_size]
        mel_batch = torch.from_numpy(np.concatenate([mel_chunks(mels[mel_of_row[row]], frames[row : row + 1], plan.fps) for row in batch]))[:, None]  # (B,1,80,16)
        _sync_rows(source, batch, weights, mel_batch, affines, model, device, out_crops, edit_mask)
        if on_progress is not None:
            on_progress(len(batch))
    return LipsyncResult(out_crops, edit_mask, weights)


def sequence_speaking_weights(plan: CropPlan, speakers, sequence_index: int, fade_frames: int = 3) -> np.ndarray:
    """(m,) float32 edit weight of each crop of one sequence: 1 while its face speaks (speakers),
    fading to 0 over fade_frames frames around each speaking segment; all 1 without speakers."""
    offsets = plan.row_offsets
    rows = slice(int(offsets[sequence_index]), int(offsets[sequence_index + 1]))
    if speakers is None:
        return np.ones(rows.stop - rows.start, np.float32)
    active = speaking_rows(plan, speakers, {}, int(fade_frames))
    return fade_weights(active, offsets, int(fade_frames))[rows]


def face_sequence_audio(
    plan: CropPlan, audio, sequence_index: int, *, crops: torch.Tensor | None = None, audio_offset_ms=0, speakers=None, fade_frames: int = 3,
) -> tuple[dict, torch.Tensor | None, CropPlan]:
    """The audio of one face sequence, for third-party lipsync nodes working on FUSE crops.

    Returns (AUDIO slice, the sequence's crop rows or None, a CropPlan of that sequence alone).
    The slice plays from the sequence's first frame to the end of its last (exact sample positions
    from plan.fps), in the source rate and channels, with silence where the audio does not reach,
    so it lasts exactly len(frames) / fps. Paste the processed rows with the one-sequence plan.
    With speakers (FUSE Active Speaker), the slice is the face's own stem when it was given one,
    and it is silent outside the face's speaking segments (faded like sequence_speaking_weights),
    so the other node moves this mouth only while this face speaks.
    """
    check_instance("crop_plan", plan, CropPlan, "FUSE_CROPS")
    if not plan.sequences:
        raise ValueError("crop_plan must hold at least one face sequence, but it is empty (no face was tracked)")
    if isinstance(sequence_index, bool) or not isinstance(sequence_index, (int, np.integer)) or not 0 <= sequence_index < len(plan):
        raise ValueError(f"sequence_index must be in 0..{len(plan) - 1} (the crop plan has {len(plan)} sequences), but got {sequence_index!r}")
    sequence = plan.sequences[int(sequence_index)]
    first, stop = int(sequence.frames[0]), int(sequence.frames[-1]) + 1
    if speakers is not None:
        check_speakers_match_plan(speakers, plan)
        stem = int(speakers.stem_of_track[speakers.index_of(sequence.track_id)])
        if stem >= 0:
            audio, audio_offset_ms = speakers.stems[stem], 0
    sliced = audio_for_frames(audio, first, stop, plan.fps, audio_offset_ms)
    if speakers is not None:
        weights = sequence_speaking_weights(plan, speakers, int(sequence_index), fade_frames)
        rate, length = sliced["sample_rate"], sliced["waveform"].shape[-1]
        sample_frames = np.arange(length) * (float(plan.fps) / rate)  # frames since the sequence's first (a gain needs no exact time)
        gain = np.interp(sample_frames, np.arange(len(weights)) + 0.5, weights)
        sliced = {"waveform": sliced["waveform"] * torch.from_numpy(gain.astype(np.float32)), "sample_rate": rate}
    rows = None
    if crops is not None:
        check_crops_match_plan(crops, plan, channels=(3,))
        offsets = plan.row_offsets
        rows = crops[int(offsets[sequence_index]) : int(offsets[sequence_index + 1])].clone()
    single = CropPlan((sequence,), plan.frame_size, plan.frame_count, plan.fps, plan.fingerprint, plan.cuts)
    return sliced, rows, single
