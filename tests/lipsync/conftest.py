"""Builders for lipsync tests: synthetic clips of real faces, AUDIO dicts, models."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.plan import CropPlan, fingerprint_frames
from comfyui_fuse.compositing.warp import crop_faces
from comfyui_fuse.lipsync.adapter import REFERENCE_LANDMARKS_112, REFERENCE_REGION_112
from comfyui_fuse.lipsync.backends import LipsyncArchitecture, LipsyncModel
from comfyui_fuse.lipsync.wav2lip import Wav2Lip
from comfyui_fuse.media.synthetic import Scene, linear_path, render
from comfyui_fuse.core.types import DETECTED, FaceTracks


@dataclass
class Clip:
    frames: torch.Tensor  # [N,H,W,3] float 0..1
    tracks: FaceTracks
    plan: CropPlan
    crops: torch.Tensor  # [M,h,w,3]


def reference_landmarks(xyxy: np.ndarray) -> np.ndarray:
    """(…,5,2) landmarks that sit in each box (…,4) where the reference face puts them."""
    x1, y1, x2, y2 = (xyxy[..., i, None] for i in range(4))
    rx1, ry1, rx2, ry2 = REFERENCE_REGION_112
    u = (REFERENCE_LANDMARKS_112[:, 0] - rx1) / (rx2 - rx1)
    v = (REFERENCE_LANDMARKS_112[:, 1] - ry1) / (ry2 - ry1)
    height = (y2 - y1) * 1.05  # the chin room the box path adds
    return np.stack([x1 + u * (x2 - x1), y1 + v * height], axis=-1)


def make_clip(
    frame_count: int = 6,
    boxes=((40, 40, 140, 140), (60, 50, 160, 150)),
    second_face=None,
    score: float = 0.9,
    fps=Fraction(25),
    face_size: int = 96,
    landmarks: bool = False,
    frame_size=(240, 320),
) -> Clip:
    """A clip of one (or two) moving real faces, its ground-truth tracks, plan and crops."""
    paths = [linear_path(frame_count, *boxes)]
    if second_face is not None:
        paths.append(linear_path(frame_count, *second_face))
    scene = Scene(frame_count, frame_size, paths, list(range(len(paths))), fps=fps)
    frames = torch.from_numpy(render(scene)).float() / 255
    xyxy = np.stack(paths).astype(np.float32)
    scores = np.full(xyxy.shape[:2], score, np.float32)
    tracks = FaceTracks(
        track_id=np.arange(1, len(paths) + 1),
        xyxy=xyxy,
        state=np.full(xyxy.shape[:2], DETECTED, np.uint8),
        score=scores,
        frame_count=frame_count,
        frame_size=frame_size,
        fps=fps,
        landmarks=reference_landmarks(xyxy).astype(np.float32) if landmarks else None,
    )
    plan = plan_crops(tracks, fingerprint_frames(frames), CropSpec(face_size=face_size))
    return Clip(frames, tracks, plan, crop_faces(frames, plan))


def make_audio(seconds: float = 1.0, sample_rate: int = 16000, channels: int = 1, amplitude: float = 0.1, seed: int = 0) -> dict:
    """AUDIO dict with noise speech stand-in: float32 [1,C,S]."""
    generator = torch.Generator().manual_seed(seed)
    samples = int(round(seconds * sample_rate))
    return {"waveform": torch.randn(1, channels, samples, generator=generator) * amplitude, "sample_rate": sample_rate}


class ConstantFace(nn.Module):
    """A stand-in lipsync net that paints every face white: changed pixels are easy to find."""

    def forward(self, mel, faces):
        return torch.ones(faces.shape[0], 3, faces.shape[2], faces.shape[3])


def constant_model() -> LipsyncModel:
    architecture = LipsyncArchitecture("constant", lambda sd: False, lambda sd: ConstantFace(), face_size=96, mel_step=16, channel_order="BGR", license_note="")
    return LipsyncModel(architecture, ConstantFace(), "constant")


def random_wav2lip(seed: int = 0) -> Wav2Lip:
    """A Wav2Lip with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = Wav2Lip()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.num_batches_tracked.fill_(1000)
    return net.eval()


def save_released_layout(net: nn.Module, path, prefix: str = "module.") -> None:
    """Save as the released wav2lip.pth is laid out: {"state_dict", "optimizer", "global_step", "global_epoch"}."""
    state_dict = {prefix + key: value for key, value in net.state_dict().items()}
    torch.save({"state_dict": state_dict, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}, "global_step": 253000, "global_epoch": 60}, path)


@pytest.fixture(scope="session")
def wav2lip_checkpoint(tmp_path_factory):
    """A random-weight Wav2Lip saved in the released layout (with "module."), and the net."""
    net = random_wav2lip()
    path = tmp_path_factory.mktemp("lipsync") / "wav2lip.pth"
    save_released_layout(net, path)
    return path, net


@pytest.fixture
def build():
    """The builders above, for test modules (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        clip=make_clip,
        audio=make_audio,
        constant_model=constant_model,
        random_wav2lip=random_wav2lip,
        save_released_layout=save_released_layout,
        reference_landmarks=reference_landmarks,
    )
