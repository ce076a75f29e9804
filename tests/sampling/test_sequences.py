"""The video sampling core on hand-made crops and plans, through a fake host with the real host's rules."""

import functools

import pytest
import torch

from comfyui_fuse.nodes import host
from comfyui_fuse.sampling.backend import LatentSampler, VaeCodec, noise_seed
from comfyui_fuse.sampling.sequences import sample_face_sequences
from fuse_fake_host import WAN21, WAN22, FakeImageVAE, FakeModel, FakeSampler, FakeVideoVAE, block_crops, make_plan


def codec(vae) -> VaeCodec:
    return VaeCodec(encode=functools.partial(host.vae_encode, vae), decode=functools.partial(host.vae_decode, vae), **host.vae_facts(vae))


def sampler(fake: FakeSampler, model, steps=4, seed=0, model_low_noise=None, switch_step=0) -> LatentSampler:
    sample = functools.partial(fake, steps=steps, cfg=3.5, sampler_name="euler", scheduler="simple", positive="pos", negative="neg", denoise=0.5)
    spatial = host.model_takes_spatial_noise_mask(model)
    return LatentSampler(sample, model, steps, seed, model_low_noise, switch_step, host.model_spatial_patch(model), spatial)


def run(lengths, *, vae=None, model=None, strength=0.0, crop_size=(64, 64), seed=0, fake=None, **options):
    vae = vae or FakeVideoVAE(**WAN21)
    model = model or FakeModel("wan", latent_channels=vae.latent_channels)
    fake = fake or FakeSampler(strength)
    plan = make_plan(lengths, crop_size=crop_size)
    crops = block_crops(plan)
    out = sample_face_sequences(crops, plan, codec(vae), sampler(fake, model, seed=seed, **options.pop("sampler", {})), **options)
    return crops, plan, out, vae, fake


@pytest.mark.parametrize("lengths", [[1], [2], [5], [9], [80], [82], [3, 7, 12]])
@pytest.mark.parametrize("vae_kind", [WAN21, WAN22])
def test_identity_sampling_gives_the_crops_back_in_order(lengths, vae_kind):
    crops, plan, out, vae, _ = run(lengths, vae=FakeVideoVAE(**vae_kind), window_frames=33, overlap=8, temporal_padding=2)
    assert out.shape == crops.shape and out.dtype == torch.float32
    error = (out - crops).abs().max().item()
    assert error < 1e-5, f"with an identity sampler every crop must come back on its own row (padding dropped, windows in place), max error {error:.2e}"
    for shape in vae.encode_shapes:
        assert len(shape) == 4 and (shape[0] - 1) % 4 == 0 and shape[0] <= 33, f"encode must get one 4D clip of 4k+1 <= 33 frames, got {shape}"


def test_one_encode_call_per_window_with_context_and_padding():
    _, _, _, vae, fake = run([2, 40], window_frames=21, overlap=4, temporal_padding=1)
    # 2 frames + 2 context -> 5; 40 frames in windows of 19 core frames: [0,19) [15,34) [30,40) -> 21, 21, 13
    assert [shape[0] for shape in vae.encode_shapes] == [5, 21, 21, 13]
    assert [call["shape"][2] for call in fake.calls] == [2, 6, 6, 4], "latent frames must be 1 + (F-1)//4 per clip"


@pytest.mark.parametrize(
    "vae_kind, crop_size, clip_size",
    [(WAN21, (64, 64), (64, 64)), (WAN21, (72, 72), (80, 80)), (WAN22, (72, 72), (64, 64)), (WAN22, (96, 64), (96, 64)), (WAN22, (40, 40), (32, 32))],
)
def test_sizes_snap_to_the_vae_ratio_times_the_model_patch(vae_kind, crop_size, clip_size):
    vae = FakeVideoVAE(**vae_kind)
    plan = make_plan([5], crop_size=crop_size)
    crops = torch.rand(plan.total_rows, *crop_size, 3)
    out = sample_face_sequences(crops, plan, codec(vae), sampler(FakeSampler(), FakeModel("wan", vae.latent_channels)))
    assert vae.encode_shapes[0][1:3] == clip_size, f"Wan {vae_kind} crops of {crop_size} must be sampled at {clip_size}"
    assert out.shape == crops.shape, "crops must be resized back to the plan's crop size after decode"
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_batching_groups_equal_clips_and_matches_one_at_a_time():
    lengths = [9, 9, 9, 5]
    *_, single, _, one_fake = run(lengths, strength=0.3, seed=7)
    *_, batched, _, batch_fake = run(lengths, strength=0.3, seed=7, batch_size=2)
    assert [call["shape"][0] for call in one_fake.calls] == [1, 1, 1, 1]
    assert [call["shape"][0] for call in batch_fake.calls] == [2, 1, 1], "three 9-frame clips in batches of 2, then the 5-frame clip"
    assert batch_fake.calls[0]["seeds"] == [7, 8] and batch_fake.calls[1]["seeds"] == [9]
    assert torch.equal(single, batched), "a face's result must not depend on what it was batched with"


def test_two_model_split_gives_each_model_its_steps():
    high = FakeModel("high", offset=0.01)
    low = FakeModel("low", offset=0.02)
    *_, fake = run([5, 5], model=high, sampler=dict(model_low_noise=low, switch_step=3, steps=8), batch_size=2)
    passes = [(c["model"], c["start_step"], c["last_step"], c["add_noise"], c["force_full_denoise"], c["steps"]) for c in fake.calls]
    assert passes == [("high", 0, 3, True, False, 8), ("low", 3, 8, False, True, 8)], (
        "high-noise model: steps [0,3) with noise added and leftover noise kept; low-noise model: [3,8) with no new noise, fully denoised"
    )


def test_the_low_noise_pass_continues_from_the_high_noise_result():
    high, low = FakeModel("high", offset=0.05), FakeModel("low", offset=0.1)
    crops, _, out, *_ = run([5], model=high, sampler=dict(model_low_noise=low, switch_step=2), crop_size=(32, 32))
    assert torch.allclose(out, (crops + 0.15).clamp(0, 1), atol=1e-5), "both passes must apply, the second on the first one's latent"


@pytest.mark.parametrize("switch_step, expected", [(0, [("low", None, None, True)]), (4, [("high", None, None, True)]), (9, [("high", None, None, True)])])
def test_switch_step_at_the_ends_runs_one_model(switch_step, expected):
    *_, fake = run([5], model=FakeModel("high"), sampler=dict(model_low_noise=FakeModel("low"), switch_step=switch_step))
    assert [(c["model"], c["start_step"], c["last_step"], c["add_noise"]) for c in fake.calls] == expected


def test_one_model_samples_like_the_ksampler_node():
    *_, fake = run([5], seed=42)
    (call,) = fake.calls
    assert (call["start_step"], call["last_step"], call["add_noise"], call["force_full_denoise"]) == (None, None, True, False)
    assert (call["cfg"], call["denoise"], call["sampler_name"], call["scheduler"], call["positive"]) == (3.5, 0.5, "euler", "simple", "pos")
    assert call["seeds"] == [42]


def test_seeds_are_deterministic_per_track_and_independent_of_other_faces():
    _, plan, first, *_ = run([6, 6], strength=0.5, seed=3)
    _, _, again, *_ = run([6, 6], strength=0.5, seed=3)
    _, _, other_seed, *_ = run([6, 6], strength=0.5, seed=4)
    assert torch.equal(first, again), "same seed, same output"
    assert not torch.equal(first, other_seed), "another seed must give another output"
    rows = slice(plan.row_offsets[1], plan.row_offsets[2])
    track2 = make_plan([6], track_ids=[2])
    alone = sample_face_sequences(block_crops(plan)[rows], track2, codec(FakeVideoVAE(**WAN21)), sampler(FakeSampler(0.5), FakeModel("wan"), seed=3))
    assert torch.equal(first[rows], alone), "track 2 must come out the same whether or not track 1 is sampled too"
    assert noise_seed(3, 2) == 4 and noise_seed(2**64 - 1, 2) == 0


def test_face_only_mask_keeps_the_crop_border():
    crops, _, out, _, fake = run([5], model=FakeModel("wan", offset=0.2), face_only_mask=True)
    assert fake.calls[0]["mask_shape"] == (1, 1, 1, 64, 64), "the noise mask must be a 5D crop-space mask for a video latent"
    # the corner 8x8 block is one latent pixel, wholly outside the inscribed ellipse
    corner = (out[:, :8, :8] - crops[:, :8, :8]).abs().max()
    centre = (out[:, 24:40, 24:40] - crops[:, 24:40, 24:40]).abs().min()
    assert corner < 1e-6, f"outside the face ellipse the crop must keep its pixels, changed by {corner:.2e}"
    assert centre > 0.1, "inside the face the sampler's change must show"


def test_face_only_mask_on_wan22_5b_tells_the_model_the_real_noise_level():
    """Wan 2.2 5B (ComfyUI's WAN22) averages a noise mask into one timestep per frame: the ellipse
    would tell the DiT ~0.6 t while the face carries full noise. FUSE must sample the whole crop at
    the schedule's level and put the border back afterwards."""
    five_b = FakeModel("wan22-5b", latent_channels=48, offset=0.2, averages_noise_mask=True)
    crops, _, out, _, fake = run([9], vae=FakeVideoVAE(**WAN22), model=five_b, face_only_mask=True)
    (call,) = fake.calls
    assert call["timestep_fraction"] == 1.0, f"the 5B DiT was told {call['timestep_fraction']:.3f} of the real timestep"
    assert call["mask_shape"] is None, "no spatial noise mask may reach a model that averages it per frame"
    corner = (out[:, :16, :16] - crops[:, :16, :16]).abs().max()
    centre = (out[:, 24:40, 24:40] - crops[:, 24:40, 24:40]).abs().min()
    assert corner < 1e-4, f"outside the face ellipse the crop must keep its pixels, changed by {corner:.2e}"  # the resized mask is ~1e-5 there
    assert centre > 0.1, "inside the face the sampler's change must show"
    *_, spatial_out, _, spatial_fake = run([9], vae=FakeVideoVAE(**WAN22), model=FakeModel("wan22-like", 48, offset=0.2), face_only_mask=True)
    assert spatial_fake.calls[0]["mask_shape"] == (1, 1, 1, 64, 64) and spatial_fake.calls[0]["timestep_fraction"] == 1.0
    assert torch.allclose(out, spatial_out, atol=1e-6), "compositing after sampling must give what the host's per-step mask gives (a linear sampler)"


@pytest.mark.parametrize("averages", [False, True])
def test_whole_crop_sampling_is_unchanged_without_face_only_mask(averages):
    *_, fake = run([5], vae=FakeVideoVAE(**WAN22), model=FakeModel("wan22", 48, averages_noise_mask=averages))
    assert fake.calls[0]["mask_shape"] is None and fake.calls[0]["timestep_fraction"] == 1.0


def test_memory_is_bounded_by_one_window_and_one_batch():
    *_, vae, fake = run([120, 120, 120], window_frames=25, overlap=4, batch_size=2)
    assert max(shape[0] for shape in vae.encode_shapes) <= 25, "encode must never see more than window_frames frames"
    assert max(call["shape"][0] for call in fake.calls) <= 2 and max(call["shape"][2] for call in fake.calls) <= 7


def test_progress_moves_with_every_vae_call_and_sampler_step():
    done = []
    run([9], on_progress=done.append)  # one clip, 4 steps: encode, 4 steps, decode
    assert len(done) == 6 and sum(done) == 9, f"9 rows spread over the encode, 4 steps and the decode, got {done}"


def test_progress_counts_every_crop_row_once_and_interrupt_stops():
    done = []
    run([9, 30], window_frames=17, overlap=4, on_progress=done.append)
    assert sum(done) == 39, f"progress must add up to the number of crop rows (39), got {sum(done)}"
    assert len(done) > 3, "progress must move during sampling, not only at the end"

    class Interrupted(Exception):
        pass

    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run([5, 5, 5], check_interrupt=interrupt)


class Cancelled(Exception):
    pass


@pytest.mark.parametrize("phase, latent_frames", [("encode", 9), ("decode", 9)])
def test_cancel_stops_a_long_vae_call_between_its_chunks(monkeypatch, phase, latent_frames):
    """One encode of a 33-frame clip is 9 network chunks (Wan on the CPU: tens of seconds); Cancel
    must be honoured inside it, not only between clips."""
    vae = FakeVideoVAE(**WAN21)
    polls = []

    def check_interrupt():
        polls.append(vae.chunks_run)
        if phase == "encode" and vae.chunks_run == 3 or phase == "decode" and vae.encode_shapes and vae.chunks_run == latent_frames + 3:
            raise Cancelled

    monkeypatch.setattr(host, "check_interrupt", check_interrupt)
    with pytest.raises(Cancelled):
        run([33], vae=vae, window_frames=33)
    first_chunk = 0 if phase == "encode" else latent_frames
    assert vae.chunks_run == first_chunk + 3, f"the {phase} must stop at the chunk where Cancel was seen, ran {vae.chunks_run - first_chunk} of {latent_frames}"
    assert not any(module._forward_pre_hooks for module in vae.first_stage_model.modules()), "the interrupt hooks must be removed"


def test_interrupt_points_leave_results_unchanged_and_remove_their_hooks(monkeypatch):
    polls = []
    monkeypatch.setattr(host, "check_interrupt", lambda: polls.append(1))
    vae = FakeVideoVAE(**WAN21)
    _, _, out, *_ = run([17, 5], vae=vae, strength=0.3)
    plan = make_plan([17, 5])
    direct = VaeCodec(encode=vae.encode, decode=vae.decode, **host.vae_facts(vae))  # the VAE called without the host wrapper
    plain = sample_face_sequences(block_crops(plan), plan, direct, sampler(FakeSampler(0.3), FakeModel("wan")))
    assert torch.equal(out, plain), "polling for Cancel must not change the result"
    assert len(polls) == (5 + 2) * 2 * 2, "one poll per layer (2) of every chunk, in encode and in decode"
    assert not any(module._forward_pre_hooks for module in vae.first_stage_model.modules()), "the interrupt hooks must be removed"


def test_input_is_not_modified_and_empty_plan_is_fine():
    plan = make_plan([5])
    crops = block_crops(plan)
    before = crops.clone()
    sample_face_sequences(crops, plan, codec(FakeVideoVAE(**WAN21)), sampler(FakeSampler(0.5), FakeModel("wan", offset=0.1)))
    assert torch.equal(crops, before), "the node's input crops must never be modified"
    empty = make_plan([])
    out = sample_face_sequences(torch.zeros(0, 64, 64, 3), empty, codec(FakeVideoVAE(**WAN21)), sampler(FakeSampler(), FakeModel("wan")))
    assert out.shape == (0, 64, 64, 3)


def test_an_image_vae_is_a_clear_error():
    plan = make_plan([5])
    with pytest.raises(ValueError, match="vae must be a video VAE.*FUSE Video KSampler"):
        sample_face_sequences(block_crops(plan), plan, codec(FakeImageVAE()), sampler(FakeSampler(), FakeModel("sd", 4, 2)))


def test_a_vae_of_another_model_is_a_clear_error():
    with pytest.raises(ValueError, match="vae must encode to the model's latent space \\(48 channels\\), but got 16"):
        run([5], vae=FakeVideoVAE(**WAN21), model=FakeModel("wan22-5b", latent_channels=48))


@pytest.mark.parametrize(
    "crops, match",
    [(torch.zeros(4, 64, 64, 3), "crops must have 5 rows, one per crop of the crop plan"), (torch.zeros(5, 32, 64, 3), "crops must be 64x64"), (torch.zeros(5, 64, 64), r"crops must be an IMAGE batch \[B,H,W,C\]")],
)
def test_crops_that_do_not_match_the_plan_are_clear_errors(crops, match):
    with pytest.raises(ValueError, match=match):
        sample_face_sequences(crops, make_plan([5]), codec(FakeVideoVAE(**WAN21)), sampler(FakeSampler(), FakeModel("wan")))
