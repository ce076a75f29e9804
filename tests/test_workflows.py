"""The bundled workflows match the pack's own node definitions (no ComfyUI needed).

Every workflows/<name>.json is UI format (drag-in, templates) and has an API-format twin in
workflows/api/<name>.json (for POST /prompt). Both are checked against the pack's INPUT_TYPES and
against CORE_NODES, the signatures of the core ComfyUI nodes they use; tests/integration runs them
in a real ComfyUI. The model files the workflows name (WORKFLOW_MODEL_FILES) are installed as empty
files while the pack's schemas are read, as a user who followed the notes would have them.
"""

import json
from pathlib import Path

import pytest
import torch
from fuse_fake_comfyui import pack_object_info

from comfyui_fuse.cli.client import EDITOR_ONLY_NODES, ui_to_api
from comfyui_fuse.nodes.host import MODEL_SUBDIRS

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
UI_WORKFLOWS = sorted(WORKFLOWS.glob("*.json"))
API_WORKFLOWS = sorted((WORKFLOWS / "api").glob("*.json"))

# Core ComfyUI nodes the bundled workflows use, as GET /object_info describes them (ComfyUI 0.3.64);
# tests/integration checks this file against a real ComfyUI.
CORE_NODES = json.loads((Path(__file__).with_name("core_node_signatures.json")).read_text())


# FUSE model folder -> the files the bundled workflows select (their notes say where to get them).
WORKFLOW_MODEL_FILES = {
    "facerestore_models": ("GFPGANv1.4.pth",),
    "lipsync": ("wav2lip_gan.pth",),
}
# Options a combo takes besides its list: a file the user uploads through the loader's widget.
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload")


@pytest.fixture(scope="module")
def object_info(tmp_path_factory):
    """The server's /object_info: core signatures and the pack's schemas read with the workflows' model files installed."""
    models = tmp_path_factory.mktemp("models")
    for folder, files in WORKFLOW_MODEL_FILES.items():
        (models / MODEL_SUBDIRS[folder]).mkdir(parents=True)
        for name in files:
            (models / MODEL_SUBDIRS[folder] / name).write_bytes(b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUSE_MODELS_DIR", str(models))
        return {**CORE_NODES, **pack_object_info()}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def declared_inputs(schema: dict) -> dict:
    return {**schema["input"].get("required", {}), **schema["input"].get("optional", {})}


def types_match(output_type: str, input_type) -> bool:
    return output_type == input_type or "*" in (output_type, input_type)


def value_problem(spec: list, value) -> str | None:
    """Why a literal value does not fit an input declaration (None when it fits), as ComfyUI validates."""
    kind = spec[0]
    options = spec[1] if len(spec) > 1 else {}
    if any(options.get(option) for option in UPLOAD_OPTIONS):
        return None if isinstance(value, str) and value else f"{value!r} is not a file name"
    if kind == "COMBO":  # the V3 form: ["COMBO", {"options": [...]}]
        kind = options.get("options", [])
    if isinstance(kind, list):
        return None if value in kind else f"{value!r} is not one of the options {kind}"
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if kind == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind in ("INT", "FLOAT"):
        numeric = (int,) if kind == "INT" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"{value!r} is not an {kind}"
        if "min" in options and value < options["min"]:
            return f"{value!r} is below the minimum {options['min']}"
        if "max" in options and value > options["max"]:
            return f"{value!r} is above the maximum {options['max']}"
        return None
    return f"a {kind} input takes a link, not the value {value!r}"


def api_problems(prompt: dict, object_info: dict) -> list[str]:
    """Everything ComfyUI's prompt validation would refuse in an API-format workflow."""
    problems = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type")
        if class_type not in object_info:
            problems.append(f"node {node_id}: unknown class_type {class_type!r}")
            continue
        schema = object_info[class_type]
        declared = declared_inputs(schema)
        for name in schema["input"].get("required", {}):
            if name not in node["inputs"]:
                problems.append(f"node {node_id} ({class_type}): required input {name!r} is missing")
        for name, value in node["inputs"].items():
            if name not in declared:
                problems.append(f"node {node_id} ({class_type}): no input named {name!r}")
            elif isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                source = prompt.get(value[0])
                if source is None or source.get("class_type") not in object_info:
                    problems.append(f"node {node_id} ({class_type}): input {name!r} links to a missing node {value[0]!r}")
                    continue
                outputs = object_info[source["class_type"]]["output"]
                if not 0 <= value[1] < len(outputs):
                    problems.append(f"node {node_id} ({class_type}): input {name!r} links to output {value[1]} of {source['class_type']}, which has {len(outputs)}")
                elif not types_match(outputs[value[1]], declared[name][0]):
                    problems.append(f"node {node_id} ({class_type}): input {name!r} takes {declared[name][0]} but is linked to a {outputs[value[1]]}")
            else:
                problem = value_problem(declared[name], value)
                if problem:
                    problems.append(f"node {node_id} ({class_type}): input {name!r}: {problem}")
    if not any(object_info.get(node.get("class_type"), {}).get("output_node") for node in prompt.values()):
        problems.append("no output node: ComfyUI refuses a prompt without one")
    return problems


def ui_problems(workflow: dict, object_info: dict) -> list[str]:
    """What would break loading a UI-format workflow by drag-in: node ids, slots, links and their types."""
    if not isinstance(workflow.get("nodes"), list) or not isinstance(workflow.get("links"), list):
        return ["not UI format (no 'nodes' and 'links' lists): the editor loads workflows/*.json as graphs; API-format files go in workflows/api/"]
    problems = []
    if workflow.get("version") != 0.4:
        problems.append(f"version must be 0.4, but got {workflow.get('version')!r}")
    nodes = {node["id"]: node for node in workflow["nodes"]}
    if len(nodes) != len(workflow["nodes"]):
        problems.append("node ids are not unique")
    if workflow.get("last_node_id", -1) < max(nodes, default=0):
        problems.append(f"last_node_id {workflow.get('last_node_id')} is below the largest node id {max(nodes)}")
    if workflow.get("last_link_id", -1) < max((link[0] for link in workflow["links"]), default=0):
        problems.append(f"last_link_id {workflow.get('last_link_id')} is below the largest link id")
    for node in workflow["nodes"]:
        where = f"node {node['id']} ({node['type']})"
        if len(node.get("pos", ())) != 2 or len(node.get("size", ())) != 2:
            problems.append(f"{where}: pos and size must be [x, y] and [width, height]")
        if node["type"] in EDITOR_ONLY_NODES:
            continue
        if node["type"] not in object_info:
            problems.append(f"{where}: unknown node type")
            continue
        schema = object_info[node["type"]]
        declared = declared_inputs(schema)
        for socket in node.get("inputs", []):
            if socket["name"] not in declared:
                problems.append(f"{where}: no input named {socket['name']!r}")
            elif not types_match(socket["type"], declared[socket["name"]][0] if isinstance(declared[socket["name"]][0], str) else "COMBO"):
                problems.append(f"{where}: input {socket['name']!r} is typed {socket['type']} but declared {declared[socket['name']][0]}")
        outputs = node.get("outputs", [])
        if [output["type"] for output in outputs] != schema["output"]:
            problems.append(f"{where}: outputs {[output['type'] for output in outputs]} differ from the declared {schema['output']}")
    for link_id, origin_id, origin_slot, target_id, target_slot, link_type in workflow["links"]:
        origin, target = nodes.get(origin_id), nodes.get(target_id)
        if origin is None or target is None:
            problems.append(f"link {link_id} joins a missing node ({origin_id} -> {target_id})")
            continue
        output = origin["outputs"][origin_slot]
        socket = target["inputs"][target_slot]
        if link_id not in (output.get("links") or []) or socket.get("link") != link_id:
            problems.append(f"link {link_id} is not recorded on both ends (output {output['name']!r} of node {origin_id}, input {socket['name']!r} of node {target_id})")
        if not (types_match(output["type"], link_type) and types_match(link_type, socket["type"])):
            problems.append(f"link {link_id} carries {link_type} from a {output['type']} output to a {socket['type']} input")
    linked = {link[0] for link in workflow["links"]}
    for node in workflow["nodes"]:
        for socket in node.get("inputs", []):
            if socket.get("link") is not None and socket["link"] not in linked:
                problems.append(f"node {node['id']}: input {socket['name']!r} names link {socket['link']}, which does not exist")
    return problems


def without_titles(prompt: dict) -> dict:
    return {node_id: {key: value for key, value in node.items() if key != "_meta"} for node_id, node in prompt.items()}


def test_every_workflow_has_both_formats():
    assert UI_WORKFLOWS, f"no workflow in {WORKFLOWS}"
    assert [path.name for path in UI_WORKFLOWS] == [path.name for path in API_WORKFLOWS], (
        "every workflows/<name>.json (UI format) needs workflows/api/<name>.json (API format) and back"
    )


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda path: path.stem)
def test_ui_workflow_loads_by_drag_in(path, object_info):
    problems = ui_problems(load(path), object_info)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda path: path.stem)
def test_ui_workflow_widget_values_fit_the_nodes(path, object_info):
    problems = api_problems(ui_to_api(load(path), object_info), object_info)
    assert not problems, f"{path.name} (widget values, read as the editor would queue them):\n" + "\n".join(problems)


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda path: path.stem)
def test_ui_workflow_has_a_note_on_models(path):
    notes = [node["widgets_values"][0] for node in load(path)["nodes"] if node["type"] in ("Note", "MarkdownNote")]
    assert notes, f"{path.name} needs a Note node that says which model files go where"
    assert "models/ultralytics/bbox" in notes[0] and "Haar" in notes[0], f"{path.name}: the note must name the face model folder and the Haar fallback"


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda path: path.stem)
def test_api_workflow_passes_validation(path, object_info):
    problems = api_problems(load(path), object_info)
    assert not problems, f"api/{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda path: path.stem)
def test_api_workflow_is_the_ui_workflow_converted(path, object_info):
    api_path = WORKFLOWS / "api" / path.name
    assert without_titles(ui_to_api(load(path), object_info)) == without_titles(load(api_path)), (
        f"api/{path.name} must be what the editor queues for {path.name}; edit both, or regenerate the API file with comfy_client.ui_to_api"
    )


# The checks above must be able to fail: each mutation of a valid prompt is caught.
VALID_PROMPT = {
    "1": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["2", 0], "filename_prefix": "x", "fps": 6.0, "lossless": False, "quality": 80, "method": "default"}},
    "2": {"class_type": "FUSEDemoClip", "inputs": {"frames": 4, "width": 64, "height": 64}},
    "3": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "x", "format": "auto", "codec": "auto"}},
    "4": {"class_type": "LoadVideo", "inputs": {"file": "any uploaded name.mp4"}},
}


@pytest.mark.parametrize(
    "node_id, name, value, words",
    [
        ("1", "method", "best", "'best' is not one of the options"),
        ("1", "quality", 101, "above the maximum 100"),
        ("2", "frames", 0, "below the minimum 1"),
        ("2", "frames", 2.5, "is not an INT"),
        ("1", "lossless", "no", "is not a boolean"),
        ("1", "speed", 1, "no input named 'speed'"),
        ("1", "images", ["2", 1], "takes IMAGE but is linked to a FLOAT"),
        ("1", "images", ["9", 0], "links to a missing node '9'"),
        ("3", "format", "webm", "'webm' is not one of the options ['auto', 'mp4']"),
        ("3", "video", ["2", 0], "takes VIDEO but is linked to a IMAGE"),
        ("4", "file", 3, "3 is not a file name"),
    ],
)
def test_api_problems_catches_a_broken_prompt(object_info, node_id, name, value, words):
    assert api_problems(VALID_PROMPT, object_info) == []
    broken = json.loads(json.dumps(VALID_PROMPT))
    broken[node_id]["inputs"][name] = value
    problems = api_problems(broken, object_info)
    assert any(words in problem for problem in problems), f"expected a problem with {words!r}, got {problems}"


def break_link_type(workflow):
    workflow["links"][0][5] = "MASK"


def forget_link_on_output(workflow):
    origin = next(node for node in workflow["nodes"] if node["id"] == workflow["links"][0][1])
    origin["outputs"][workflow["links"][0][2]]["links"].remove(workflow["links"][0][0])


def rename_node_type(workflow):
    workflow["nodes"][0]["type"] = "FUSENoSuchNode"


def save_as_api_format(workflow):
    workflow.clear()
    workflow["1"] = {"class_type": "FUSEDemoClip", "inputs": {}}


@pytest.mark.parametrize(
    "mutate, words",
    [
        (break_link_type, "carries MASK"),
        (forget_link_on_output, "is not recorded on both ends"),
        (rename_node_type, "unknown node type"),
        (save_as_api_format, "not UI format"),
    ],
)
def test_ui_problems_catches_a_broken_workflow(object_info, mutate, words):
    workflow = load(UI_WORKFLOWS[0])
    assert ui_problems(workflow, object_info) == []
    mutate(workflow)
    problems = ui_problems(workflow, object_info)
    assert any(words in problem for problem in problems), f"expected a problem with {words!r}, got {problems}"


# Saved workflows of the first release (workflows/ as of commit 0b33b20, UI and API format) must
# load and run as they did: saved UI workflows store widget values by position, API ones by name.
V1 = Path(__file__).resolve().parent / "fixtures" / "workflows_v1"
V1_UI_WORKFLOWS = sorted(path for path in V1.glob("*.json") if path.name != "node_signatures.json")
V1_API_WORKFLOWS = sorted((V1 / "api").glob("*.json"))
V1_SIGNATURES = json.loads((V1 / "node_signatures.json").read_text())  # section, name, type, default of every input


def signature(schema: dict) -> list[list]:
    """[section, name, type ("COMBO" for a list), default] of every input, in declaration order."""
    rows = []
    for section in ("required", "optional"):
        for name, spec in schema["input"].get(section, {}).items():
            options = spec[1] if len(spec) > 1 else {}
            rows.append([section, name, spec[0] if isinstance(spec[0], str) else "COMBO", options.get("default")])
    return rows


def test_the_v1_fixtures_are_complete():
    assert [path.name for path in V1_UI_WORKFLOWS] == [path.name for path in V1_API_WORKFLOWS] and len(V1_UI_WORKFLOWS) == 6


@pytest.mark.parametrize("node_id", sorted(V1_SIGNATURES))
def test_v1_nodes_keep_their_inputs_in_order_with_their_defaults(node_id, object_info):
    assert node_id in object_info, f"node id {node_id} of the first release is gone: saved workflows that use it no longer load"
    old = V1_SIGNATURES[node_id]
    now = signature(object_info[node_id])
    assert now[: len(old["inputs"])] == old["inputs"], (
        f"{node_id}: the first release's inputs (section, name, type, default) must stay first and in order "
        f"(new inputs go at the end of optional):\nthen {old['inputs']}\nnow  {now}"
    )
    outputs = object_info[node_id]["output"]
    assert outputs[: len(old["output"])] == old["output"], f"{node_id}: outputs changed, so saved links point at other outputs (new outputs go at the end): then {old['output']}, now {outputs}"


@pytest.mark.parametrize("path", V1_UI_WORKFLOWS, ids=lambda path: path.stem)
def test_v1_ui_widget_values_map_to_the_same_inputs(path, object_info):
    converted = ui_to_api(load(path), object_info)
    assert without_titles(converted) == without_titles(load(V1 / "api" / path.name)), (
        f"{path.name}: the widget values saved by the first release must reach the same inputs as they did"
    )
    problems = api_problems(converted, object_info)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


class ToneRestorer(torch.nn.Module):
    """A stand-in face restorer with RestoreFormer's call: forward(x) -> (image, None), in [-1, 1]."""

    def forward(self, x):
        return x * 0.8, None


@pytest.fixture(scope="module")
def runnable_models(tmp_path_factory):
    """A FUSE_MODELS_DIR holding the files the workflows select: a random-weight Wav2Lip, and an
    empty restorer file (the test loads ToneRestorer for it: a real restorer costs minutes here)."""
    from comfyui_fuse.lipsync.wav2lip import Wav2Lip

    models = tmp_path_factory.mktemp("runnable_models")
    for folder in ("facerestore_models", "lipsync"):
        (models / MODEL_SUBDIRS[folder]).mkdir(parents=True)
    (models / MODEL_SUBDIRS["facerestore_models"] / "GFPGANv1.4.pth").write_bytes(b"")
    torch.manual_seed(0)
    torch.save(Wav2Lip().state_dict(), models / MODEL_SUBDIRS["lipsync"] / "wav2lip_gan.pth")
    return models


def face_region_changes(before: torch.Tensor, after: torch.Tensor) -> tuple[float, float]:
    """Largest change inside the demo's faces' band and in the frame's bottom rows (no face there)."""
    height = before.shape[1]
    difference = (after - before).abs()
    return float(difference[:, int(0.3 * height) : int(0.6 * height)].max()), float(difference[:, int(0.85 * height) :].max())


@pytest.mark.parametrize("path", V1_API_WORKFLOWS, ids=lambda path: path.stem)
def test_v1_api_workflow_runs_on_the_fake_host(path, runnable_models, monkeypatch):
    from fuse_fake_host import install_fake_host
    from fuse_workflow_runner import demo_video, run_prompt

    from comfyui_fuse.nodes import restore
    from comfyui_fuse.models.restorers import RESTORERS, FaceRestorer

    monkeypatch.setenv("FUSE_MODELS_DIR", str(runnable_models))
    monkeypatch.setattr(restore, "load_face_restorer", lambda name, models: FaceRestorer(RESTORERS["RestoreFormer"], ToneRestorer(), name))
    install_fake_host(monkeypatch)
    video = demo_video()
    prompt = load(path)
    outputs, sinks = run_prompt(prompt, video)
    saved = {prompt[node_id]["class_type"]: inputs for node_id, inputs in sinks.received.items()}
    if path.stem == "track_preview":
        tracks = json.loads(outputs["6"][0])
        assert len(tracks["tracks"]) == 2, f"the demo clip shows two people, but the saved workflow tracked {len(tracks['tracks'])}"
        assert saved["SaveAnimatedWEBP"]["images"].shape[0] == 24, "the demo clip node renders the saved 24 frames"
        return
    frames = saved["SaveVideo"]["video"]["images"]
    assert frames.shape == video.images.shape, f"{path.stem}: the saved video must have the input's frames, but got {tuple(frames.shape)}"
    if path.stem == "analysis_report":
        report = json.loads(saved["PreviewAny"]["source"])
        assert report["faces"]["total_detected"] == 2, f"the report must count the two people of the clip, but got {report['faces']}"
        return
    inside, outside = face_region_changes(video.images, frames)
    assert inside > 1 / 255, f"{path.stem}: processing must change the faces, but the largest change is {inside * 255:.2f}/255"
    assert outside == 0.0, f"{path.stem}: pixels away from the faces must stay bit-identical, but changed by {outside * 255:.2f}/255"
