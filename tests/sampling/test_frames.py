"""The frame-by-frame (image model) sampling core through a fake host."""

import functools

import pytest
import torch

from comfyui_fuse.nodes import host
from comfyui_fuse.sampling.backend import LatentSampler, VaeCodec
from comfyui_fuse.sampling.frames import sample_face_frames
from fuse_fake_host import WAN21, FakeImageVAE, FakeModel, FakeSampler, FakeVideoVAE, block_crops, make_plan


def codec(vae) -> VaeCodec:
    return VaeCodec(encode=functools.partial(host.vae_encode, vae), decode=functools.partial(host.vae_decode, vae), **host.vae_facts(vae))


def image_sampler(fake, model=None, seed=0, steps=4, **kwargs) -> LatentSampler:
    model = model or FakeModel("sd15", latent_channels=4, latent_dimensions=2, patch=None)
    sample = functools.partial(fake, steps=steps, cfg=7.0, sampler_name="euler", scheduler="normal", positive="pos", negative="neg", denoise=0.4)
    return LatentSampler(sample, model, steps, seed, spatial_patch=host.model_spatial_patch(model), **kwargs)


def test_identity_sampling_gives_every_crop_back():
    plan = make_plan([3, 5])
    crops = block_crops(plan)
    out = sample_face_frames(crops, plan, codec(FakeImageVAE()), image_sampler(FakeSampler()), frames_per_batch=3)
    assert torch.allclose(out, crops, atol=1e-6), "an identity sampler must give every crop back on its own row"


def test_each_crop_is_encoded_on_its_own_in_batches_of_frames():
    plan = make_plan([3, 5])
    vae = FakeImageVAE()
    fake = FakeSampler()
    sample_face_frames(block_crops(plan), plan, codec(vae), image_sampler(fake), frames_per_batch=3)
    assert [shape[0] for shape in vae.encode_shapes] == [3, 3, 2]
    assert [call["shape"] for call in fake.calls] == [(3, 4, 8, 8), (3, 4, 8, 8), (2, 4, 8, 8)], "image latents are 4D, one row per crop"
    assert [call["seeds"] for call in fake.calls] == [[0, 0, 0], [1, 1, 1], [1, 1]], "every frame of a track must use the track's seed"


def test_every_frame_of_a_track_gets_the_same_noise():
    plan = make_plan([4, 4])
    crops = torch.full((8, 64, 64, 3), 0.5)
    out = sample_face_frames(crops, plan, codec(FakeImageVAE()), image_sampler(FakeSampler(0.2), seed=5), frames_per_batch=3)
    assert all(torch.equal(out[0], out[row]) for row in range(4)), "identical crops of one track must come out identical (no flicker)"
    assert not torch.equal(out[0], out[4]), "another track must get other noise"


def test_two_model_split_and_face_only_mask_apply_frame_by_frame():
    high = FakeModel("high", 4, 2, None, offset=0.1)
    low = FakeModel("low", 4, 2, None, offset=0.1)
    plan = make_plan([2])
    crops = block_crops(plan)
    fake = FakeSampler()
    out = sample_face_frames(crops, plan, codec(FakeImageVAE()), image_sampler(fake, high, model_low_noise=low, switch_step=1), face_only_mask=True)
    assert [(c["model"], c["start_step"], c["last_step"], c["add_noise"], c["mask_shape"]) for c in fake.calls] == [
        ("high", 0, 1, True, (1, 1, 64, 64)),
        ("low", 1, 4, False, (1, 1, 64, 64)),
    ]
    assert torch.allclose(out[:, :8, :8], crops[:, :8, :8], atol=1e-6), "outside the face ellipse the crop must keep its pixels"


def test_a_video_vae_is_a_clear_error():
    plan = make_plan([5])
    with pytest.raises(ValueError, match="vae must be an image VAE.*FUSE Video Latent KSampler"):
        sample_face_frames(block_crops(plan), plan, codec(FakeVideoVAE(**WAN21)), image_sampler(FakeSampler(), FakeModel("wan")))


def test_progress_adds_up_and_bad_batch_size_is_rejected():
    plan = make_plan([3, 4])
    done = []
    sample_face_frames(block_crops(plan), plan, codec(FakeImageVAE()), image_sampler(FakeSampler()), frames_per_batch=2, on_progress=done.append)
    assert sum(done) == 7
    with pytest.raises(ValueError, match="frames_per_batch must be an int >= 1"):
        sample_face_frames(block_crops(plan), plan, codec(FakeImageVAE()), image_sampler(FakeSampler()), frames_per_batch=0)
