"""The Wav2Lip generator: the released checkpoints' layout, shapes, skip connections."""

import pytest
import torch

from comfyui_fuse.lipsync.wav2lip import Wav2Lip


@pytest.fixture(scope="module")
def net():
    """Random weights at He initialisation, so signals keep their scale through the deep net."""
    torch.manual_seed(0)
    net = Wav2Lip().eval()
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return net


def test_layout_matches_the_released_checkpoints(net):
    state = net.state_dict()
    assert len(state) == 352, "the released state_dict has 352 tensors (weights, biases, batch-norm buffers)"
    parameters = sum(p.numel() for p in net.parameters())
    assert parameters == 36_298_035, f"Wav2Lip has 36.3 M parameters, got {parameters}"
    expected_shapes = {
        "face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
        "face_encoder_blocks.6.1.conv_block.0.weight": (512, 512, 1, 1),
        "audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
        "audio_encoder.12.conv_block.1.running_var": (512,),
        "face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # ConvTranspose2d: (in, out, k, k)
        "face_decoder_blocks.6.2.conv_block.1.num_batches_tracked": (),
        "output_block.0.conv_block.0.weight": (32, 80, 3, 3),
        "output_block.1.weight": (3, 32, 1, 1),
    }
    for key, shape in expected_shapes.items():
        assert tuple(state[key].shape) == shape, f"{key} must be {shape}, got {tuple(state[key].shape)}"
    assert len(net.face_encoder_blocks) == 7 and len(net.face_decoder_blocks) == 7 and len(net.audio_encoder) == 13


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_gives_a_96px_bgr_face_in_0_1(net, batch):
    with torch.inference_mode():
        out = net(torch.randn(batch, 1, 80, 16), torch.rand(batch, 6, 96, 96))
    assert out.shape == (batch, 3, 96, 96)
    assert out.min() >= 0 and out.max() <= 1, "the output block ends in a sigmoid"


def test_output_depends_on_audio_and_face(net):
    mel, faces = torch.randn(1, 1, 80, 16), torch.rand(1, 6, 96, 96)
    with torch.inference_mode():
        base = net(mel, faces)
        other_audio = net(torch.randn(1, 1, 80, 16), faces)
        other_face = net(mel, faces.flip(-1))
    assert (base - other_audio).abs().max() > 1e-3, "the audio code must reach the decoder"
    assert (base - other_face).abs().max() > 1e-3, "the face skips must reach the decoder"
