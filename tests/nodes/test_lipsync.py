"""Lipsync nodes: declarations, and runs without ComfyUI (fake host, stand-in model)."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from fuse_fake_host import FakeModelFolders, install_models_dir, put_model_file

from comfyui_fuse.compositing.geometry import CropSpec, plan_crops
from comfyui_fuse.compositing.plan import fingerprint_frames
from comfyui_fuse.compositing.warp import crop_faces
from comfyui_fuse.lipsync.backends import LipsyncArchitecture, LipsyncModel
from comfyui_fuse.nodes import lipsync
from comfyui_fuse.core.types import DETECTED, FaceTracks


def make_clip(frame_count=4, boxes=((30, 20, 110, 100),), identity=None):
    """Random frames with one still face per box (80 px wide by default), its tracks, plan and crops."""
    frames = torch.rand(frame_count, 120, 320, 3, generator=torch.Generator().manual_seed(0))
    tracks = FaceTracks(
        track_id=np.arange(1, len(boxes) + 1),
        xyxy=np.tile(np.array(boxes, np.float32)[:, None], (1, frame_count, 1)),
        state=np.full((len(boxes), frame_count), DETECTED, np.uint8),
        score=np.full((len(boxes), frame_count), 0.9, np.float32),
        frame_count=frame_count,
        frame_size=(120, 320),
        fps=Fraction(30000, 1001),
        identity=identity,
    )
    plan = plan_crops(tracks, fingerprint_frames(frames), CropSpec(face_size=96))
    return frames, tracks, plan, crop_faces(frames, plan)


def audio(seconds=0.5, rate=22050):
    return {"waveform": torch.rand(1, 2, int(seconds * rate), generator=torch.Generator().manual_seed(1)) - 0.5, "sample_rate": rate}


class Grey(nn.Module):
    def forward(self, mel, faces):
        return torch.full((faces.shape[0], 3, 96, 96), 0.5)


def grey_model() -> LipsyncModel:
    return LipsyncModel(LipsyncArchitecture("grey", lambda sd: False, lambda sd: Grey(), 96, 16, "BGR", ""), Grey(), "wav2lip.pth")


@pytest.mark.parametrize("node_id, display", [("FUSELipsync", "FUSE Lipsync"), ("FUSEFaceSequenceAudio", "FUSE Face Sequence Audio"), ("FUSEFitVideoToAudio", "FUSE Fit Video To Audio")])
def test_nodes_are_declared_for_comfyui(node_id, display):
    node = lipsync.NODE_CLASS_MAPPINGS[node_id]
    assert lipsync.NODE_DISPLAY_NAME_MAPPINGS[node_id] == display
    declared = node.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            assert len(spec) == 2 and spec[1].get("tooltip"), f"{node_id} input {name!r} needs a tooltip"
    assert len(node.RETURN_TYPES) == len(node.RETURN_NAMES) == len(node.OUTPUT_TOOLTIPS)
    assert node.CATEGORY == "FUSE/lipsync" and node.DESCRIPTION
    assert callable(getattr(node(), node.FUNCTION))


def test_lipsync_node_says_the_weights_are_non_commercial():
    node = lipsync.FUSELipsync
    assert "non-commercial" in node.DESCRIPTION
    assert "non-commercial" in node.INPUT_TYPES()["required"]["lipsync_model"][1]["tooltip"]
    assert node.RETURN_TYPES == ("IMAGE", "MASK")


def test_lipsync_node_lists_models_from_the_lipsync_folder(monkeypatch):
    monkeypatch.setattr(lipsync.host, "model_store", lambda: FakeModelFolders({"lipsync": ["wav2lip.pth", "wav2lip_gan.pth"]}))
    assert lipsync.FUSELipsync.INPUT_TYPES()["required"]["lipsync_model"][0] == ["wav2lip.pth", "wav2lip_gan.pth"]


def test_lipsync_node_runs_again_when_the_checkpoint_is_replaced(tmp_path, monkeypatch):
    install_models_dir(monkeypatch, tmp_path)
    checkpoint = put_model_file(tmp_path, "lipsync", "wav2lip.pth")
    first = lipsync.FUSELipsync.IS_CHANGED(crops=None, crop_plan=None, audio=None, lipsync_model="wav2lip.pth", batch_size=16)
    assert lipsync.FUSELipsync.IS_CHANGED(lipsync_model="wav2lip.pth") == first, "an unchanged file: ComfyUI may reuse the result"
    checkpoint.write_bytes(b"the GAN weights, another size")
    assert lipsync.FUSELipsync.IS_CHANGED(lipsync_model="wav2lip.pth") != first, "a replaced checkpoint must run the node again"


def test_lipsync_node_runs_with_a_fake_host(monkeypatch):
    frames, tracks, plan, crops = make_clip()
    loaded, steps = [], []
    monkeypatch.setattr(lipsync.host, "model_path", lambda folder, name: f"/models/{folder}/{name}")

    def fake_load(path, device=None):
        loaded.append(path)
        return grey_model()

    monkeypatch.setattr(lipsync, "load_lipsync_model", fake_load)
    monkeypatch.setattr(lipsync.host, "progress_callback", lambda total: steps.append)
    before = crops.clone()
    out_crops, edit_mask = lipsync.FUSELipsync().lipsync(crops, plan, audio(), "wav2lip.pth", "pad_silence", 0, "", "", 2, tracks=tracks)
    assert loaded == ["/models/lipsync/wav2lip.pth"]
    assert out_crops.shape == crops.shape and edit_mask.shape == crops.shape[:3]
    assert torch.equal(crops, before), "the node must not mutate its input crops"
    assert (edit_mask > 0).any() and sum(steps) == plan.total_rows


@pytest.mark.parametrize(
    "track_ids, edited",
    [("all", [1, 2]), ("-1", [1, 2]), ("", [1, 2]), ("bob", [2]), ("alice", [1]), ("2", [2]), ("1, bob", [1, 2])],
)
def test_lipsync_node_selects_faces_by_track_id_or_identity(monkeypatch, track_ids, edited):
    frames, tracks, plan, crops = make_clip(boxes=((30, 20, 110, 100), (190, 20, 270, 100)), identity=["alice", "bob"])
    monkeypatch.setattr(lipsync.host, "model_path", lambda folder, name: f"/models/{folder}/{name}")
    monkeypatch.setattr(lipsync, "load_lipsync_model", lambda path, device=None: grey_model())
    _, edit_mask = lipsync.FUSELipsync().lipsync(crops, plan, audio(), "wav2lip.pth", "pad_silence", 0, track_ids, "", 2, tracks=tracks)
    offsets = plan.row_offsets
    synced = [s.track_id for j, s in enumerate(plan.sequences) if (edit_mask[offsets[j] : offsets[j + 1]] > 0).any()]
    assert synced == edited, f"track_ids {track_ids!r} must sync faces {edited} (1 = alice, 2 = bob), but synced {synced}"


@pytest.mark.parametrize(
    "identity, track_ids, message",
    [
        (None, "alice", "track_ids names characters \\['alice'\\], but no face in the crop plan has a character name; connect the tracks of FUSE Analyze Faces"),
        (["alice"], "carol, 4", "track_ids must select faces in the crop plan \\(1 \\(alice\\)\\), but got 4, carol, which are not there"),
    ],
    ids=["name-without-analysis", "absent-faces"],
)
def test_lipsync_node_selection_errors_name_the_input_and_the_faces_there(monkeypatch, identity, track_ids, message):
    frames, tracks, plan, crops = make_clip(identity=identity)
    monkeypatch.setattr(lipsync.host, "model_path", lambda folder, name: f"/models/{folder}/{name}")
    monkeypatch.setattr(lipsync, "load_lipsync_model", lambda path, device=None: grey_model())
    with pytest.raises(ValueError, match=message):
        lipsync.FUSELipsync().lipsync(crops, plan, audio(), "wav2lip.pth", "pad_silence", 0, track_ids, "", 2, tracks=tracks)


def test_face_sequence_audio_node_slices_exactly():
    frames, tracks, plan, crops = make_clip(frame_count=4)
    sound = audio(seconds=1.0, rate=30000)
    sliced, rows, single, fps, edit_mask = lipsync.FUSEFaceSequenceAudio().slice(plan, sound, 0, 0, crops=crops)
    assert sliced["waveform"].shape == (1, 2, 4004), "4 frames at 30000/1001 fps = 0.13347 s = 4004 samples at 30 kHz"
    assert torch.equal(rows, crops) and len(single) == 1
    assert edit_mask.shape == (4, 96, 96) and bool((edit_mask == 1).all()), "without speakers every crop is pasted"
    assert fps == pytest.approx(29.97002997)


def test_face_sequence_audio_node_without_crops_gives_an_empty_batch():
    _, _, plan, _ = make_clip()
    _, rows, _, _, _ = lipsync.FUSEFaceSequenceAudio().slice(plan, audio(), 0, 0)
    assert rows.shape == (0, 96, 96, 3)


def test_fit_video_to_audio_node_loops_the_video():
    images = torch.rand(5, 8, 8, 3)
    out_images, out_audio = lipsync.FUSEFitVideoToAudio().fit(images, {"waveform": torch.ones(1, 1, 16000), "sample_rate": 16000}, 5.0, "pingpong_video", 0)
    assert out_images.shape[0] == 5 and torch.equal(out_images, images)
    out_images, out_audio = lipsync.FUSEFitVideoToAudio().fit(images, {"waveform": torch.ones(1, 1, 32000), "sample_rate": 16000}, 5.0, "pingpong_video", 0)
    assert out_images.shape[0] == 10 and torch.equal(out_images[5], images[3]), "ping-pong: 0 1 2 3 4 3 2 1 0 1"
    assert out_audio["waveform"].shape == (1, 1, 32000)
