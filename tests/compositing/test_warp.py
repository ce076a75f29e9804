"""Warp in: crops sample the right source pixels, replicate past the edge, and refuse other videos."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.compositing.plan import CropPlan, FaceSequence, fingerprint_frames
from comfyui_fuse.compositing.warp import crop_face_sequences, crop_faces, crop_one, sample_catmull_rom, source_positions, valid_mask, warp_profiles, warp_region
from comfyui_fuse.core.types import DETECTED, FaceTracks


def make_frames(count=3, size=(40, 60), channels=3, seed=0) -> torch.Tensor:
    return torch.rand((count, *size, channels), generator=torch.Generator().manual_seed(seed))


def shift_affine(x0, y0, scale=1.0) -> np.ndarray:
    """source -> crop: source pixel (x0, y0) lands on crop pixel (0, 0)."""
    return np.array([[scale, 0, -scale * x0], [0, scale, -scale * y0]], np.float64)


def make_plan(frames, rows, crop_size=(16, 16), track_id=1) -> CropPlan:
    """A one-sequence plan: rows = [(frame, affine_src_to_crop), ...]."""
    sequence = FaceSequence(track_id, [f for f, _ in rows], np.stack([a for _, a in rows]), crop_size)
    return CropPlan((sequence,), tuple(frames.shape[1:3]), frames.shape[0], Fraction(25), fingerprint_frames(frames))


def test_integer_shift_copies_the_source_pixels():
    frames = make_frames()
    plan = make_plan(frames, [(0, shift_affine(5, 7)), (2, shift_affine(30, 20))])
    crops = crop_faces(frames, plan)
    assert crops.shape == (2, 16, 16, 3) and crops.dtype == torch.float32
    assert torch.allclose(crops[0], frames[0, 7:23, 5:21], atol=1e-5), "a unit-scale integer shift must copy pixels"
    assert torch.allclose(crops[1], frames[2, 20:36, 30:46], atol=1e-5)
    assert valid_mask(plan).eq(1).all(), "a crop inside the frame is valid everywhere"


def test_quarter_turn_rotates_the_pixels():
    frames = make_frames()
    # crop (u, v) <- source (x, y) = (10 + v, 25 - u): a 90 degree turn about the crop origin
    rotation = np.array([[0.0, -1.0, 25.0], [1.0, 0.0, -10.0]])
    plan = make_plan(frames, [(1, rotation)])
    crops = crop_faces(frames, plan)
    expected = torch.rot90(frames[1, 10:26, 10:26], k=-1, dims=(0, 1))
    assert torch.allclose(crops[0], expected, atol=1e-5), "warp must honour rotation in a general 2x3 affine"


@pytest.mark.parametrize(
    "x0, y0, invalid_columns, invalid_rows",
    [
        (-4, 5, slice(0, 4), None),  # 4 columns left of the frame
        (50, 5, slice(10, 16), None),  # 6 columns right of a 60-wide frame
        (10, -3, None, slice(0, 3)),  # 3 rows above
        (10, 30, None, slice(10, 16)),  # 6 rows below a 40-high frame
    ],
)
def test_outside_the_frame_replicates_the_edge_and_is_not_valid(x0, y0, invalid_columns, invalid_rows):
    frames = make_frames()
    plan = make_plan(frames, [(0, shift_affine(x0, y0))])
    crops = crop_faces(frames, plan)
    valid = valid_mask(plan)[0]
    expected_valid = torch.ones(16, 16)
    if invalid_columns is not None:
        expected_valid[:, invalid_columns] = 0
    if invalid_rows is not None:
        expected_valid[invalid_rows] = 0
    assert torch.equal(valid, expected_valid), f"valid must be 0 exactly where the crop left the frame:\n{valid}"
    clamped_x = np.clip(np.arange(x0, x0 + 16), 0, 59)
    clamped_y = np.clip(np.arange(y0, y0 + 16), 0, 39)
    expected = frames[0][torch.as_tensor(clamped_y)][:, torch.as_tensor(clamped_x)]
    assert torch.allclose(crops[0], expected, atol=1e-5), "pixels past the frame must repeat its edge (replicate padding)"


def test_crop_wholly_outside_the_frame_is_all_invalid_but_finite():
    frames = make_frames()
    plan = make_plan(frames, [(0, shift_affine(200, -100))])
    crops = crop_faces(frames, plan)
    assert valid_mask(plan).eq(0).all()
    assert torch.isfinite(crops).all() and torch.allclose(crops[0], frames[0, 0, 59].expand(16, 16, 3), atol=1e-5), "it repeats the nearest corner"


def test_four_channel_frames_give_rgb_crops_and_inputs_stay_untouched():
    frames = make_frames(channels=4)
    before = frames.clone()
    plan = make_plan(frames, [(0, shift_affine(5, 7))])
    crops = crop_faces(frames, plan)
    assert crops.shape[-1] == 3 and torch.allclose(crops[0], frames[0, 7:23, 5:21, :3], atol=1e-5)
    assert torch.equal(frames, before), "crop_faces must not modify its input"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f[:2], r"images must be the video the crop plan was made from \(3 frames of 60x40\), but got 2 frames of 60x40; crop and paste the same video"),
        (lambda f: f[:, :30], r"but got 3 frames of 60x30"),
        (lambda f: make_frames(seed=5), r"images must be the video the crop plan was made from, but its pixels differ"),
        (lambda f: f[0], r"images must be an IMAGE batch \[B,H,W,C\] with C 3 or 4"),
        (lambda f: (f * 255).to(torch.uint8), r"images must hold float pixels"),
        (lambda f: f.numpy(), r"images must be an IMAGE torch.Tensor"),
    ],
)
def test_frames_that_do_not_match_the_plan_are_refused(change, message):
    frames = make_frames()
    plan = make_plan(frames, [(0, shift_affine(5, 7))])
    with pytest.raises((ValueError, TypeError), match=message):
        crop_faces(change(frames), plan)


def test_progress_and_interrupt_are_called_per_chunk():
    frames = make_frames()
    plan = make_plan(frames, [(f, shift_affine(f, f)) for f in range(3)])
    steps, checks = [], []
    crop_faces(frames, plan, chunk_size=2, on_progress=steps.append, check_interrupt=lambda: checks.append(1))
    assert steps == [2, 1] and len(checks) == 2, f"progress must report rows per chunk, got {steps} and {len(checks)} interrupt checks"


def test_valid_mask_rows_are_checked():
    frames = make_frames()
    plan = make_plan(frames, [(0, shift_affine(-4, 0)), (1, shift_affine(0, 0))])
    assert torch.equal(valid_mask(plan, rows=[1]), valid_mask(plan)[1:])
    with pytest.raises(ValueError, match="rows must index the plan's 2 crop rows"):
        valid_mask(plan, rows=[2])


def make_tracks(frame_count, frame_size, boxes) -> FaceTracks:
    xyxy = np.full((1, frame_count, 4), np.nan, np.float32)
    state = np.zeros((1, frame_count), np.uint8)
    for frame, box in boxes.items():
        xyxy[0, frame], state[0, frame] = box, DETECTED
    return FaceTracks([1], xyxy, state, state.astype(np.float32), frame_count, frame_size)


def test_crop_face_sequences_plans_cuts_and_reports_every_face_frame():
    frames = make_frames(count=4)
    tracks = make_tracks(4, (40, 60), {0: (10, 10, 30, 30), 1: (11, 10, 31, 30), 3: (12, 10, 32, 30)})
    steps = []
    crops, plan, valid = crop_face_sequences(frames, tracks, CropSpec(face_size=32, face_padding=2, min_run_length=2), on_progress=steps.append)
    assert [s.frames.tolist() for s in plan.sequences] == [[0, 1]], "the 1-frame run is below min_run_length"
    assert crops.shape == (2, 32, 32, 3) and valid.shape == (2, 32, 32)
    assert sum(steps) == 3, f"progress must count every face-frame of the tracks (3), got {steps}"


def test_crop_face_sequences_without_faces_gives_empty_batches_of_the_face_size():
    frames = make_frames(count=2)
    crops, plan, valid = crop_face_sequences(frames, FaceTracks.empty(2, (40, 60)), CropSpec(face_size=100, size_multiple=32))
    assert len(plan) == 0 and crops.shape == (0, 96, 96, 3) and valid.shape == (0, 96, 96)


def test_empty_video_gives_an_empty_plan():
    frames = torch.zeros((0, 40, 60, 3))
    crops, plan, valid = crop_face_sequences(frames, FaceTracks.empty(0, (40, 60)), CropSpec(face_size=64))
    assert plan.frame_count == 0 and crops.shape == (0, 64, 64, 3)


@pytest.mark.parametrize("tracks", [FaceTracks.empty(3, (40, 60)), FaceTracks.empty(2, (40, 61))])
def test_tracks_of_another_video_are_refused(tracks):
    with pytest.raises(ValueError, match=r"images must be the video the tracks were made from"):
        crop_face_sequences(make_frames(count=2), tracks)


def test_tracks_of_another_video_of_the_same_size_are_refused_by_their_fingerprint():
    frames, other = make_frames(count=2), make_frames(count=2, seed=9)
    boxes = {0: (10, 10, 30, 30), 1: (11, 10, 31, 30)}
    tracks = make_tracks(2, (40, 60), boxes)
    tracks = FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, 2, (40, 60), fingerprint=fingerprint_frames(frames))
    crops, plan, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=32))
    assert plan.total_rows == 2, "the video the tracks were made from is cropped"
    with pytest.raises(ValueError, match=r"images must be the video the tracks were made from, but its pixels differ"):
        crop_face_sequences(other, tracks, CropSpec(face_size=32))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_broken_source_frames_are_blamed_on_their_maker_not_the_crop_processing(bad):
    frames = make_frames()
    frames[1, 10, 10, 0] = bad
    plan = make_plan(frames, [(0, shift_affine(5, 7)), (1, shift_affine(5, 7))])
    with pytest.raises(ValueError, match=r"images must hold finite pixel values, but the source frame holds NaN or inf .* check the node that made them"):
        crop_faces(frames, plan)


def test_crops_that_would_not_fit_in_memory_are_refused_up_front(monkeypatch):
    """Face size 4096 on 400 frames needs 80 GB: refused with the size, not an allocator traceback."""
    monkeypatch.setattr("comfyui_fuse.core.checks.available_memory_bytes", lambda device=None: 10**9)
    frames = make_frames(count=4)
    tracks = make_tracks(4, (40, 60), {frame: (10, 10, 30, 30) for frame in range(4)})
    with pytest.raises(ValueError, match=r"4 face crops of 4096x4096 must fit in memory, but would need 1.07 GB and only 1.00 GB is available; lower face_size"):
        crop_face_sequences(frames, tracks, CropSpec(face_size=4096))
    crops, _, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=64))
    assert crops.shape == (4, 64, 64, 3), "crops that fit are made as before"


@pytest.mark.parametrize(
    "affine, box, origin",
    [
        (np.array([[1 / 1.5, 0, 20.3], [0, 1 / 1.5, 11.8]]), (0, 0, 64, 48), (0, 0)),  # a crop: upsampling a face
        (np.array([[4.6, 0, -90.2], [0, 4.6, -40.7]]), (3, 5, 40, 33), (2, 1)),  # a paste: shrinking a large crop
        (np.array([[0.9, 0, -3.0], [0, 1.3, 2.0]]), (-4, -2, 70, 50), (0, 0)),  # past every edge, unequal scales
        (np.array([[1.0, 0, 0.0], [0, 1.0, 0.0]]), (0, 0, 0, 10), (0, 0)),  # empty
    ],
)
def test_the_separable_path_gives_the_bits_of_the_2d_kernel(affine, box, origin):
    """Axis-aligned affines (every box crop) are sampled in two 1D passes; they must give exactly
    what the 16-tap 2D sum gives, so crops and the difference paste stay bit-identical."""
    image = torch.rand((50, 60, 3), generator=torch.Generator().manual_seed(7))
    fast = warp_region(image, affine, box, origin=origin)
    src_x, src_y = source_positions(affine, box)
    general = sample_catmull_rom(image, src_x - origin[0], src_y - origin[1])
    assert fast.shape == general.shape and torch.equal(fast, general), f"separable and 2D Catmull-Rom must agree bit for bit, max difference {(fast - general).abs().max() if fast.numel() else 0}"


def test_linear_warp_of_a_mask_is_bilinear_with_zeros_outside():
    mask = torch.ones((8, 8, 1))
    affine = np.array([[1.0, 0, -2.5], [0, 1.0, 0.0]])  # destination x -> source x - 2.5: half a pixel off the grid
    warped = warp_region(mask, affine, (0, 0, 12, 8), kernel="linear")[..., 0]
    assert torch.equal(warped[:, 3:10], torch.ones((8, 7))), "inside, a constant 1 stays exactly 1"
    assert torch.allclose(warped[0, [2, 10]], torch.tensor([0.5, 0.5])) and warped[0, [0, 1, 11]].eq(0).all(), "past the edge the mask falls to 0 bilinearly"


def test_separable_mask_profiles_warp_like_the_whole_mask():
    rows, columns = torch.linspace(0, 1, 40) ** 0.5, torch.linspace(1, 0, 56) ** 2
    affine = np.array([[0.73, 0, -5.2], [0, 0.73, 3.9]])
    box = (0, 0, 90, 70)  # reaches past the mask on two sides
    warped_rows, warped_columns = warp_profiles(rows, columns, affine, box)
    whole = warp_region((rows[:, None] * columns[None, :])[..., None], affine, box, kernel="linear")[..., 0]
    assert torch.allclose(warped_rows[:, None] * warped_columns[None, :], whole, atol=1e-6), "bilinear sampling of a product must be the product of the 1D samplings"
    with pytest.raises(ValueError, match="affine_dst_to_src must be axis-aligned"):
        warp_profiles(rows, columns, np.array([[0.7, 0.1, 0], [-0.1, 0.7, 0]]), box)


@pytest.mark.parametrize("affine", [np.array([[0.8, 0, 3.2], [0, 0.8, 5.7]]), np.array([[0.7, -0.3, 20.0], [0.3, 0.7, -4.0]])], ids=["box", "rotated"])
def test_a_window_of_a_crop_has_the_bits_of_the_whole_crop(affine):
    frame = make_frames(count=1, size=(50, 70))[0]
    whole = crop_one(frame, affine, (40, 48))
    window = crop_one(frame, affine, (40, 48), (5, 3, 31, 40))
    assert torch.equal(window, whole[3:40, 5:31]), "cutting only the pixels a paste needs must not change them"
