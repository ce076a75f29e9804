"""Run an API-format workflow in-process: the pack's nodes for real, ComfyUI's core nodes as fakes.

The fakes keep what the pack relies on (../shared/HOST.md): GetVideoComponents gives IMAGE
float32 [N,H,W,3], AUDIO {"waveform" [1,C,S], "sample_rate"} and fps as a float; UNETLoader gives a
fuse_fake_host.FakeModel (48 latent channels for the Wan 2.2 5B file, else 16) whose sampling adds
MODEL_OFFSET to the latent, so processed faces visibly change; VAELoader gives the fake Wan 2.2 VAE
for wan2.2_vae files, else the fake Wan 2.1 VAE. The sink nodes (SaveVideo, SaveAnimatedWEBP,
PreviewAny) record what they receive. Nodes run in dependency order, each once, as ComfyUI's
executor runs a prompt; a node's optional inputs that the prompt leaves out take the node's defaults.
Tests import this module by name (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import torch
from fuse_fake_host import WAN21, WAN22, FakeModel, FakeVideoVAE

from comfyui_fuse.media import synthetic
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS

MODEL_OFFSET = 0.05  # what the fake model's sampling adds to a latent: processed faces change


def demo_video(frame_count: int = 9, frame_size: tuple[int, int] = (216, 384)) -> SimpleNamespace:
    """The video LoadVideo gives: the demo clip (two real faces of 72 px, one briefly covered) and
    a second of seeded noise as its audio at 16 kHz."""
    scene = synthetic.demo_scene(frame_count=frame_count, frame_size=frame_size)
    images = torch.from_numpy(synthetic.render(scene)).float() / 255.0
    samples = int(16000 * frame_count / scene.fps) + 1
    waveform = torch.randn(1, 1, samples, generator=torch.Generator().manual_seed(0)) * 0.1
    return SimpleNamespace(images=images, audio={"waveform": waveform, "sample_rate": 16000}, fps=scene.fps)


class Sinks:
    """What the output nodes received, by node id."""

    def __init__(self) -> None:
        self.received: dict[str, dict] = {}


def fake_core_nodes(video: SimpleNamespace, sinks: Sinks, node_id: str) -> dict:
    """class_type -> callable(**inputs) -> outputs tuple, for the core nodes the bundled workflows use."""

    def record(**inputs):
        sinks.received[node_id] = inputs
        return ()

    def text_encode(text, clip):
        return ([[torch.zeros(1, 4, 8), {"text": text}]],)

    return {
        "LoadVideo": lambda file: (video,),
        "GetVideoComponents": lambda video: (video.images, video.audio, float(Fraction(video.fps))),
        "UNETLoader": lambda unet_name, weight_dtype: (FakeModel(unet_name, latent_channels=48 if "5B" in unet_name else 16, offset=MODEL_OFFSET),),
        "ModelSamplingSD3": lambda model, shift: (model,),
        "VAELoader": lambda vae_name: (FakeVideoVAE(**(WAN22 if "wan2.2" in vae_name else WAN21)),),
        "CLIPLoader": lambda clip_name, type, device: (SimpleNamespace(name=clip_name),),
        "CLIPTextEncode": text_encode,
        "CreateVideo": lambda images, fps, audio=None: ({"images": images, "fps": fps, "audio": audio},),
        "SaveVideo": record,
        "SaveAnimatedWEBP": record,
        "PreviewAny": record,
    }


def run_pack_node(class_type: str, inputs: dict) -> tuple:
    node_class = NODE_CLASS_MAPPINGS[class_type]
    result = getattr(node_class(), node_class.FUNCTION)(**inputs)
    return tuple(result["result"]) if isinstance(result, dict) else tuple(result)


def run_prompt(prompt: dict, video: SimpleNamespace) -> tuple[dict[str, tuple], Sinks]:
    """Execute every node of an API-format prompt: (outputs by node id, what the sinks received)."""
    outputs: dict[str, tuple] = {}
    sinks = Sinks()

    def evaluate(node_id: str) -> tuple:
        if node_id not in outputs:
            node = prompt[node_id]
            inputs = {}
            for name, value in node["inputs"].items():
                linked = isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                inputs[name] = evaluate(value[0])[value[1]] if linked else value
            class_type = node["class_type"]
            if class_type in NODE_CLASS_MAPPINGS:
                outputs[node_id] = run_pack_node(class_type, inputs)
            else:
                outputs[node_id] = fake_core_nodes(video, sinks, node_id)[class_type](**inputs)
        return outputs[node_id]

    for node_id in prompt:
        evaluate(node_id)
    return outputs, sinks
