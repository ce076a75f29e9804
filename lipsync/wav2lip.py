"""The Wav2Lip generator (Prajwal et al., "A Lip Sync Expert Is All You Need", ACM MM 2020).

A U-Net-like generator: a face encoder reads the 6-channel 96x96 input (the target frame with its
lower half zeroed, stacked with a reference frame of the same face) down to a 1x1x512 code; an
audio encoder reads an 80x16 mel chunk (0.2 s) to a 1x1x512 code; a decoder upsamples from the
audio code back to 96x96, concatenating the face encoder's feature map of the same size at every
step (skip connections); a 1x1 convolution and a sigmoid give the 3-channel face in 0..1.

Module names and shapes follow the released checkpoints (wav2lip.pth, wav2lip_gan.pth) so their
state_dict loads with strict=True: `face_encoder_blocks`, `audio_encoder`, `face_decoder_blocks`,
`output_block`; every convolution is a `conv_block` Sequential of (conv, batch norm) followed by
a ReLU, with an identity shortcut where the block is residual. Pixels are BGR (the authors
trained on OpenCV frames).
"""

from __future__ import annotations

import torch
from torch import nn

FACE_SIZE = 96

# (in, out, kernel, stride, padding, residual) for each ConvBlock; one tuple list per stage.
FACE_ENCODER_STAGES = (
    ((6, 16, 7, 1, 3, False),),  # 96x96
    ((16, 32, 3, 2, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True)),  # 48x48
    ((32, 64, 3, 2, 1, False), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True)),  # 24x24
    ((64, 128, 3, 2, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True)),  # 12x12
    ((128, 256, 3, 2, 1, False), (256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True)),  # 6x6
    ((256, 512, 3, 2, 1, False), (512, 512, 3, 1, 1, True)),  # 3x3
    ((512, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)),  # 1x1
)

# The mel chunk (1x80x16) shrinks to 1x1: strides (3,1), 3, (3,2) then a 3x3 valid convolution.
AUDIO_ENCODER = (
    (1, 32, 3, 1, 1, False), (32, 32, 3, 1, 1, True), (32, 32, 3, 1, 1, True),
    (32, 64, 3, (3, 1), 1, False), (64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True),
    (64, 128, 3, 3, 1, False), (128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True),
    (128, 256, 3, (3, 2), 1, False), (256, 256, 3, 1, 1, True),
    (256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False),
)

# Decoder stages: an optional transposed conv (in, out, kernel, stride, padding, output_padding)
# then ConvBlocks. The input of stage k>0 is the previous output concatenated with the face
# encoder feature of the same size, hence in = previous out + encoder channels.
DECODER_STAGES = (
    (None, ((512, 512, 1, 1, 0, False),)),  # 1x1
    ((1024, 512, 3, 1, 0, 0), ((512, 512, 3, 1, 1, True),)),  # 3x3
    ((1024, 512, 3, 2, 1, 1), ((512, 512, 3, 1, 1, True), (512, 512, 3, 1, 1, True))),  # 6x6
    ((768, 384, 3, 2, 1, 1), ((384, 384, 3, 1, 1, True), (384, 384, 3, 1, 1, True))),  # 12x12
    ((512, 256, 3, 2, 1, 1), ((256, 256, 3, 1, 1, True), (256, 256, 3, 1, 1, True))),  # 24x24
    ((320, 128, 3, 2, 1, 1), ((128, 128, 3, 1, 1, True), (128, 128, 3, 1, 1, True))),  # 48x48
    ((160, 64, 3, 2, 1, 1), ((64, 64, 3, 1, 1, True), (64, 64, 3, 1, 1, True))),  # 96x96
)


class ConvBlock(nn.Module):
    """conv -> batch norm (-> + input when residual) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.BatchNorm2d(out_channels))
        self.residual = residual
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class TransposedConvBlock(nn.Module):
    """transposed conv -> batch norm -> ReLU (doubles the size at stride 2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, output_padding) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(out_channels),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _blocks(specs) -> list[nn.Module]:
    return [ConvBlock(*spec) for spec in specs]


class Wav2Lip(nn.Module):
    """forward(mel (B,1,80,16), faces (B,6,96,96) BGR 0..1) -> (B,3,96,96) BGR 0..1.

    faces channels 0-2: the target frame with rows 48.. zeroed; 3-5: the reference frame.
    """

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(nn.Sequential(*_blocks(stage)) for stage in FACE_ENCODER_STAGES)
        self.audio_encoder = nn.Sequential(*_blocks(AUDIO_ENCODER))
        decoder = []
        for transposed, convs in DECODER_STAGES:
            layers = [TransposedConvBlock(*transposed)] if transposed else []
            decoder.append(nn.Sequential(*layers, *_blocks(convs)))
        self.face_decoder_blocks = nn.ModuleList(decoder)
        self.output_block = nn.Sequential(ConvBlock(80, 32, 3, 1, 1), nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0), nn.Sigmoid())

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        skips = []
        x = faces
        for stage in self.face_encoder_blocks:
            x = stage(x)
            skips.append(x)
        x = self.audio_encoder(mel)  # (B,512,1,1)
        for stage, skip in zip(self.face_decoder_blocks, reversed(skips)):
            x = torch.cat((stage(x), skip), dim=1)
        return self.output_block(x)
