"""Sampler passes, noise seeds, size snapping and the host facts the sampling core relies on."""

import pytest
import torch

from comfyui_fuse.nodes import host
from comfyui_fuse.sampling.backend import plan_sampler_passes, resize_frames, snapped_size
from fuse_fake_host import WAN21, WAN22, FakeImageVAE, FakeModel, FakeVideoVAE


@pytest.mark.parametrize(
    "steps, low, switch, expected",
    [
        (20, None, 10, [("high", None, None, True, False)]),
        (20, "low", 10, [("high", 0, 10, True, False), ("low", 10, 20, False, True)]),
        (20, "low", 1, [("high", 0, 1, True, False), ("low", 1, 20, False, True)]),
        (20, "low", 0, [("low", None, None, True, False)]),
        (20, "low", 20, [("high", None, None, True, False)]),
        (20, "low", 25, [("high", None, None, True, False)]),
    ],
)
def test_sampler_passes(steps, low, switch, expected):
    passes = plan_sampler_passes("high", steps, low, switch)
    assert [(p.model, p.start_step, p.last_step, p.add_noise, p.force_full_denoise) for p in passes] == expected


@pytest.mark.parametrize("steps, switch, match", [(0, 0, "steps must be an int >= 1"), (20, 2.5, "switch_step must be an int")])
def test_bad_pass_options(steps, switch, match):
    with pytest.raises(ValueError, match=match):
        plan_sampler_passes("high", steps, "low", switch)


@pytest.mark.parametrize("size, multiple, expected", [((512, 512), 16, (512, 512)), ((72, 40), 16, (80, 48)), ((72, 40), 32, (64, 32)), ((10, 10), 32, (32, 32))])
def test_snapped_size(size, multiple, expected):
    assert snapped_size(size, multiple) == expected


def test_resize_frames_is_a_no_op_at_the_same_size_and_stays_in_range():
    frames = torch.rand(3, 20, 30, 3)
    assert resize_frames(frames, (20, 30)) is frames
    resized = resize_frames(frames, (32, 16))
    assert resized.shape == (3, 32, 16, 3) and 0.0 <= resized.min() and resized.max() <= 1.0


@pytest.mark.parametrize(
    "vae, expected",
    [
        (FakeVideoVAE(**WAN21), dict(spatial_compression=8, temporal_compression=4, latent_dim=3, latent_channels=16)),
        (FakeVideoVAE(**WAN22), dict(spatial_compression=16, temporal_compression=4, latent_dim=3, latent_channels=48)),
        (FakeImageVAE(), dict(spatial_compression=8, temporal_compression=1, latent_dim=2, latent_channels=4)),
    ],
)
def test_vae_facts_are_read_from_the_vae(vae, expected):
    assert host.vae_facts(vae) == expected


def test_fake_video_vae_keeps_the_host_rules():
    vae = FakeVideoVAE(**WAN21)
    latent = host.vae_encode(vae, torch.rand(10, 70, 66, 3))
    assert latent.shape == (1, 16, 3, 8, 8), "10 frames of 70x66 -> 9 frames cropped to 64x64 -> [1,16,3,8,8] (HOST.md)"
    assert host.vae_decode(vae, latent).shape == (1, 9, 64, 64, 3)
    assert FakeVideoVAE(**WAN22).encode(torch.rand(9, 64, 64, 3)).shape == (1, 48, 3, 4, 4)
    with pytest.raises(AssertionError, match="5D pixels"):
        vae.encode(torch.rand(1, 9, 64, 64, 3))


@pytest.mark.parametrize("model, expected", [(FakeModel("wan", patch=2), 2), (FakeModel("sd", patch=None), 1), (object(), 1)])
def test_model_spatial_patch(model, expected):
    assert host.model_spatial_patch(model) == expected


def test_prepare_noise_outside_comfyui_matches_the_ksampler_rule():
    latent = torch.zeros(1, 16, 3, 8, 8)
    expected = torch.randn(latent.shape, generator=torch.manual_seed(11))
    assert torch.equal(host.prepare_noise(latent, 11), expected)


def test_sampler_and_scheduler_lists_have_fallbacks():
    assert "euler" in host.sampler_names() and "simple" in host.scheduler_names()


@pytest.mark.parametrize(
    "model, expected",
    [
        (FakeModel("wan21"), True),
        (FakeModel("wan22-5b", 48, averages_noise_mask=True), False),
        (FakeModel("sd15", 4, 2, None), True),
    ],
    ids=["no-process-timestep", "wan22-averages", "image-model"],
)
def test_the_host_says_which_models_take_a_spatial_noise_mask(model, expected):
    assert host.model_takes_spatial_noise_mask(model) is expected


def test_a_process_timestep_that_fails_on_the_probe_keeps_the_host_mask():
    from types import SimpleNamespace

    def needs_more(timestep, x, denoise_mask=None, **kwargs):
        raise KeyError("frame_rate")

    assert host.model_takes_spatial_noise_mask(SimpleNamespace(model=SimpleNamespace(process_timestep=needs_more))) is True


@pytest.mark.parametrize("shape", [(2, 48, 3, 4, 4), (3, 4, 8, 8)])
def test_mask_to_latent_resizes_like_the_host(shape):
    from fuse_fake_host import reshape_mask
    from comfyui_fuse.sampling.backend import mask_to_latent

    mask = torch.rand((1, 1, 1, 64, 64) if len(shape) == 5 else (1, 1, 64, 64))
    assert torch.allclose(mask_to_latent(mask, shape), reshape_mask(mask, shape)), "the composite must weight the latent as the host's noise mask does"
