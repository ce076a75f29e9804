"""CropPlan (socket FUSE_CROPS): where every row of a crop IMAGE batch came from.

A plan holds one FaceSequence per contiguous run of one track. The crop pixels travel separately
as a plain IMAGE batch (all sequences concatenated, in plan order) so that any node can process
them; the plan maps batch rows back to (sequence, source frame) and carries a fingerprint of the
source video so that pasting onto another video is an error, not a silent mess.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.fingerprint import FINGERPRINT_GRID, fingerprint_frames, same_video  # noqa: F401 - re-exported: the plan carries this fingerprint
from ..core.checks import check_instance
from ..core.images import check_image_batch
from ..core.types import _as_array, _check_shape, _frozen, check_cuts, check_fps, check_frame_size


@dataclass(frozen=True, eq=False)
class FaceSequence:
    """One contiguous run of one track.

    frames (m,) int64 source frame indices, strictly increasing;
    affine_src_to_crop (m,2,3) float64: source pixel (x, y, 1) -> crop pixel (x, y);
    crop_size (height, width) of every crop of the sequence.
    """

    track_id: int
    frames: np.ndarray
    affine_src_to_crop: np.ndarray
    crop_size: tuple[int, int]
    identity: str = ""

    def __post_init__(self) -> None:
        frames = _as_array("frames", self.frames, np.int64)
        _check_shape("frames", frames, (None,))
        if len(frames) == 0:
            raise ValueError("frames must hold at least one frame index, but got none")
        if (np.diff(frames) <= 0).any():
            raise ValueError(f"frames must be strictly increasing, but got {frames[:8].tolist()}...")
        affine = _as_array("affine_src_to_crop", self.affine_src_to_crop, np.float64)
        _check_shape("affine_src_to_crop", affine, (len(frames), 2, 3))
        if not np.isfinite(affine).all():
            raise ValueError("affine_src_to_crop must be finite, but got NaN or inf")
        if (np.abs(np.linalg.det(affine[:, :, :2])) < 1e-12).any():
            raise ValueError("affine_src_to_crop must be invertible, but got a singular matrix")
        object.__setattr__(self, "crop_size", check_frame_size(self.crop_size))
        object.__setattr__(self, "track_id", int(self.track_id))
        object.__setattr__(self, "frames", _frozen(frames))
        object.__setattr__(self, "affine_src_to_crop", _frozen(affine))

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def affine_crop_to_src(self) -> np.ndarray:
        """(m,2,3) float64 inverse affines: crop pixel -> source pixel."""
        linear = np.linalg.inv(self.affine_src_to_crop[:, :, :2])
        offset = -np.einsum("mij,mj->mi", linear, self.affine_src_to_crop[:, :, 2])
        return np.concatenate([linear, offset[:, :, None]], axis=2)


@dataclass(frozen=True, eq=False)
class CropPlan:
    """Face sequences cut from one source video, in batch order. cuts (c,) int64: the source's
    shot boundaries (frames that start a new shot); no sequence crosses one."""

    sequences: tuple[FaceSequence, ...]
    frame_size: tuple[int, int]
    frame_count: int
    fps: Fraction
    fingerprint: np.ndarray  # (frame_count,16,16,C) uint8 pixel samples of the source, see fingerprint_frames
    cuts: np.ndarray | None = None

    def __post_init__(self) -> None:
        sequences = tuple(self.sequences)
        for position, sequence in enumerate(sequences):
            if not isinstance(sequence, FaceSequence):
                raise ValueError(f"sequences[{position}] must be a FaceSequence, but got {type(sequence).__name__}")
        object.__setattr__(self, "sequences", sequences)
        object.__setattr__(self, "frame_size", check_frame_size(self.frame_size))
        object.__setattr__(self, "fps", check_fps(self.fps))
        if not isinstance(self.frame_count, (int, np.integer)) or self.frame_count < 0:
            raise ValueError(f"frame_count must be a non-negative int, but got {self.frame_count!r}")
        object.__setattr__(self, "frame_count", int(self.frame_count))
        fingerprint = np.asarray(self.fingerprint, dtype=np.uint8)
        _check_shape("fingerprint", fingerprint, (self.frame_count, None, None, None))
        object.__setattr__(self, "fingerprint", _frozen(fingerprint))
        cuts = check_cuts(self.cuts, self.frame_count)
        object.__setattr__(self, "cuts", _frozen(cuts))
        for sequence in sequences:
            if sequence.frames[-1] >= self.frame_count:
                raise ValueError(f"sequence of track {sequence.track_id} must stay within {self.frame_count} frames, but reaches frame {sequence.frames[-1]}")
            crossed = cuts[(cuts > sequence.frames[0]) & (cuts <= sequence.frames[-1])]
            if len(crossed):
                raise ValueError(f"sequence of track {sequence.track_id} must stay within one shot, but crosses the cut at frame {int(crossed[0])}")
        sizes = {s.crop_size for s in sequences}
        if len(sizes) > 1:
            raise ValueError(f"sequences must share one crop_size so their crops form one IMAGE batch, but got {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.sequences)

    def __repr__(self) -> str:
        return f"CropPlan({len(self)} sequences, {self.total_rows} crops of {self.crop_size}, source {self.frame_count} frames of {self.frame_size[1]}x{self.frame_size[0]})"

    @property
    def crop_size(self) -> tuple[int, int] | None:
        """(height, width) of every crop, or None for an empty plan."""
        return self.sequences[0].crop_size if self.sequences else None

    @property
    def total_rows(self) -> int:
        return sum(len(s) for s in self.sequences)

    @property
    def row_offsets(self) -> np.ndarray:
        """(s+1,) int64: sequence j occupies batch rows [row_offsets[j], row_offsets[j+1])."""
        return np.concatenate([[0], np.cumsum([len(s) for s in self.sequences])]).astype(np.int64)

    def window(self, start: int, stop: int, fingerprint: np.ndarray) -> tuple["CropPlan", np.ndarray]:
        """The part of the plan on source frames [start, stop), as a plan of its own.

        Frame indices are shifted by -start (the window's frames form their own batch);
        fingerprint is fingerprint_frames of those frames. Returns (plan, rows): rows (M',) int64
        are the window plan's rows as rows of this plan, so per-row data (fades, masks, processed
        crops) can be taken from the whole plan's.
        """
        if not 0 <= start < stop <= self.frame_count:
            raise ValueError(f"window must lie in 0..{self.frame_count} with start < stop, but got [{start}, {stop})")
        sequences, rows = [], []
        offset = 0
        for sequence in self.sequences:
            inside = (sequence.frames >= start) & (sequence.frames < stop)
            if inside.any():
                sequences.append(FaceSequence(sequence.track_id, sequence.frames[inside] - start, sequence.affine_src_to_crop[inside], sequence.crop_size, sequence.identity))
                rows.append(offset + np.flatnonzero(inside))
            offset += len(sequence)
        rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
        cuts = self.cuts[(self.cuts > start) & (self.cuts < stop)] - start
        return CropPlan(tuple(sequences), self.frame_size, stop - start, self.fps, fingerprint, cuts), rows

    def select_tracks(self, track_ids) -> "CropPlan":
        """A plan with only the sequences of the given track ids (the crop batch must follow)."""
        wanted = {int(t) for t in track_ids}
        return CropPlan(tuple(s for s in self.sequences if s.track_id in wanted), self.frame_size, self.frame_count, self.fps, self.fingerprint, self.cuts)


def check_crops_match_plan(crops, plan: CropPlan, *, channels=(3, 4)) -> None:
    """ValueError / TypeError unless crops is the IMAGE batch of this plan: one row per crop of
    the plan, of the plan's crop size, C in channels (core.images.check_image_batch)."""
    check_instance("crop_plan", plan, CropPlan, "FUSE_CROPS")
    rows = check_image_batch("crops", crops, channels=channels)[0]
    if rows != plan.total_rows:
        raise ValueError(
            f"crops must have {plan.total_rows} rows, one per crop of the crop plan ({len(plan)} sequences), but got {rows}; "
            "connect the crops and the crop plan of one FUSE Crop Face Sequences node (did a node in between drop or add frames?)"
        )
    if plan.crop_size is not None and tuple(crops.shape[1:3]) != plan.crop_size:
        height, width = plan.crop_size
        raise ValueError(f"crops must be {width}x{height} (the crop plan's size), but got {crops.shape[2]}x{crops.shape[1]}; resize them back to the plan's size")
