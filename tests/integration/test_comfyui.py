"""The pack in a real ComfyUI: it loads, its nodes are served, the bundled workflows run.

Needs COMFYUI_PATH (and COMFYUI_PYTHON); skipped with the reason printed otherwise (conftest.py).
"""

import json
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from comfyui_fuse.cli.client import ComfyServerError, output_texts, ui_to_api
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PACK_NAME = "ComfyUI-FUSE"
# Core loader combos that list a model folder: core_node_signatures.json holds the files the workflows name.
MODEL_FILE_COMBOS = {("UNETLoader", "unet_name"), ("VAELoader", "vae_name"), ("CLIPLoader", "clip_name")}


@pytest.fixture(scope="module")
def object_info(comfyui):
    return comfyui.client.object_info()


@pytest.fixture(scope="module")
def track_preview_run(comfyui, tmp_path_factory):
    """track_preview (API format) queued once through POST /prompt: (prompt, history entry, files, progress)."""
    prompt = json.loads((WORKFLOWS / "api" / "track_preview.json").read_text())
    progress = []
    prompt_id = comfyui.client.queue_prompt(prompt)
    entry = comfyui.client.wait(prompt_id, on_progress=progress.append, timeout=600)
    files = comfyui.client.download_outputs(entry, str(tmp_path_factory.mktemp("track_preview_outputs")))
    return prompt, entry, [Path(path) for path in files], progress


def test_pack_imports_without_errors(comfyui):
    line = comfyui.pack_import_line()
    assert line is not None, f"ComfyUI never tried to import {PACK_NAME}; start-up log:\n{comfyui.log_text()[-4000:]}"
    assert "IMPORT FAILED" not in line, f"{line}\n{comfyui.log_text()[-4000:]}"
    errors = comfyui.pack_import_errors()
    assert not errors, "the start-up log reports import errors in the pack:\n" + "\n".join(errors)


def test_only_the_tested_copy_of_the_pack_is_loaded_and_listed_once(comfyui):
    """The harness runs a ComfyUI copy of its own: a pack a user installed in COMFYUI_PATH/custom_nodes is not loaded too."""
    loaded = comfyui.custom_node_paths()
    assert all(path.parent.resolve() == comfyui.custom_nodes_dir.resolve() for path in loaded), f"custom nodes from outside the test's own folder: {loaded}"
    assert [path.name for path in loaded].count(PACK_NAME) == 1, f"ComfyUI imported {PACK_NAME} from {loaded}"
    templates = comfyui.client.workflow_templates().get(PACK_NAME, [])
    assert len(templates) == len(set(templates)), f"GET /workflow_templates lists {PACK_NAME}'s workflows more than once: {sorted(templates)}"


def test_every_fuse_node_is_in_object_info(comfyui, object_info):
    missing = sorted(set(NODE_CLASS_MAPPINGS) - set(object_info))
    assert not missing, f"nodes the pack declares but ComfyUI does not serve: {missing}; log:\n{comfyui.log_text()[-4000:]}"
    for node_id in NODE_CLASS_MAPPINGS:
        schema = object_info[node_id]
        assert schema["python_module"] == f"custom_nodes.{PACK_NAME}", f"{node_id} was loaded from {schema['python_module']}"
        assert schema["display_name"] == NODE_DISPLAY_NAME_MAPPINGS[node_id]
        assert schema["category"].startswith("FUSE/"), f"{node_id} has category {schema['category']!r}"


def test_workflow_templates_lists_and_serves_the_bundled_workflows(comfyui):
    expected = sorted(path.stem for path in WORKFLOWS.glob("*.json"))
    templates = comfyui.client.workflow_templates()
    assert sorted(templates.get(PACK_NAME, [])) == expected, f"GET /workflow_templates gave {templates}"
    for name in expected:
        with urllib.request.urlopen(f"{comfyui.url}/api/workflow_templates/{PACK_NAME}/{name}.json", timeout=30) as response:
            served = json.loads(response.read())
        assert "nodes" in served and "links" in served, f"template {name} must be UI format (the editor loads templates as graphs)"


def test_core_node_signatures_match_the_real_ones(object_info):
    """tests/core_node_signatures.json (what test_workflows.py checks workflows against) is true here."""
    expected = json.loads((Path(__file__).resolve().parents[1] / "core_node_signatures.json").read_text())
    for name, signature in expected.items():
        real = object_info[name]
        assert real["output"] == signature["output"] and real["display_name"] == signature["display_name"], name
        for section, inputs in signature["input"].items():
            real_inputs = real["input"][section]
            assert list(real_inputs) == list(inputs), f"{name} {section} inputs: real {list(real_inputs)}, file {list(inputs)}"
            for input_name, spec in inputs.items():
                real_spec = real_inputs[input_name]
                if (name, input_name) in MODEL_FILE_COMBOS:  # the server lists its own model folder
                    assert isinstance(real_spec[0], list), f"{name}.{input_name}: real type {real_spec[0]}, expected a combo of model files"
                    continue
                assert real_spec[0] == spec[0], f"{name}.{input_name}: real type {real_spec[0]}, file {spec[0]}"
                for key in ("min", "max", "default"):
                    if len(spec) > 1 and key in spec[1]:
                        assert real_spec[1].get(key) == spec[1][key], f"{name}.{input_name} {key}: real {real_spec[1].get(key)}, file {spec[1][key]}"


def test_ui_workflow_converts_against_the_real_schemas(object_info):
    ui = json.loads((WORKFLOWS / "track_preview.json").read_text())
    api = json.loads((WORKFLOWS / "api" / "track_preview.json").read_text())
    converted = ui_to_api(ui, object_info)
    assert {key: node["inputs"] for key, node in converted.items()} == {key: node["inputs"] for key, node in api.items()}


def test_invalid_prompt_is_refused_with_the_servers_node_errors(comfyui):
    prompt = json.loads((WORKFLOWS / "api" / "track_preview.json").read_text())
    demo_id = next(key for key, node in prompt.items() if node["class_type"] == "FUSEDemoClip")
    prompt[demo_id]["inputs"]["frames"] = 0
    with pytest.raises(ComfyServerError) as caught:
        comfyui.client.queue_prompt(prompt)
    assert f"node {demo_id} (FUSEDemoClip)" in str(caught.value) and "frames" in str(caught.value), str(caught.value)


def test_track_preview_runs_to_success(track_preview_run):
    prompt, entry, _, _ = track_preview_run
    assert entry["status"]["status_str"] == "success"
    output_nodes = {key for key, node in prompt.items() if node["class_type"] in ("SaveAnimatedWEBP", "SaveImage", "PreviewAny")}
    assert output_nodes <= set(entry["outputs"]), f"outputs came from {sorted(entry['outputs'])}, expected {sorted(output_nodes)}"


def test_track_preview_saves_the_preview_animation(track_preview_run):
    prompt, _, files, _ = track_preview_run
    frames = next(node["inputs"]["frames"] for node in prompt.values() if node["class_type"] == "FUSEDemoClip")
    animations = [path for path in files if path.suffix == ".webp"]
    assert len(animations) == 1 and animations[0].stat().st_size > 0, f"downloaded {files}"
    with Image.open(animations[0]) as image:
        assert image.n_frames == frames, f"the preview has {image.n_frames} frames, the demo clip {frames}"
        assert image.size == (640, 360)


def test_track_preview_reports_the_tracks_as_json(track_preview_run):
    _, entry, _, _ = track_preview_run
    texts = [text for values in output_texts(entry).values() for text in values]
    assert len(texts) == 1, f"expected one JSON text output, got {texts}"
    report = json.loads(texts[0])
    assert report["frame_count"] == 24 and report["frame_size"] == [360, 640], {key: report[key] for key in ("frame_count", "frame_size")}
    assert len(report["tracks"]) == 2, f"the demo clip shows two people, but the tracks JSON holds {len(report['tracks'])} tracks"


def test_wait_followed_progress_over_the_websocket(track_preview_run):
    prompt, _, _, progress = track_preview_run
    assert progress, "no progress message came over /ws (is websocket-client installed in the test venv?)"
    assert all(message["node"] in prompt and message["max"] > 0 for message in progress), progress[:5]


def test_fuse_model_folders_are_registered_with_extensions(comfyui):
    """The yaml names the folders; the pack must add its extensions (a new folder has none)."""
    yolo = comfyui.model_dir("ultralytics_bbox")
    model, text = yolo / "hand_yolov8n.pt", yolo / "notes.txt"  # "auto" never picks a non-face model
    model.write_bytes(b"")
    text.write_text("not a model")
    try:
        detector = comfyui.client.object_info("FUSEFaceDetector")["FUSEFaceDetector"]
    finally:
        model.unlink()
        text.unlink()
    options = detector["input"]["required"]["detector"][0]
    assert "yolo/hand_yolov8n.pt" in options and not any("notes.txt" in option for option in options), options


def cached_nodes(entry: dict) -> set[str]:
    """The nodes ComfyUI answered from its cache in a prompt (its execution_cached message)."""
    return {node for event, data in entry["status"]["messages"] if event == "execution_cached" for node in data["nodes"]}


def test_a_face_model_added_later_runs_the_detector_again(comfyui):
    """Run with no model (Haar), put face_yolov8n.pt in ultralytics/bbox, run again: the detector
    must run again (its IS_CHANGED follows what "auto" loads), not hand back the cached Haar result.
    The file is not a valid model, so the run fails naming it: proof it was loaded."""
    prompt = json.loads((WORKFLOWS / "api" / "track_preview.json").read_text())
    demo_id = next(key for key, node in prompt.items() if node["class_type"] == "FUSEDemoClip")
    detector_id = next(key for key, node in prompt.items() if node["class_type"] == "FUSEFaceDetector")
    prompt[demo_id]["inputs"].update(frames=3, width=160, height=96)
    comfyui.client.wait(comfyui.client.queue_prompt(prompt), timeout=600)
    unchanged = comfyui.client.wait(comfyui.client.queue_prompt(prompt), timeout=600)
    assert detector_id in cached_nodes(unchanged), "with the model folder unchanged, ComfyUI reuses the detector's result"
    model = comfyui.model_dir("ultralytics_bbox") / "face_yolov8n.pt"
    model.write_bytes(b"not a yolo model")
    try:
        with pytest.raises(ComfyServerError, match=rf"failed in node {detector_id} \(FUSEFaceDetector\).*face_yolov8n.pt"):
            comfyui.client.wait(comfyui.client.queue_prompt(prompt), timeout=600)
    finally:
        model.unlink()
