"""Crop geometry: CropSpec, affines from boxes, crop sizes, runs and plan order."""

from contextlib import nullcontext as does_not_raise
from fractions import Fraction

import numpy as np
import pytest

from comfyui_fuse.compositing.geometry import CropSpec, box_affines, plan_crops, plan_rows, snap_to_multiple
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks

FRAME_SIZE = (120, 200)


def make_tracks(boxes_per_track, frame_count, frame_size=FRAME_SIZE, ids=None) -> FaceTracks:
    """FaceTracks from {frame: xyxy} dicts, one per track; frames not listed are absent."""
    k = len(boxes_per_track)
    xyxy = np.full((k, frame_count, 4), np.nan, np.float32)
    state = np.full((k, frame_count), ABSENT, np.uint8)
    for index, boxes in enumerate(boxes_per_track):
        for frame, box in boxes.items():
            xyxy[index, frame] = box
            state[index, frame] = DETECTED
    return FaceTracks(
        track_id=np.arange(1, k + 1) if ids is None else np.asarray(ids),
        xyxy=xyxy,
        state=state,
        score=(state != ABSENT).astype(np.float32),
        frame_count=frame_count,
        frame_size=frame_size,
        fps=Fraction(30000, 1001),
    )


def fingerprint(frame_count):
    return np.zeros((frame_count, 16, 16, 3), np.uint8)


def apply(affine, x, y):
    return affine @ np.array([x, y, 1.0])


@pytest.mark.parametrize(
    "box, crop_size, padding, margin, region",
    [
        ((40, 30, 80, 70), (64, 64), 0, 0.0, (40, 30, 80, 70)),  # square box, no padding: box = crop
        ((40, 30, 80, 70), (64, 64), 10, 0.0, (30, 20, 90, 80)),  # 10 px on each side
        ((40, 30, 80, 70), (64, 64), 0, 0.25, (30, 20, 90, 80)),  # a quarter of 40 px on each side
        ((40, 30, 60, 70), (64, 64), 0, 0.0, (30, 30, 70, 70)),  # tall box: square around its height
        ((40, 30, 80, 50), (32, 64), 0, 0.0, (40, 30, 80, 50)),  # box of the crop's aspect
        ((40, 30, 80, 70), (32, 64), 0, 0.0, (20, 30, 100, 70)),  # taller than the crop aspect: widen
    ],
)
def test_box_affine_maps_padded_region_onto_the_crop(box, crop_size, padding, margin, region):
    affine = box_affines(np.array([box], np.float32), crop_size, padding, margin)[0]
    height, width = crop_size
    # region edges (pixel-edge coords) -> pixel-centre coords are edge - 0.5; crop edges are -0.5 and side - 0.5
    top_left = apply(affine, region[0] - 0.5, region[1] - 0.5)
    bottom_right = apply(affine, region[2] - 0.5, region[3] - 0.5)
    assert np.allclose(top_left, [-0.5, -0.5]), f"region's top-left corner must map to the crop's, but got {top_left}"
    assert np.allclose(bottom_right, [width - 0.5, height - 0.5]), f"region's bottom-right corner must map to the crop's, but got {bottom_right}"
    assert affine[0, 0] == affine[1, 1] and affine[0, 1] == affine[1, 0] == 0, f"crops must scale uniformly without rotation, but got {affine}"


@pytest.mark.parametrize(
    "value, multiple, expected",
    [(512, 1, 512), (500, 32, 512), (520, 16, 528), (511, 16, 512), (16, 16, 16), (17, 32, 32)],
)
def test_snap_to_multiple(value, multiple, expected):
    assert snap_to_multiple(value, multiple) == expected


@pytest.mark.parametrize(
    "options, expectation",
    [
        (dict(face_size=500, size_multiple=32), does_not_raise()),
        (dict(face_size=8, size_multiple=16), pytest.raises(ValueError, match="face_size must be an int >= size_multiple")),
        (dict(size_multiple=0), pytest.raises(ValueError, match="size_multiple must be")),
        (dict(face_padding=-1), pytest.raises(ValueError, match="face_padding must be a number >= 0 source pixels")),
        (dict(face_padding=float("nan")), pytest.raises(ValueError, match="face_padding must be a number >= 0")),
        (dict(margin=-0.1), pytest.raises(ValueError, match="margin must be a number >= 0")),
        (dict(min_run_length=0), pytest.raises(ValueError, match="min_run_length must be")),
        (dict(force_square="no"), pytest.raises(ValueError, match="force_square must be True or False, but got 'no'")),
        (dict(align="eyes"), pytest.raises(ValueError, match=r"align must be one of \['box', 'ffhq_landmarks'\], but got 'eyes'")),
    ],
)
def test_crop_spec_is_validated(options, expectation):
    tracks = make_tracks([{0: (10, 10, 50, 50)}, {1: (100, 10, 140, 50)}], 3)
    with expectation:
        plan = plan_crops(tracks, fingerprint(3), CropSpec(**options))
        assert plan.crop_size == (512, 512), f"face_size 500 must snap to 512 with size_multiple 32, but got {plan.crop_size}"


def test_fingerprint_must_cover_every_frame():
    tracks = make_tracks([{0: (10, 10, 50, 50)}], 3)
    with pytest.raises(ValueError, match=r"fingerprint must have one row per frame of the tracks \(3\)"):
        plan_crops(tracks, fingerprint(2))


def test_runs_become_sequences_ordered_by_track_then_start():
    box = (10, 10, 50, 50)
    # track 2 listed first in the arrays to prove the order comes from the ids
    tracks = make_tracks(
        [
            {0: box, 1: box, 5: box, 6: box, 7: box},  # id 2: runs [0,2) and [5,8)
            {3: box, 4: box, 5: box},  # id 1: run [3,6)
            {8: box},  # id 3: a 1-frame run
        ],
        9,
        ids=[2, 1, 3],
    )
    plan = plan_crops(tracks, fingerprint(9), CropSpec(face_size=64))
    order = [(s.track_id, s.frames.tolist()) for s in plan.sequences]
    assert order == [(1, [3, 4, 5]), (2, [0, 1]), (2, [5, 6, 7]), (3, [8])], f"sequences must be ordered by track id then start frame, but got {order}"
    assert plan.fps == Fraction(30000, 1001) and plan.frame_size == FRAME_SIZE and plan.frame_count == 9
    frames, src_to_crop, crop_to_src = plan_rows(plan)
    assert frames.tolist() == [3, 4, 5, 0, 1, 5, 6, 7, 8] and len(src_to_crop) == len(crop_to_src) == plan.total_rows == 9
    identity = np.einsum("mij,mjk->mik", src_to_crop[:, :, :2], crop_to_src[:, :, :2])
    assert np.allclose(identity, np.eye(2)), "plan_rows must return inverse pairs"

    short_runs_dropped = plan_crops(tracks, fingerprint(9), CropSpec(face_size=64, min_run_length=3))
    kept = [(s.track_id, s.frames.tolist()) for s in short_runs_dropped.sequences]
    assert kept == [(1, [3, 4, 5]), (2, [5, 6, 7])], f"runs shorter than 3 frames must be dropped, but got {kept}"


def test_no_tracks_give_an_empty_plan():
    tracks = FaceTracks.empty(4, FRAME_SIZE)
    plan = plan_crops(tracks, fingerprint(4))
    assert len(plan) == 0 and plan.total_rows == 0 and plan.frame_count == 4


def test_aspect_keeping_crops_share_one_size_and_scale_uniformly():
    tracks = make_tracks([{0: (10, 10, 50, 70), 1: (12, 10, 52, 70)}, {0: (100, 20, 130, 60)}], 2)
    plan = plan_crops(tracks, fingerprint(2), CropSpec(face_size=100, face_padding=0, force_square=False, size_multiple=16))
    height, width = plan.crop_size
    assert width == 96 and height % 16 == 0 and height > width, f"tall faces must give a tall crop of multiples of 16, but got {plan.crop_size}"
    for sequence in plan.sequences:
        affine = sequence.affine_src_to_crop
        assert np.allclose(affine[:, 0, 0], affine[:, 1, 1]), "aspect-keeping crops must still scale x and y alike"
        for box, row in zip(tracks.xyxy[tracks.index_of(sequence.track_id)][sequence.frames], affine):
            corners = [apply(row, box[0] - 0.5, box[1] - 0.5), apply(row, box[2] - 0.5, box[3] - 0.5)]
            assert all(-0.5 - 1e-6 <= c[0] <= width - 0.5 + 1e-6 and -0.5 - 1e-6 <= c[1] <= height - 0.5 + 1e-6 for c in corners), f"the face box must fit the crop, but maps to {corners}"


def test_smoothed_trajectory_is_followed_frame_by_frame():
    boxes = {frame: (10 + 3 * frame, 20, 50 + 3 * frame, 60) for frame in range(5)}
    plan = plan_crops(make_tracks([boxes], 5), fingerprint(5), CropSpec(face_size=64, face_padding=0))
    for frame, affine in zip(plan.sequences[0].frames, plan.sequences[0].affine_src_to_crop):
        x1, y1, x2, y2 = boxes[int(frame)]
        centre = apply(affine, (x1 + x2) / 2 - 0.5, (y1 + y2) / 2 - 0.5)
        assert np.allclose(centre, [31.5, 31.5]), f"frame {frame}: the box centre must land on the crop centre, but got {centre}"
