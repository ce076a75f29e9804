"""Paste back: DESIGN.md invariants 1-4 on synthetic clips of real faces, the seam tools of
issue 4 (colour matching, Poisson seams, landmark hulls, edit masks, fades), and bad input.

Every call goes through paste() / cut(), which assert that the inputs come out unchanged; that
also keeps the clips and crops cached across tests safe.
"""

import dataclasses
import functools
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.compositing.align import MEAN_LANDMARKS_IN_BOX
from comfyui_fuse.analysis.selection import FaceSelection, select_faces
from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.compositing.paste import PasteSpec, paste_faces
from comfyui_fuse.compositing.plan import CropPlan, FaceSequence, fingerprint_frames
from comfyui_fuse.compositing.warp import crop_face_sequences, crop_faces
from comfyui_fuse.media.synthetic import Scene, linear_path, render
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks

FRAME_COUNT = 6
FRAME_SIZE = (96, 160)
TOLERANCE = 2 / 255
ACCURATE = dict(face_size=512, face_padding=8)  # 40 px faces -> a 9x crop scale, for the 2/255 tests
FAST = dict(face_size=128, face_padding=8)  # for every other test


PASTE_SETTINGS = {field.name for field in dataclasses.fields(PasteSpec)}


def _tensors(*values):
    return [v for v in values if isinstance(v, torch.Tensor)]


def paste(frames, crops, plan, **options):
    """paste_faces with the PasteSpec of the settings among options, asserting that it left every
    tensor input as it was."""
    spec = PasteSpec(**{name: value for name, value in options.items() if name in PASTE_SETTINGS})
    options = {name: value for name, value in options.items() if name not in PASTE_SETTINGS}
    inputs = _tensors(frames, crops, *options.values())
    copies = [t.clone() for t in inputs]
    result = paste_faces(frames, crops, plan, spec, **options)
    assert all(torch.equal(a, b) for a, b in zip(inputs, copies)), "paste_faces must not modify its inputs"
    return result


def cut(frames, tracks, **settings):
    """crop_face_sequences with CropSpec(**settings), asserting that it left the frames as they were."""
    copy = frames.clone()
    result = crop_face_sequences(frames, tracks, CropSpec(**settings))
    assert torch.equal(frames, copy), "crop_face_sequences must not modify its input"
    return result


def tracks_from_boxes(boxes: list[np.ndarray], frame_size=FRAME_SIZE) -> FaceTracks:
    """FaceTracks with ids 1.. from (N,4) box paths; NaN rows are absent frames."""
    xyxy = np.stack(boxes).astype(np.float32)
    present = np.isfinite(xyxy).all(-1)
    state = np.where(present, DETECTED, ABSENT).astype(np.uint8)
    return FaceTracks(np.arange(1, len(boxes) + 1), xyxy, state, present.astype(np.float32), xyxy.shape[1], frame_size, Fraction(25))


@functools.lru_cache(maxsize=None)
def clip(name: str) -> tuple[torch.Tensor, FaceTracks]:
    """Rendered frames [N,H,W,3] float32 and their ground-truth tracks.

    two_faces: faces drift apart; face 2 leaves after frame 3, and frame 5 has no face at all.
    edge: one face half outside the left edge, one cut by the bottom edge.
    """
    if name == "two_faces":
        left = linear_path(FRAME_COUNT, (15, 20, 55, 60), (25, 24, 65, 64))
        right = linear_path(FRAME_COUNT, (100, 15, 142, 57), (108, 20, 150, 62))
        left[5] = np.nan
        right[4:] = np.nan
        boxes = [left, right]
    elif name == "edge":
        boxes = [linear_path(FRAME_COUNT, (-20, 20, 24, 64), (-14, 22, 30, 66)), linear_path(FRAME_COUNT, (90, 70, 130, 110), (96, 66, 136, 106))]
    else:
        raise ValueError(name)
    frames = render(Scene(FRAME_COUNT, FRAME_SIZE, boxes, [0, 2]))
    return torch.from_numpy(frames).float() / 255, tracks_from_boxes(boxes)


@functools.lru_cache(maxsize=None)
def accurate_cut(name: str):
    frames, tracks = clip(name)
    return cut(frames, tracks, **ACCURATE)


@pytest.fixture(scope="module")
def two_faces():
    return clip("two_faces")


@pytest.fixture(scope="module")
def two_faces_cut(two_faces):
    """frames, tracks, crops, plan of the two_faces clip at the FAST crop size."""
    frames, tracks = two_faces
    crops, plan, _ = cut(frames, tracks, **FAST)
    return frames, tracks, crops, plan


def noise_like(crops: torch.Tensor, seed: int = 3) -> torch.Tensor:
    return torch.rand(crops.shape, generator=torch.Generator().manual_seed(seed))


def rows_of(plan: CropPlan, track_id: int) -> torch.Tensor:
    offsets = plan.row_offsets
    rows = [np.arange(offsets[j], offsets[j + 1]) for j, s in enumerate(plan.sequences) if s.track_id == track_id]
    return torch.as_tensor(np.concatenate(rows))


@pytest.mark.parametrize("clip_name", ["two_faces", "edge"])
@pytest.mark.parametrize("blend_mode", ["box", "ellipse"])
@pytest.mark.parametrize("face_size", [48, 128])  # crop scales about 0.9x and 2.3x: resampling cannot be exact here
def test_difference_paste_of_unchanged_crops_changes_nothing_at_any_scale(clip_name, blend_mode, face_size):
    frames, tracks = clip(clip_name)
    crops, plan, _ = cut(frames, tracks, face_size=face_size, face_padding=8)
    pasted, mask = paste(frames, crops, plan, blend_mode=blend_mode, return_mask=True)
    assert mask.gt(0).sum() > 500, "the test needs a real paste region"
    assert torch.equal(pasted, frames), f"difference paste of unchanged crops must be exact, but max error is {(pasted - frames).abs().max() * 255:.3f}/255"


def test_difference_paste_carries_the_change_and_keeps_source_detail(two_faces_cut):
    frames, _, crops, plan = two_faces_cut
    brighter = (crops + 0.1).clamp(0, 1)
    pasted, mask = paste(frames, brighter, plan, blend_amount=0.0, return_mask=True)
    solid = mask >= 1 - 1e-6
    change = (pasted - frames)[solid]
    unclipped = frames[solid] < 0.85
    assert torch.allclose(change[unclipped], torch.full_like(change[unclipped], 0.1), atol=2 / 255), "a uniform +0.1 edit must arrive as +0.1 in the frame"


@pytest.mark.parametrize("clip_name", ["two_faces", "edge"])
@pytest.mark.parametrize("blend_mode", ["box", "ellipse"])
def test_identity_round_trip_is_within_2_of_255_where_the_crop_is_pasted_fully(clip_name, blend_mode):
    """paste_mode="replace" resamples the crop's colours: within 2/255 at a 9x crop scale."""
    frames, tracks = clip(clip_name)
    crops, plan, _ = accurate_cut(clip_name)
    pasted, mask = paste(frames, crops, plan, blend_mode=blend_mode, paste_mode="replace", return_mask=True)
    solid = mask >= 1 - 1e-6
    assert solid.sum() > 500, f"the test needs a solid paste region, but only {int(solid.sum())} pixels have alpha 1"
    error = (pasted - frames).abs().amax(-1)[solid].max().item()
    assert error <= TOLERANCE, f"crop -> identity -> paste must stay within 2/255 where alpha is 1, but got {error * 255:.2f}/255"
    blended = (pasted - frames).abs().amax(-1)[mask > 0].max().item()
    assert blended <= TOLERANCE, f"and within 2/255 in the feathered band too, but got {blended * 255:.2f}/255"


@pytest.mark.parametrize("clip_name", ["two_faces", "edge"])
def test_outside_the_paste_mask_pixels_are_bit_identical(clip_name):
    frames, tracks = clip(clip_name)
    crops, plan, _ = cut(frames, tracks, **FAST)
    pasted, mask = paste(frames, noise_like(crops), plan, return_mask=True)
    untouched = mask == 0
    assert torch.equal(pasted[untouched], frames[untouched]), "pixels outside every paste mask must keep their exact bits"
    assert (pasted[mask > 0.5] != frames[mask > 0.5]).any(), "noise crops must change the pasted faces"


def test_frames_without_a_face_pass_through_unchanged(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    pasted = paste(frames, noise_like(crops), plan)
    assert torch.equal(pasted[5], frames[5]), "frame 5 has no face and must come out unchanged"
    assert not torch.equal(pasted[4], frames[4]), "frame 4 has face 1 and must change"


def test_tracks_pasted_one_by_one_in_either_order_equal_pasting_all(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    processed = noise_like(crops)
    at_once = paste(frames, processed, plan)
    plan_1, plan_2 = plan.select_tracks([1]), plan.select_tracks([2])
    crops_1, crops_2 = processed[rows_of(plan, 1)], processed[rows_of(plan, 2)]
    one_then_two = paste(paste(frames, crops_1, plan_1), crops_2, plan_2)
    two_then_one = paste(paste(frames, crops_2, plan_2), crops_1, plan_1)
    assert torch.equal(one_then_two, at_once), "pasting track 1 then track 2 onto its result must equal pasting both"
    assert torch.equal(two_then_one, at_once), "faces that do not overlap must not depend on the order of the paste nodes"
    only_2 = paste(frames, crops_2, plan_2)
    assert torch.equal(only_2[..., :, :80, :], frames[..., :, :80, :]), "pasting track 2 alone must leave face 1 (left half) untouched"


def test_cropping_one_track_gives_the_rows_of_that_track(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    crops_2, plan_2, _ = cut(frames, select_faces(tracks, FaceSelection.parse("2")), **FAST)
    assert torch.equal(crops_2, crops[rows_of(plan, 2)]), "selecting track 2 must cut the same crops as the rows of track 2 in a full plan"
    assert [s.track_id for s in plan_2.sequences] == [2]


def test_overlapping_faces_draw_the_higher_track_id_on_top():
    frames = torch.rand((2, 64, 96, 3), generator=torch.Generator().manual_seed(0))
    tracks = tracks_from_boxes([np.tile([[10, 10, 50, 50]], (2, 1)), np.tile([[30, 20, 70, 60]], (2, 1))], frame_size=(64, 96))
    crops, plan, _ = cut(frames, tracks, face_size=64, face_padding=0)
    painted = crops.clone()
    painted[rows_of(plan, 1)] = 0.0  # track 1 black
    painted[rows_of(plan, 2)] = 1.0  # track 2 white
    pasted = paste(frames, painted, plan, blend_amount=0.0, paste_mode="replace")
    overlap = pasted[:, 25:45, 35:45]
    assert torch.allclose(overlap, torch.ones_like(overlap), atol=1e-6), "where faces overlap, the higher track id (2) must be on top"
    assert torch.allclose(pasted[:, 15:45, 12:28], torch.zeros((2, 30, 16, 3)), atol=1e-6), "face 1 outside the overlap stays black"
    reverse = paste(paste(frames, painted[rows_of(plan, 2)], plan.select_tracks([2]), blend_amount=0.0, paste_mode="replace"), painted[rows_of(plan, 1)], plan.select_tracks([1]), blend_amount=0.0, paste_mode="replace")
    assert torch.allclose(reverse[:, 25:45, 35:45], torch.zeros((2, 20, 10, 3)), atol=1e-6), "with separate nodes, the later node is drawn on top"


def test_overlap_order_holds_in_difference_mode_too():
    ramp = torch.linspace(0.2, 0.6, 96)
    frames = ramp[None, None, :, None].expand(2, 64, 96, 3).contiguous()  # smooth: no detail lost to resampling
    tracks = tracks_from_boxes([np.tile([[10, 10, 50, 50]], (2, 1)), np.tile([[30, 20, 70, 60]], (2, 1))], frame_size=(64, 96))
    crops, plan, _ = cut(frames, tracks, face_size=64, face_padding=0)
    painted = crops.clone()
    painted[rows_of(plan, 1)] = 0.0
    painted[rows_of(plan, 2)] = 1.0
    overlap = paste(frames, painted, plan, blend_amount=0.0)[:, 25:45, 35:45]
    assert torch.allclose(overlap, torch.ones_like(overlap), atol=2 / 255), "in difference mode too, the higher track id must be on top"


def test_rotated_affine_round_trip_is_within_2_of_255(two_faces):
    frames, _ = two_faces
    angle, side = 0.35, 512
    centre = np.array([35.0 - 0.5, 40.0 - 0.5])  # face 1 centre, pixel-centre coordinates
    scale = side / 56
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    affine = np.concatenate([linear, ((side - 1) / 2 - linear @ centre)[:, None]], axis=1)
    sequence = FaceSequence(1, np.arange(FRAME_COUNT), np.tile(affine, (FRAME_COUNT, 1, 1)), (side, side))
    plan = CropPlan((sequence,), FRAME_SIZE, FRAME_COUNT, Fraction(25), fingerprint_frames(frames))
    crops = crop_faces(frames, plan)
    pasted, mask = paste(frames, crops, plan, return_mask=True)
    solid = mask >= 1 - 1e-6
    assert solid.sum() > 500
    error = (pasted - frames).abs().amax(-1)[solid].max().item()
    assert error <= TOLERANCE, f"a rotated crop must round-trip within 2/255, but got {error * 255:.2f}/255"
    assert torch.equal(pasted[mask == 0], frames[mask == 0])


def test_a_box_wholly_outside_the_frame_pastes_nothing():
    frames = torch.rand((2, 40, 60, 3), generator=torch.Generator().manual_seed(0))
    tracks = tracks_from_boxes([np.tile([[100, 50, 140, 90]], (2, 1))], frame_size=(40, 60))
    crops, plan, valid = cut(frames, tracks, face_size=32, face_padding=0)
    assert valid.eq(0).all(), "a crop that lies wholly outside the frame has no valid pixel"
    pasted, mask = paste(frames, noise_like(crops), plan, return_mask=True)
    assert torch.equal(pasted, frames) and mask.eq(0).all()


@pytest.mark.parametrize("frame_count", [0, 1])
def test_no_faces_or_tiny_videos_are_not_errors(frame_count):
    frames = torch.rand((frame_count, 40, 60, 3), generator=torch.Generator().manual_seed(0))
    crops, plan, _ = cut(frames, FaceTracks.empty(frame_count, (40, 60)), face_size=32)
    pasted, mask = paste(frames, crops, plan, return_mask=True)
    assert torch.equal(pasted, frames) and pasted is not frames, "an empty plan must return an unchanged copy"
    assert mask.shape == (frame_count, 40, 60) and mask.eq(0).all()


def test_a_single_frame_video_round_trips():
    frames, tracks = clip("two_faces")
    frames, tracks = frames[:1], tracks_from_boxes(list(tracks.xyxy[:, :1]))
    crops, plan, _ = cut(frames, tracks, **ACCURATE)
    assert plan.total_rows == 2
    pasted, mask = paste(frames, crops, plan, return_mask=True)
    assert (pasted - frames).abs()[mask >= 1 - 1e-6].max() <= TOLERANCE


def test_occlusion_mask_keeps_the_original_pixels(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    occlusion = torch.zeros((FRAME_COUNT, *FRAME_SIZE))
    occlusion[:, 40:70, :] = 1.0  # a hand across the lower half of the faces
    occlusion[:, 30:40, :] = 0.5  # a soft edge above it
    pasted, mask = paste(frames, noise_like(crops), plan, occlusion_mask=occlusion, return_mask=True)
    assert torch.equal(pasted[:, 40:70], frames[:, 40:70]), "where occlusion_mask is 1 the original pixels must stay exactly"
    assert mask[:, 40:70].eq(0).all() and mask[:, 30:40].max() <= 0.5 + 1e-6, "alpha must be multiplied by 1 - occlusion"
    assert (pasted[:, 20:30] != frames[:, 20:30]).any(), "above the hand the face is pasted"
    shared = paste(frames, noise_like(crops), plan, occlusion_mask=occlusion[:1])
    assert torch.equal(shared, pasted), "a [1,H,W] occlusion mask applies to every frame"


def test_crop_mask_limits_the_paste(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    nothing = paste(frames, noise_like(crops), plan, crop_mask=torch.zeros((plan.total_rows, 128, 128)))
    assert torch.equal(nothing, frames), "an all-zero crop_mask must paste nothing"
    left_half = torch.zeros((1, 128, 128))
    left_half[:, :, :64] = 1.0
    pasted, mask = paste(frames, noise_like(crops), plan, crop_mask=left_half, blend_amount=0.0, return_mask=True)
    first = plan.sequences[0]
    centre_x = first.affine_crop_to_src[0] @ np.array([63.5, 63.5, 1.0])
    column = int(np.ceil(centre_x[0])) + 1
    assert mask[0, :, column:80].eq(0).all(), "right of the crop centre, face 1 must not be pasted"
    assert mask[0, :, :column - 1].max() == 1.0, "left of it, face 1 is pasted"


def test_four_channel_frames_keep_their_alpha_channel(two_faces):
    frames, tracks = two_faces
    rgba = torch.cat([frames, torch.rand(frames.shape[:3] + (1,), generator=torch.Generator().manual_seed(2))], dim=-1)
    crops, plan, _ = cut(rgba, tracks, **FAST)
    assert crops.shape[-1] == 3
    pasted, mask = paste(rgba, noise_like(crops), plan, return_mask=True)
    assert pasted.shape == rgba.shape and torch.equal(pasted[..., 3], rgba[..., 3]), "the alpha channel must stay untouched"
    assert (pasted[..., :3][mask > 0.5] != rgba[..., :3][mask > 0.5]).any()


def test_inputs_are_never_mutated(two_faces):
    frames, tracks = two_faces
    frames = frames.clone()
    crops, plan, _ = cut(frames, tracks, **FAST)
    processed = noise_like(crops)
    crop_mask = torch.ones((1, 128, 128))
    occlusion = torch.zeros((FRAME_COUNT, *FRAME_SIZE))
    copies = [t.clone() for t in (frames, processed, crop_mask, occlusion)]
    fingerprint = plan.fingerprint.copy()
    paste_faces(frames, processed, plan, crop_mask=crop_mask, occlusion_mask=occlusion, return_mask=True)
    for before, after, name in zip(copies, (frames, processed, crop_mask, occlusion), ("images", "crops", "crop_mask", "occlusion_mask")):
        assert torch.equal(before, after), f"paste_faces must not modify {name}"
    assert np.array_equal(fingerprint, plan.fingerprint)


def test_progress_counts_crop_rows(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    steps, checks = [], []
    paste(frames, crops, plan, chunk_size=4, on_progress=steps.append, check_interrupt=lambda: checks.append(1))
    assert sum(steps) == plan.total_rows and len(checks) == len(steps) == -(-plan.total_rows // 4)


def _bad_inputs():
    frames, tracks = clip("two_faces")
    crops, plan, _ = cut(frames, tracks, **FAST)
    rows = plan.total_rows
    other_video = torch.rand(frames.shape, generator=torch.Generator().manual_seed(9))
    return [
        ("fewer crops", dict(crops=crops[:-1]), rf"crops must have {rows} rows, one per crop of the crop plan \(2 sequences\), but got {rows - 1}; .*did a node in between drop or add frames\?"),
        ("more crops", dict(crops=torch.cat([crops, crops[:1]])), rf"crops must have {rows} rows, one per crop of the crop plan \(2 sequences\), but got {rows + 1}"),
        ("resized crops", dict(crops=crops[:, :64, :64]), r"crops must be 128x128 \(the crop plan's size\), but got 64x64"),
        ("rgba crops", dict(crops=torch.cat([crops, crops[..., :1]], -1)), r"crops must have 3 channels \(RGB\), but got 4"),
        ("nan crops", dict(crops=torch.where(crops > 0.5, float("nan"), crops)), r"crops must hold finite pixel values, but got NaN or inf"),
        ("another video", dict(images=other_video), r"images must be the video the crop plan was made from, but its pixels differ"),
        ("fewer frames", dict(images=frames[:4]), r"images must be the video the crop plan was made from \(6 frames of 160x96\), but got 4 frames"),
        ("crop mask size", dict(crop_mask=torch.ones((rows, 64, 64))), rf"crop_mask must be a MASK \[{rows} or 1, 128, 128\]"),
        ("crop mask count", dict(crop_mask=torch.ones((2, 128, 128))), r"crop_mask must be a MASK"),
        ("occlusion size", dict(occlusion_mask=torch.ones((6, 96, 100))), r"occlusion_mask must be a MASK \[6 or 1, 96, 160\]"),
        ("occlusion count", dict(occlusion_mask=torch.ones((3, 96, 160))), r"occlusion_mask must be a MASK"),
        ("blend mode", dict(blend_mode="star"), r"blend_mode must be one of"),
        ("edit mask size", dict(edit_mask=torch.ones((rows, 64, 64))), rf"edit_mask must be a MASK \[{rows} or 1, 128, 128\] \(one per crop, in crop space, e.g. FUSE Lipsync's edit_mask\)"),
        ("seam", dict(seam="clone"), r"seam must be one of \['feather', 'poisson'\], but got 'clone'"),
        ("colour match", dict(color_match="hist"), r"color_match must be one of \['none', 'lab_mean_std'\], but got 'hist'"),
        ("fade frames", dict(fade_frames=-2), r"fade_frames must be an int >= 0 \(0 = no fades\), but got -2"),
        ("feather", dict(feather_pixels=-1.0), r"feather_pixels must be a number >= 0 source pixels, but got -1.0"),
    ], frames, crops, plan


BAD_CASES, BAD_FRAMES, BAD_CROPS, BAD_PLAN = _bad_inputs()


@pytest.mark.parametrize("label, change, message", BAD_CASES, ids=[case[0] for case in BAD_CASES])
def test_bad_input_is_refused_with_a_message_naming_it(label, change, message):
    arguments = dict(images=BAD_FRAMES, crops=BAD_CROPS)
    arguments.update(change)
    options = {k: v for k, v in arguments.items() if k not in ("images", "crops")}
    with pytest.raises(ValueError, match=message):
        paste(arguments["images"], arguments["crops"], BAD_PLAN, **options)


def test_a_plan_from_another_video_is_refused(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    other = torch.flip(frames, dims=[2])  # same size and count, different pixels
    with pytest.raises(ValueError, match="crop and paste the same video"):
        paste_faces(other, crops, plan)
    with pytest.raises(ValueError, match="crop and paste the same video"):
        crop_faces(other, plan)


def test_half_precision_crops_whose_float16_sum_overflows_are_pasted(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    half = crops.half()
    assert torch.isinf(half.sum()), "precondition: the float16 sum of these finite crops overflows"
    assert torch.equal(paste_faces(frames, half, plan), paste_faces(frames, half.float(), plan)), "finite float16 crops must paste like their float32 values"


def test_broken_frames_are_blamed_on_the_frames_not_the_crop_processing(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    broken = frames.clone()
    frame, x1, y1, x2, y2 = int(plan.sequences[0].frames[0]), *(int(v) for v in tracks.xyxy[0, plan.sequences[0].frames[0]])
    broken[frame, (y1 + y2) // 2 + 1, (x1 + x2) // 2 + 1] = float("nan")  # inside the face, off the fingerprint grid
    with pytest.raises(ValueError, match=r"images must hold finite pixel values, but the source frame holds NaN or inf .* check the node that made them"):
        paste_faces(broken, crops, plan)


# --- issue 4: colour matching, Poisson seams, landmark hulls, edit masks, fades -------------------


def with_landmarks(tracks: FaceTracks) -> FaceTracks:
    """The tracks with five landmarks per face at the average layout inside each box."""
    boxes = tracks.xyxy.astype(np.float64)
    points = boxes[..., None, :2] + MEAN_LANDMARKS_IN_BOX * (boxes[..., None, 2:] - boxes[..., None, :2])
    return FaceTracks(tracks.track_id, tracks.xyxy, tracks.state, tracks.score, tracks.frame_count, tracks.frame_size, tracks.fps, landmarks=points.astype(np.float32))


def colour_cast(crops: torch.Tensor) -> torch.Tensor:
    """A processor that comes back warmer and a little brighter (what restorers and video models do)."""
    return (crops * torch.tensor([1.12, 0.97, 0.86]) + 0.03).clamp(0, 1)


def seam_error(pasted, frames, mask) -> float:
    """Mean |pasted - frames| over the feathered band of the paste (0 < alpha < 1): what the seam shows."""
    band = (mask > 0) & (mask < 1)
    return float((pasted - frames).abs()[band].mean())


@pytest.mark.parametrize("paste_mode", ["difference", "replace"])
def test_colour_matching_removes_a_known_colour_shift_at_the_seam(two_faces_cut, paste_mode):
    frames, _, crops, plan = two_faces_cut
    cast = colour_cast(crops)
    plain, mask = paste(frames, cast, plan, paste_mode=paste_mode, return_mask=True)
    matched = paste(frames, cast, plan, paste_mode=paste_mode, color_match="lab_mean_std")
    before, after = seam_error(plain, frames, mask), seam_error(matched, frames, mask)
    assert before > 4 / 255, f"the test needs a visible cast at the seam, but the error is only {before * 255:.2f}/255"
    # a cast made in sRGB is no exact Lab mean/std change, so part of it remains (as in test_color.py)
    assert after < before / 2.5, f"colour matching must cut the seam error at least 2.5x: {before * 255:.2f}/255 -> {after * 255:.2f}/255"


def test_colour_matching_an_unchanged_crop_changes_nothing(two_faces_cut):
    frames, _, crops, plan = two_faces_cut
    assert torch.equal(paste(frames, crops, plan, color_match="lab_mean_std"), frames), "matching a crop to itself is the identity, so difference paste stays exact"


def seam_step(pasted, frames, mask) -> float:
    """Mean |change| on the pasted pixels that touch an unpasted one: the step a hard seam shows."""
    touched = mask > 0
    edge = torch.zeros_like(touched)
    edge[:, 1:-1, 1:-1] = touched[:, 1:-1, 1:-1] & ~(touched[:, :-2, 1:-1] & touched[:, 2:, 1:-1] & touched[:, 1:-1, :-2] & touched[:, 1:-1, 2:])
    return float((pasted - frames).abs()[edge].mean())


@pytest.mark.parametrize("paste_mode", ["difference", "replace"])
def test_poisson_seam_keeps_outside_pixels_and_the_detail_but_not_the_step(two_faces_cut, paste_mode):
    frames, _, crops, plan = two_faces_cut
    columns = torch.arange(crops.shape[2], dtype=torch.float32)
    texture = 0.06 * torch.sin(columns / 2.5)[None, None, :, None]  # detail the processor added
    processed = (crops + 0.12 + texture).clamp(0, 1)  # ... on top of a brightness offset
    box, mask = paste(frames, processed, plan, blend_amount=0.0, paste_mode=paste_mode, return_mask=True)
    poisson, poisson_mask = paste(frames, processed, plan, blend_amount=0.0, paste_mode=paste_mode, seam="poisson", return_mask=True)
    assert torch.equal(poisson_mask, mask), "the Poisson seam changes what is pasted, not where"
    assert torch.equal(poisson[mask == 0], frames[mask == 0]), "outside the paste area pixels must stay bit-identical"
    before, after = seam_step(box, frames, mask), seam_step(poisson, frames, mask)
    assert after < before / 4, f"the Poisson seam must remove the step at the edge: {before * 255:.1f}/255 -> {after * 255:.1f}/255"
    solid = (mask[:, :, 1:] >= 1) & (mask[:, :, :-1] >= 1)
    detail_box = (box[:, :, 1:] - box[:, :, :-1])[solid]
    detail_poisson = (poisson[:, :, 1:] - poisson[:, :, :-1])[solid]
    kept = 1 - float((detail_poisson - detail_box).abs().mean() / detail_box.abs().mean())
    assert kept > 0.8, f"inside, the processed detail (its gradient) must survive: only {kept:.0%} kept"


def test_face_hull_pastes_inside_the_face_only(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    tracks = with_landmarks(tracks)
    face, face_mask = paste(frames, noise_like(crops), plan, blend_mode="face_hull", feather_pixels=2.0, tracks=tracks, fade_frames=0, return_mask=True)
    box_mask_ = paste(frames, noise_like(crops), plan, fade_frames=0, return_mask=True)[1]
    assert torch.equal(face[face_mask == 0], frames[face_mask == 0]), "outside the hull pixels must stay bit-identical"
    assert face_mask.gt(0).sum() < 0.6 * box_mask_.gt(0).sum(), "the face hull must cover much less than the whole crop"
    eyes = tracks.landmarks[0, 0, :2].round().astype(int)
    assert (face_mask[0, eyes[:, 1], eyes[:, 0]] == 1).all(), "the eyes are inside the face hull"
    corner = np.floor(tracks.xyxy[0, 0, :2]).astype(int)
    assert face_mask[0, corner[1], corner[0]] == 0, "the corner of the face box is outside the face hull"


def test_lower_face_leaves_the_eyes_untouched(two_faces_cut):
    frames, tracks, crops, plan = two_faces_cut
    tracks = with_landmarks(tracks)
    pasted, mask = paste(frames, noise_like(crops), plan, blend_mode="lower_face", tracks=tracks, return_mask=True)
    landmarks = tracks.landmarks[0, 0]
    above_nose = int(np.floor(landmarks[2, 1] - 0.3 * (landmarks[2, 1] - landmarks[0, 1])))
    assert mask[0, :above_nose, :80].eq(0).all() and torch.equal(pasted[0, :above_nose, :80], frames[0, :above_nose, :80]), "above the nose of face 1 nothing may change"
    mouth = landmarks[3:].mean(axis=0).round().astype(int)
    assert mask[0, mouth[1], mouth[0]] == 1, "the mouth is pasted fully"


@pytest.mark.parametrize("face_size", [64, 256])  # crop scales about 1.1x and 4.6x
def test_hull_feather_is_measured_in_source_pixels(two_faces, face_size):
    frames, tracks = two_faces
    tracks = with_landmarks(tracks)
    crops, plan, _ = cut(frames, tracks, face_size=face_size, face_padding=8)
    _, mask = paste(frames, (crops + 0.2).clamp(0, 1), plan, blend_mode="face_hull", feather_pixels=4.0, tracks=tracks, fade_frames=0, return_mask=True)
    row = mask[0, int(round(tracks.landmarks[0, 0, 2, 1]))]  # through the nose of face 1
    empty = torch.nonzero(row[:35] == 0).flatten()
    solid = torch.nonzero(row[:35] >= 0.999).flatten()
    width = int(solid.min()) - int(empty.max())
    assert 3 <= width <= 6, f"a 4-pixel feather must ramp over about 4 frame pixels at any crop scale, but took {width} at face_size {face_size}"


@pytest.mark.parametrize(
    "make_tracks, message",
    [
        (lambda tracks: None, r"tracks must be connected for blend_mode 'lower_face'"),
        (lambda tracks: tracks, r"tracks must carry face landmarks for blend_mode 'lower_face', but these tracks have none .*YOLO pose.*InsightFace or MTCNN"),
    ],
    ids=["no tracks", "no landmarks"],
)
def test_landmark_masks_without_landmarks_are_refused(two_faces_cut, make_tracks, message):
    frames, tracks, crops, plan = two_faces_cut
    with pytest.raises(ValueError, match=message):
        paste_faces(frames, crops, plan, PasteSpec(blend_mode="lower_face"), tracks=make_tracks(tracks))


def test_edit_mask_limits_the_change_and_the_pasted_mask(two_faces_cut):
    frames, _, crops, plan = two_faces_cut
    edit = torch.zeros((plan.total_rows, 128, 128))
    edit[:, 70:110, 40:90] = 1.0  # the processor changed only the mouth region
    pasted, mask = paste(frames, noise_like(crops), plan, paste_mode="replace", edit_mask=edit, return_mask=True)
    full_mask = paste(frames, noise_like(crops), plan, paste_mode="replace", return_mask=True)[1]
    assert torch.equal(pasted[mask == 0], frames[mask == 0]), "outside the edit mask pixels stay bit-identical, even in replace mode"
    assert 0 < mask.gt(0).sum() < 0.3 * full_mask.gt(0).sum(), "the pasted mask must shrink to the edited region"
    both = paste(frames, noise_like(crops), plan, paste_mode="replace", edit_mask=edit, crop_mask=1 - edit[:1], return_mask=True)
    assert both[1].eq(0).all() and torch.equal(both[0], frames), "crop_mask and edit_mask multiply: disjoint masks paste nothing"


def fade_clip():
    """8 frames: face 1 in every frame, face 2 enters at frame 2 and stays to the end."""
    count = 8
    left = linear_path(count, (15, 20, 55, 60), (20, 20, 60, 60))
    right = linear_path(count, (100, 15, 140, 55), (104, 18, 144, 58))
    right[:2] = np.nan
    frames = torch.from_numpy(render(Scene(count, FRAME_SIZE, [left, right], [0, 2]))).float() / 255
    return frames, tracks_from_boxes([left, right])


@pytest.mark.parametrize("fade_frames, expected_face_2", [(3, [0, 0, 0.25, 0.5, 0.75, 1, 1, 1]), (0, [0, 0, 1, 1, 1, 1, 1, 1])])
def test_fades_ramp_alpha_at_sequence_ends_but_not_at_clip_ends(fade_frames, expected_face_2):
    frames, tracks = fade_clip()
    crops, plan, _ = cut(frames, tracks, **FAST)
    pasted, mask = paste(frames, (crops + 0.3).clamp(0, 1), plan, blend_amount=0.0, fade_frames=fade_frames, return_mask=True)
    face_1, face_2 = mask[:, :, :80].amax(dim=(1, 2)), mask[:, :, 80:].amax(dim=(1, 2))
    assert torch.allclose(face_1, torch.ones(8)), f"face 1 is in the whole clip: never faded, but got {face_1.tolist()}"
    assert torch.allclose(face_2, torch.tensor(expected_face_2, dtype=torch.float32), atol=1e-6), f"face 2 enters at frame 2: expected {expected_face_2}, got {face_2.tolist()}"
    assert torch.equal(paste(frames, crops, plan, fade_frames=fade_frames), frames), "fades scale the change; an unchanged crop still changes nothing"


@pytest.mark.parametrize(
    "options",
    [
        dict(seam="poisson"),
        dict(color_match="lab_mean_std", seam="poisson"),
        dict(blend_mode="face_hull"),
        dict(blend_mode="lower_face", feather_pixels=0.0),
        dict(edit_mask=torch.rand((1, 128, 128), generator=torch.Generator().manual_seed(4))),
    ],
    ids=["poisson", "colour+poisson", "face_hull", "lower_face hard", "edit_mask"],
)
def test_every_option_keeps_difference_paste_of_unchanged_crops_exact(two_faces_cut, options):
    frames, tracks, crops, plan = two_faces_cut
    pasted, mask = paste(frames, crops, plan, tracks=with_landmarks(tracks), return_mask=True, **options)
    assert mask.gt(0).sum() > 500, "the test needs a real paste region"
    assert torch.equal(pasted, frames), f"an unchanged crop must change nothing with {sorted(options)}, but max error is {(pasted - frames).abs().max() * 255:.3f}/255"


@pytest.mark.parametrize("seam", ["feather", "poisson"])
def test_unpasted_pixels_keep_their_bits_even_negative_zero_and_out_of_range(two_faces, seam):
    """Pixels with alpha 0 inside a face's work area are selected bit for bit, not recomputed:
    -0.0 and values outside 0..1 (HDR frames) must survive."""
    frames, tracks = two_faces
    frames = frames.clone()
    frames[:, ::7, ::5] = -0.0
    frames[:, 3::11, 2::13] = 1.5
    crops, plan, _ = cut(frames, tracks, **FAST)
    pasted, mask = paste(frames, noise_like(crops), plan, blend_mode="ellipse", seam=seam, return_mask=True)
    untouched = mask == 0
    assert torch.equal(pasted[untouched].view(torch.int32), frames[untouched].view(torch.int32)), "outside the paste mask every bit must stay"
    assert (mask > 0).sum() > 500 and (untouched[:, 20:60, 15:55]).any(), "the ellipse leaves unpasted corners inside the face's work area"


@pytest.mark.parametrize("paste_mode", ["difference", "replace"])
def test_the_fast_box_path_pastes_what_the_general_path_pastes(two_faces_cut, paste_mode):
    """A plain box is warped as two 1D profiles; with an all-ones crop_mask the same box goes
    through the general 2D path. Both must paste the same, up to float rounding."""
    frames, _, crops, plan = two_faces_cut
    fast, fast_mask = paste(frames, noise_like(crops), plan, paste_mode=paste_mode, return_mask=True)
    general, general_mask = paste(frames, noise_like(crops), plan, paste_mode=paste_mode, crop_mask=torch.ones((1, 128, 128)), return_mask=True)
    assert torch.allclose(fast_mask, general_mask, atol=1e-5) and torch.equal(fast_mask > 0, general_mask > 0), "the alpha (and where it is > 0) must agree"
    assert torch.allclose(fast, general, atol=1e-5), f"the pasted frames must agree, max difference {(fast - general).abs().max():.2e}"
