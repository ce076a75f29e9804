"""Face enhancement with Wan in a real ComfyUI: the bundled face_enhance workflows on tiny random models.

Needs COMFYUI_PATH (and COMFYUI_PYTHON); skipped with the reason printed otherwise (conftest.py).
The real workflows (workflows/api/face_enhance_wan22_5b.json and face_enhance_wan22_a14b.json) are
queued through POST /prompt with only what cannot run here replaced (wan_test_variant): the
official model files by a tiny random Wan DiT (ComfyUI's WanModel, ~2 MB) and a random
full-width Wan 2.1 VAE (conftest.py's wan_models), the UMT5-XXL text encoder (CLIPLoader +
CLIPTextEncode) by the test-only FUSETestZeroConditioning node, and the clip, face size and
step count by small ones. The input is a short synthetic clip of two real face photos with a sine
tone; faces are found by the built-in Haar detector (the temporary folders hold no detector model).
"""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from comfyui_fuse.media import synthetic
from comfyui_fuse.media.video import read_video, write_video

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
CLIP_FRAMES = 9  # 4k+1: one Wan clip per face, no padding
CLIP_SIZE = (144, 256)  # (H, W): the demo faces are 48 px, which the Haar cascade finds; most of the frame is not face
FACE_SIZE = 32  # crop side: a multiple of the VAE's 8 times the DiT's patch 2
STEPS = 2
TONE_RATE = 44100
ZERO_CONDITIONING_TOKENS = 8
OFFICIAL_FILES = {  # what the workflows load -> the wan_models key that replaces it
    "wan2.2_ti2v_5B_fp16.safetensors": "high_noise",
    "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors": "high_noise",
    "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors": "low_noise",
    "wan2.2_vae.safetensors": "vae",
    "wan_2.1_vae.safetensors": "vae",
}


def wan_test_variant(prompt: dict, models: dict, video_file: str, prefix: str) -> dict:
    """The API workflow with its model files, text encoder, input and size swapped for test ones; nothing else changes."""
    variant = json.loads(json.dumps(prompt))
    for node_id, node in prompt.items():
        kind, inputs = node["class_type"], variant[node_id]["inputs"]
        if kind == "CLIPLoader":
            del variant[node_id]  # only the text encoders used it (checked below)
        elif kind == "CLIPTextEncode":
            variant[node_id] = {"class_type": "FUSETestZeroConditioning", "inputs": {"length": ZERO_CONDITIONING_TOKENS}}
        elif kind == "UNETLoader":
            inputs["unet_name"] = models[OFFICIAL_FILES[inputs["unet_name"]]]
        elif kind == "VAELoader":
            inputs["vae_name"] = models[OFFICIAL_FILES[inputs["vae_name"]]]
        elif kind == "LoadVideo":
            inputs["file"] = video_file
        elif kind == "FUSEVideoLatentKSampler":
            inputs.update(face_size=FACE_SIZE, steps=STEPS, switch_step=STEPS // 2)
        elif kind == "SaveVideo":
            inputs["filename_prefix"] = prefix
    removed = set(prompt) - set(variant)
    dangling = [(node_id, name) for node_id, node in variant.items() for name, value in node["inputs"].items() if isinstance(value, list) and value[0] in removed]
    if dangling:
        raise ValueError(f"inputs {dangling} still link to the removed text-encoder loader")
    return variant


@pytest.fixture(scope="module")
def source_clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A CLIP_FRAMES-frame mp4 at 30000/1001 fps of the two demo faces with a 440 Hz tone, and its face boxes (k,N,4)."""
    scene = synthetic.demo_scene(frame_count=CLIP_FRAMES, frame_size=CLIP_SIZE)
    seconds = CLIP_FRAMES / float(scene.fps)
    time = torch.arange(int(round(seconds * TONE_RATE)), dtype=torch.float32) / TONE_RATE
    tone = 0.3 * torch.sin(2 * torch.pi * 440.0 * time)
    path = tmp_path_factory.mktemp("wan_clip") / "two faces.mp4"
    write_video(path, synthetic.render(scene), scene.fps, {"waveform": torch.stack([tone, tone])[None], "sample_rate": TONE_RATE})
    return path, np.stack(scene.boxes)


def run_variant(comfyui, wan_models, source_clip, name: str, out_dir: Path):
    """Queue the test variant of workflows/api/<name>.json; returns (history entry, the saved video, the source video)."""
    path, _ = source_clip
    uploaded = comfyui.client.upload_file(str(path))
    prompt = wan_test_variant(json.loads((WORKFLOWS / "api" / f"{name}.json").read_text()), wan_models, uploaded, f"FUSE/test_{name}")
    progress = []
    try:
        entry = comfyui.client.wait(comfyui.client.queue_prompt(prompt), on_progress=progress.append, timeout=900)
    except Exception as error:
        raise AssertionError(f"{name} failed in ComfyUI: {error}\nserver log tail:\n{comfyui.log_text()[-4000:]}") from error
    files = [Path(file) for file in comfyui.client.download_outputs(entry, str(out_dir))]
    videos = [file for file in files if file.suffix == ".mp4"]
    assert len(videos) == 1, f"{name}: expected one saved video, got {files}"
    return entry, read_video(str(videos[0])), read_video(str(path)), progress


@pytest.fixture(scope="module")
def five_b_run(comfyui, wan_models, source_clip, tmp_path_factory):
    return run_variant(comfyui, wan_models, source_clip, "face_enhance_wan22_5b", tmp_path_factory.mktemp("wan22_5b"))


@pytest.fixture(scope="module")
def a14b_run(comfyui, wan_models, source_clip, tmp_path_factory):
    return run_variant(comfyui, wan_models, source_clip, "face_enhance_wan22_a14b", tmp_path_factory.mktemp("wan22_a14b"))


@pytest.fixture(params=["five_b_run", "a14b_run"])
def run(request):
    return request.getfixturevalue(request.param)


def class_types(prompt: dict) -> list[str]:
    return sorted(node["class_type"] for node in prompt.values())


def test_variant_swaps_only_models_text_encoder_and_sizes():
    """wan_test_variant keeps the real workflow: same nodes and links, but the loaders' files and the text encoder."""
    models = {"high_noise": "high.safetensors", "low_noise": "low.safetensors", "vae": "vae.safetensors"}
    prompt = json.loads((WORKFLOWS / "api" / "face_enhance_wan22_a14b.json").read_text())
    variant = wan_test_variant(prompt, models, "clip.mp4", "x")
    expected_kinds = ["FUSETestZeroConditioning" if kind == "CLIPTextEncode" else kind for kind in class_types(prompt) if kind != "CLIPLoader"]
    assert class_types(variant) == sorted(expected_kinds)
    assert sorted(node["inputs"]["unet_name"] for node in variant.values() if node["class_type"] == "UNETLoader") == ["high.safetensors", "low.safetensors"]
    sampler = next(node["inputs"] for node in variant.values() if node["class_type"] == "FUSEVideoLatentKSampler")
    original = next(node["inputs"] for node in prompt.values() if node["class_type"] == "FUSEVideoLatentKSampler")
    assert {key: value for key, value in sampler.items() if sampler[key] != original[key]} == {"face_size": FACE_SIZE, "steps": STEPS, "switch_step": STEPS // 2}
    assert isinstance(sampler["model_low_noise"], list), "the A14B variant must still feed the low-noise model"


def test_wan_workflow_runs_to_success(run):
    entry, _, _, progress = run
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert progress, "no progress message came over /ws while sampling"


def test_wan_workflow_keeps_frame_count_size_fps_and_audio(run):
    _, video, source, _ = run
    assert (video.frame_count, video.frame_size) == (CLIP_FRAMES, CLIP_SIZE), (
        f"output {video.frame_count} frames of {video.frame_size}, input {CLIP_FRAMES} of {CLIP_SIZE}"
    )
    # ComfyUI's SaveVideo writes the rate rounded to 1/1000 fps (30000/1001 -> 2997/100): the host's limit, not ours.
    assert source.fps == Fraction(30000, 1001) and abs(video.fps - source.fps) <= Fraction(1, 1000), f"fps {video.fps} (input {source.fps})"
    assert video.audio is not None, "the input's audio must reach the saved video (GetVideoComponents -> CreateVideo)"


def test_wan_workflow_changes_the_faces_and_only_the_faces(run, source_clip):
    """Random weights repaint the faces; away from the faces only video compression noise remains."""
    _, video, source, _ = run
    _, boxes = source_clip
    changed = np.abs(video.frames.astype(np.int16) - source.frames.astype(np.int16)).max(axis=-1) > 40  # (N,H,W)
    near_faces = np.zeros_like(changed)
    margin = 24  # face_padding 20 and the paste feather
    for index in range(CLIP_FRAMES):
        for x1, y1, x2, y2 in boxes[:, index]:
            near_faces[index, max(int(y1) - margin, 0):int(y2) + margin, max(int(x1) - margin, 0):int(x2) + margin] = True
    assert changed[near_faces].mean() > 0.05, f"only {changed[near_faces].mean():.1%} of the face regions changed: were faces found and sampled?"
    assert changed[~near_faces].mean() < 0.002, f"{changed[~near_faces].mean():.2%} of the pixels away from the faces changed"
