"""The sample nodes through a fake host: declarations, settings reaching the sampler, whole-video runs."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from comfyui_fuse.media import synthetic
from comfyui_fuse.compositing.geometry import CropSpec
from comfyui_fuse.compositing.paste import paste_faces
from comfyui_fuse.compositing.warp import crop_face_sequences
from comfyui_fuse.models.face_detectors import HAAR_OPTION
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, sample
from comfyui_fuse import pipeline as sampling_video
from comfyui_fuse.core.types import ABSENT, DETECTED, FaceTracks
from fuse_fake_host import WAN21, WAN22, FakeImageVAE, FakeModel, FakeVideoVAE, block_crops, install_fake_host, install_models_dir, make_plan, put_model_file, record_progress

NODES = [sample.FUSEVideoLatentKSampler, sample.FUSEVideoKSampler, sample.FUSESampleFaceSequences]
SAMPLING = dict(seed=5, steps=6, cfg=3.5, sampler_name="euler", scheduler="simple", denoise=0.5)
WINDOWS = dict(window_frames=81, overlap=16, temporal_padding=0, batch_tracks=False, face_only_mask=False)
FACES = dict(detector=HAAR_OPTION, face_id=-1, face_size=64, face_padding=8, force_square=True, iou_threshold=0.3, smooth_boxes=True, smooth_window=3, blend_mode="box", blend_amount=0.3)


@pytest.mark.parametrize("node", NODES)
def test_nodes_are_declared_for_comfyui(node):
    inputs = node.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, (_, options) in inputs.get(section, {}).items():
            assert options.get("tooltip"), f"{node.__name__} input {name!r} needs a tooltip"
    assert node.CATEGORY == "FUSE/sample" and node.DESCRIPTION
    assert len(node.RETURN_TYPES) == len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_NAMES) == 1
    assert NODE_CLASS_MAPPINGS[node.__name__] is node and node.__name__ in sample.NODE_DISPLAY_NAME_MAPPINGS


def test_video_latent_ksampler_has_the_seed_inputs_and_defaults():
    required = sample.FUSEVideoLatentKSampler.INPUT_TYPES()["required"]
    defaults = {name: options.get("default") for name, (_, options) in required.items()}
    expected = dict(face_id=-1, face_size=512, face_padding=20, force_square=True, iou_threshold=0.3, smooth_boxes=True, smooth_window=3,
                    steps=20, cfg=8.0, denoise=0.5, blend_amount=0.3, blend_mode="box", window_frames=81)
    assert {name: defaults[name] for name in expected} == expected
    assert list(sample.FUSEVideoLatentKSampler.INPUT_TYPES()["optional"]) == ["tracks", "model_low_noise", "switch_step", "faces", "fps"], (
        "inputs added after the first release come last, so saved workflows keep their widget order"
    )


@pytest.mark.parametrize("node", [sample.FUSEVideoLatentKSampler, sample.FUSEVideoKSampler])
def test_whole_video_samplers_select_faces_like_the_rest_of_the_pack(node):
    inputs = node.INPUT_TYPES()
    assert inputs["required"]["face_id"][1]["default"] == -1, "face_id stays for saved workflows"
    faces, fps = inputs["optional"]["faces"], inputs["optional"]["fps"]
    assert faces[0] == "STRING" and faces[1]["default"] == "all"
    assert fps[0] == "FLOAT" and fps[1]["default"] == 25.0 and "30000/1001" in fps[1]["tooltip"]


def test_sample_face_sequences_node_passes_its_settings_to_the_host_sampler(monkeypatch):
    fake = install_fake_host(monkeypatch)
    plan = make_plan([9, 9, 5])
    crops = block_crops(plan)
    vae = FakeVideoVAE(**WAN21)
    (out,) = sample.FUSESampleFaceSequences().sample(
        crops, plan, FakeModel("high"), vae, "pos", "neg", **SAMPLING, **{**WINDOWS, "batch_tracks": True},
        model_low_noise=FakeModel("low"), switch_step=2,
    )
    assert torch.allclose(out, crops, atol=1e-5) and out.shape == crops.shape
    summary = [(c["model"], c["shape"][0], c["seeds"], c["start_step"], c["last_step"], c["cfg"], c["scheduler"], c["positive"]) for c in fake.calls]
    assert summary == [
        ("high", 2, [5, 6], 0, 2, 3.5, "simple", "pos"),
        ("low", 2, [5, 6], 2, 6, 3.5, "simple", "pos"),
        ("high", 1, [7], 0, 2, 3.5, "simple", "pos"),
        ("low", 1, [7], 2, 6, 3.5, "simple", "pos"),
    ], "batch_tracks samples the two 9-frame sequences together; each batch goes high-noise then low-noise"


@pytest.mark.parametrize(
    "vae_kind, high, low, host_mask",
    [
        (WAN22, FakeModel("wan22-5b", 48, averages_noise_mask=True), None, None),
        (WAN21, FakeModel("wan21"), None, (1, 1, 1, 64, 64)),
        (WAN21, FakeModel("a14b-high"), FakeModel("a14b-low"), (1, 1, 1, 64, 64)),
    ],
    ids=["wan22-5b", "wan21", "wan22-a14b"],
)
def test_face_only_mask_reaches_the_model_at_its_real_noise_level(monkeypatch, vae_kind, high, low, host_mask):
    fake = install_fake_host(monkeypatch)
    plan = make_plan([9])
    sample.FUSESampleFaceSequences().sample(
        block_crops(plan), plan, high, FakeVideoVAE(**vae_kind), "pos", "neg", **SAMPLING, **{**WINDOWS, "face_only_mask": True},
        model_low_noise=low, switch_step=3,
    )
    assert {call["mask_shape"] for call in fake.calls} == {host_mask}, "only a model that takes spatial masks gets the face-only noise mask"
    assert {call["timestep_fraction"] for call in fake.calls} == {1.0}, "the DiT must be told the schedule's timestep for every frame"


def scene_and_tracks(frame_count=9, frame_size=(144, 256), identity=None):
    """A short clip of two real faces and its ground-truth tracks (identity: their names, or None)."""
    scene = synthetic.demo_scene(frame_count=frame_count, frame_size=frame_size)
    frames = torch.from_numpy(synthetic.render(scene)).float().div(255.0)
    xyxy = np.stack(scene.boxes).astype(np.float32)
    present = np.isfinite(xyxy).all(-1)
    tracks = FaceTracks(
        track_id=np.arange(1, len(scene.boxes) + 1), xyxy=np.where(present[..., None], xyxy, np.nan), state=np.where(present, DETECTED, ABSENT),
        score=present.astype(np.float32), frame_count=frame_count, frame_size=frame_size, fps=Fraction(25), identity=identity,
    )
    return frames, tracks


def pasted_alpha(frames, tracks, face_size, size_multiple):
    """Where the node may change pixels: the paste alpha of the same crop plan."""
    crops, plan, _ = crop_face_sequences(frames, tracks, CropSpec(face_size=face_size, face_padding=8, size_multiple=size_multiple))
    _, alpha = paste_faces(frames, crops, plan, return_mask=True)
    return alpha


@pytest.mark.parametrize("vae_kind, multiple", [(WAN21, 16), (WAN22, 32)])
def test_video_latent_ksampler_changes_only_the_faces(monkeypatch, vae_kind, multiple):
    fake = install_fake_host(monkeypatch, strength=0.2)
    frames, tracks = scene_and_tracks()
    before = frames.clone()
    vae = FakeVideoVAE(**vae_kind)
    (out,) = sample.FUSEVideoLatentKSampler().sample(
        FakeModel("wan", latent_channels=vae.latent_channels, offset=0.1), vae, frames, "pos", "neg",
        **FACES, **SAMPLING, **WINDOWS, tracks=tracks,
    )
    assert torch.equal(frames, before), "the node must not modify its input frames"
    assert out.shape == frames.shape
    alpha = pasted_alpha(frames, tracks, 64, multiple)
    outside = alpha == 0
    assert torch.equal(out[outside], frames[outside]), "outside the pasted faces every pixel must be bit-identical to the input"
    assert (out[alpha > 0.99] - frames[alpha > 0.99]).abs().mean() > 0.02, "inside the faces the sampler's change must show"
    assert [shape[:3] for shape in vae.encode_shapes] == [(9, 64, 64), (9, 64, 64)], "one 9-frame clip per face, sides a multiple of the VAE ratio x patch"
    assert [c["seeds"] for c in fake.calls] == [[5], [6]]


def test_video_latent_ksampler_detects_faces_itself(monkeypatch):
    install_fake_host(monkeypatch)
    frames, _ = scene_and_tracks(frame_count=5, frame_size=(270, 480))
    vae = FakeVideoVAE(**WAN21)
    (out,) = sample.FUSEVideoLatentKSampler().sample(
        FakeModel("wan", offset=0.3), vae, frames, "pos", "neg", **{**FACES, "face_size": 96}, **SAMPLING, **WINDOWS,
    )
    assert len(vae.encode_shapes) >= 1, "the built-in Haar detector must find the demo clip's faces"
    assert (out - frames).abs().amax(dim=(0, 3)).gt(0).any(), "the detected faces must be processed"
    assert torch.equal(out[:, :, -8:], frames[:, :, -8:]), "the right edge of the demo clip holds no face and must stay bit-identical"


def test_a_clip_without_faces_passes_through(monkeypatch):
    fake = install_fake_host(monkeypatch)
    frames = torch.rand(5, 48, 64, 3)
    (out,) = sample.FUSEVideoLatentKSampler().sample(
        FakeModel("wan"), FakeVideoVAE(**WAN21), frames, "pos", "neg", **FACES, **SAMPLING, **WINDOWS, tracks=FaceTracks.empty(5, (48, 64)),
    )
    assert torch.equal(out, frames) and fake.calls == []


def test_video_ksampler_runs_an_image_model_frame_by_frame(monkeypatch):
    fake = install_fake_host(monkeypatch, strength=0.2)
    frames, tracks = scene_and_tracks()
    vae = FakeImageVAE()
    (out,) = sample.FUSEVideoKSampler().sample(
        FakeModel("sd15", latent_channels=4, latent_dimensions=2, patch=None), vae, frames, "pos", "neg",
        **FACES, **SAMPLING, frames_per_batch=4, face_only_mask=True, tracks=tracks,
    )
    assert [shape[0] for shape in vae.encode_shapes] == [4, 4, 4, 4, 2], "18 crops encoded on their own, 4 per batch"
    assert all(len(c["shape"]) == 4 and c["mask_shape"] == (1, 1, 64, 64) for c in fake.calls)
    outside = pasted_alpha(frames, tracks, 64, 8) == 0
    assert torch.equal(out[outside], frames[outside])


@pytest.mark.parametrize(
    "node, vae, model, match",
    [
        (sample.FUSEVideoLatentKSampler, FakeImageVAE(), FakeModel("sd", 4, 2, None), "vae must be a video VAE"),
        (sample.FUSEVideoKSampler, FakeVideoVAE(**WAN21), FakeModel("wan"), "vae must be an image VAE"),
    ],
)
@pytest.mark.parametrize("with_faces", [True, False])
def test_the_wrong_kind_of_vae_is_a_clear_error(monkeypatch, node, vae, model, match, with_faces):
    install_fake_host(monkeypatch)
    frames, tracks = scene_and_tracks(frame_count=3)
    tracks = tracks if with_faces else FaceTracks.empty(3, tracks.frame_size)
    extra = WINDOWS if node is sample.FUSEVideoLatentKSampler else dict(frames_per_batch=4, face_only_mask=False)
    with pytest.raises(ValueError, match=match):
        node().sample(model, vae, frames, "pos", "neg", **FACES, **SAMPLING, **extra, tracks=tracks)


def run_whole_video(node, monkeypatch, frames, tracks=None, **settings):
    """Run a whole-video sampler with the fake host; returns (output, fake sampler calls, vae)."""
    fake = install_fake_host(monkeypatch, strength=0.2)
    if node is sample.FUSEVideoLatentKSampler:
        vae, model, extra = FakeVideoVAE(**WAN21), FakeModel("wan", offset=0.1), WINDOWS
    else:
        vae, model, extra = FakeImageVAE(), FakeModel("sd15", latent_channels=4, latent_dimensions=2, patch=None), dict(frames_per_batch=9, face_only_mask=False)
    (out,) = node().sample(model, vae, frames, "pos", "neg", **{**FACES, **SAMPLING, **extra, **settings}, tracks=tracks)
    return out, fake.calls, vae


@pytest.mark.parametrize("node", [sample.FUSEVideoLatentKSampler, sample.FUSEVideoKSampler])
@pytest.mark.parametrize(
    "settings, expected_seeds",
    [
        (dict(faces="all"), [5, 6]),
        (dict(faces="bob"), [6]),
        (dict(faces="alice"), [5]),
        (dict(faces="2, alice"), [5, 6]),
        (dict(faces="-1"), [5, 6]),
        (dict(face_id=2), [6]),  # a saved workflow's face_id keeps working
        (dict(face_id=2, faces=""), [6]),
    ],
    ids=["all", "bob", "alice", "id-and-name", "minus-one", "face-id", "face-id-empty-faces"],
)
def test_whole_video_samplers_process_the_faces_selected_by_id_or_name(monkeypatch, node, settings, expected_seeds):
    frames, tracks = scene_and_tracks(identity=["alice", "bob"])
    out, calls, _ = run_whole_video(node, monkeypatch, frames, tracks, **settings)
    seeds = sorted({seed for call in calls for seed in call["seeds"]})
    assert seeds == expected_seeds, f"{settings}: each face samples with seed 5 + track id - 1, so the seeds say which faces ran"
    changed = (out != frames).any(dim=-1)
    for index in range(len(tracks)):
        x1, y1, x2, y2 = tracks.xyxy[index, 4].astype(int)
        inside = changed[4, y1:y2, x1:x2].any().item()
        assert inside == (5 + index in expected_seeds), f"{settings}: face {tracks.identity[index]} changed={inside}"


@pytest.mark.parametrize(
    "settings, tracks_given, match",
    [
        (dict(face_id=1, faces="bob"), True, "face_id must be -1 when faces selects faces"),
        (dict(faces="alice"), False, "faces names characters \\['alice'\\], but no face in the detections has a character name"),
        (dict(faces="carol"), True, "faces must select faces in the tracks \\(1 \\(alice\\), 2 \\(bob\\)\\), but got carol"),
        (dict(face_id=3), True, "face_id must select faces in the tracks"),
        (dict(faces="0"), True, "track ids >= 1"),
    ],
    ids=["face-id-and-faces", "name-without-analysis", "absent-name", "absent-face-id", "bad-id"],
)
def test_face_selection_errors_name_the_fix(monkeypatch, settings, tracks_given, match):
    frames, tracks = scene_and_tracks(frame_count=3, identity=["alice", "bob"])
    with pytest.raises(ValueError, match=match):
        run_whole_video(sample.FUSEVideoLatentKSampler, monkeypatch, frames, tracks if tracks_given else None, **settings)


def test_names_on_a_clip_without_faces_pass_through(monkeypatch):
    frames = torch.rand(5, 48, 64, 3)
    out, calls, _ = run_whole_video(sample.FUSEVideoLatentKSampler, monkeypatch, frames, FaceTracks.empty(5, (48, 64)), faces="alice")
    assert torch.equal(out, frames) and calls == [], "no face is never an error, whatever the selection"


@pytest.mark.parametrize("fps, expected", [(25.0, Fraction(25)), (29.97, Fraction(30000, 1001)), (12.5, Fraction(25, 2))])
def test_a_sampler_that_detects_tracks_at_the_given_fps(monkeypatch, fps, expected):
    seen = []
    real_track_faces = sampling_video.track_faces

    def recording_track_faces(detections, *args, **kwargs):
        tracks = real_track_faces(detections, *args, **kwargs)
        seen.append(tracks.fps)
        return tracks

    monkeypatch.setattr(sampling_video, "track_faces", recording_track_faces)
    frames, _ = scene_and_tracks(frame_count=3, frame_size=(270, 480))
    run_whole_video(sample.FUSEVideoLatentKSampler, monkeypatch, frames, face_size=96, fps=fps)
    assert seen == [expected], f"fps {fps} must reach tracking as {expected}"


@pytest.mark.parametrize("node", [sample.FUSEVideoLatentKSampler, sample.FUSEVideoKSampler])
@pytest.mark.parametrize("tracks_given", [True, False], ids=["tracks", "detect"])
def test_a_whole_video_run_shows_one_bar_that_only_rises(monkeypatch, node, tracks_given):
    """Not a bar per stage (8/9, 9/9, 1/9, ...): one bar per node run, its total known up front."""
    frames, tracks = scene_and_tracks(frame_count=9, frame_size=(270, 480) if not tracks_given else (144, 256))
    bars = record_progress(monkeypatch)
    run_whole_video(node, monkeypatch, frames, tracks if tracks_given else None, **({} if tracks_given else {"face_size": 96}))
    assert [bar["total"] for bar in bars.bars] == [sample.RUN_PROGRESS_TOTAL], f"one bar per run, got {len(bars.bars)}: {bars.messages()}"
    values = bars.bars[0]["values"]
    assert values == sorted(set(values)) and values[-1] == sample.RUN_PROGRESS_TOTAL, f"the bar must only rise, to the end: {bars.messages()}"
    assert len(values) >= 8, f"the bar must move through the stages and the sampling, not jump: {bars.messages()}"


def test_sample_face_sequences_shows_one_bar_over_the_crops(monkeypatch):
    install_fake_host(monkeypatch)
    bars = record_progress(monkeypatch)
    plan = make_plan([9, 5])
    sample.FUSESampleFaceSequences().sample(block_crops(plan), plan, FakeModel("wan"), FakeVideoVAE(**WAN21), "pos", "neg", **SAMPLING, **WINDOWS)
    assert [bar["total"] for bar in bars.bars] == [14]
    values = bars.bars[0]["values"]
    assert values == sorted(set(values)) and values[-1] == 14, f"the bar must only rise, to the end: {bars.messages()}"


@pytest.mark.parametrize("node", [sample.FUSEVideoLatentKSampler, sample.FUSEVideoKSampler])
def test_whole_video_samplers_run_again_when_auto_would_pick_a_new_detector(tmp_path, monkeypatch, node):
    """A face model put in models/ultralytics/bbox after a run with the Haar fallback."""
    install_models_dir(monkeypatch, tmp_path)
    widgets = dict(model=None, vae=None, images=None, positive=None, negative=None, seed=0, steps=4, face_id=-1)
    with_haar = node.IS_CHANGED(detector="auto", **widgets)
    assert node.IS_CHANGED(detector="auto", **widgets) == with_haar, "nothing changed: ComfyUI may reuse the result"
    put_model_file(tmp_path, "ultralytics_bbox", "face_yolov8n.pt")
    assert node.IS_CHANGED(detector="auto", **widgets) != with_haar, "auto now loads face_yolov8n.pt, so the node must run again"
    assert node.IS_CHANGED(detector="auto", tracks=None, **widgets) == node.IS_CHANGED(detector=HAAR_OPTION, tracks=None, **widgets), (
        "with tracks connected no detection runs, so the detector choice does not matter"
    )
