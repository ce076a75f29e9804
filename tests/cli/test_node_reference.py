"""README.md's node reference is generated from the node definitions, and every input says what it does."""

import difflib
from pathlib import Path

import pytest

from comfyui_fuse.cli.app import main
from comfyui_fuse.cli.node_reference import END_MARKER, node_markdown, node_reference_markdown, readme_section, replace_readme_section
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS
from comfyui_fuse.nodes.host import MODEL_SUBDIRS

README = Path(__file__).resolve().parents[2] / "README.md"
FIX = "run `comfyui-fuse nodes --write-readme` (or paste the output of `comfyui-fuse nodes --markdown` between the node-reference markers of README.md)"


def test_readme_node_reference_matches_the_node_definitions():
    written, generated = readme_section(README.read_text()).strip(), node_reference_markdown().strip()
    diff = "\n".join(list(difflib.unified_diff(written.splitlines(), generated.splitlines(), "README.md", "generated", lineterm=""))[:40])
    assert written == generated, f"README.md's node reference is out of date; {FIX}.\n{diff}"


def test_reference_does_not_depend_on_the_installed_model_files(tmp_path, monkeypatch):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    for folder, name in (("ultralytics_bbox", "face_yolov8n.pt"), ("insightface", "buffalo_l/w600k_r50.onnx"), ("facerestore_models", "GFPGANv1.4.pth"), ("lipsync", "wav2lip.pth")):
        path = full / MODEL_SUBDIRS[folder] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    texts = []
    for models in (empty, full):
        monkeypatch.setenv("FUSE_MODELS_DIR", str(models))
        texts.append(node_reference_markdown())
    assert texts[0] == texts[1], "the reference must read the same on every machine: it may not list model files"


@pytest.mark.parametrize("node_id", list(NODE_CLASS_MAPPINGS))
def test_every_input_has_a_tooltip(node_id):
    inputs = NODE_CLASS_MAPPINGS[node_id].INPUT_TYPES()
    missing = [name for section in ("required", "optional") for name, spec in (inputs.get(section) or {}).items() if not (len(spec) > 1 and str(spec[1].get("tooltip", "")).strip())]
    assert not missing, f"{node_id}: inputs without a tooltip: {missing}; the tooltip is the input's documentation in the editor and in README.md"


@pytest.mark.parametrize("node_id", list(NODE_CLASS_MAPPINGS))
def test_every_output_has_a_tooltip_and_the_node_a_description(node_id):
    node_class = NODE_CLASS_MAPPINGS[node_id]
    tooltips = getattr(node_class, "OUTPUT_TOOLTIPS", ())
    assert len(tooltips) == len(node_class.RETURN_TYPES) and all(text.strip() for text in tooltips), f"{node_id}: OUTPUT_TOOLTIPS must give one text per output {node_class.RETURN_TYPES}, but got {tooltips}"
    assert getattr(node_class, "DESCRIPTION", "").strip(), f"{node_id} needs a DESCRIPTION"


class ExampleNode:
    DESCRIPTION = "Does   one thing\nwell."
    CATEGORY = "FUSE/example"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "mask")
    OUTPUT_TOOLTIPS = ("The frames.", "Where | changed.")
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video."}),
                "mode": (["box", "ellipse"], {"default": "box", "tooltip": "Shape."}),
                "amount": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "tooltip": "Feather."}),
            },
            "optional": {"label": ("STRING", {"default": "", "tooltip": "A\nlabel."})},
        }


@pytest.mark.parametrize(
    "line",
    [
        "### Example",
        "`FUSEExample` · category `FUSE/example` · output node",
        "Does one thing well.",
        "| `images` | IMAGE |  | The video. |",
        '| `mode` | COMBO | `"box"` | Shape. |',
        "| `amount` | FLOAT 0.0..1.0 | `0.3` | Feather. |",
        '| `label` (optional) | STRING | `""` | A label. |',
        "| `images` | IMAGE | The frames. |",
        "| `mask` | MASK | Where \\| changed. |",
    ],
)
def test_node_markdown_lists_facts_inputs_and_outputs(line):
    text = node_markdown("FUSEExample", ExampleNode, "Example")
    assert line in text.splitlines(), f"missing line {line!r} in:\n{text}"


def test_replace_readme_section_rewrites_only_between_the_markers():
    text = "# Title\n<!-- node-reference:start (generated) -->\nold\nlines\n<!-- node-reference:end -->\n## After\n"
    updated = replace_readme_section(text, "new\n")
    assert updated == "# Title\n<!-- node-reference:start (generated) -->\nnew\n<!-- node-reference:end -->\n## After\n"
    assert readme_section(updated) == "new\n"


@pytest.mark.parametrize(
    "text",
    ["no markers at all\n", f"{END_MARKER}\n<!-- node-reference:start -->\n", "<!-- node-reference:start -->\nonly the start\n"],
)
def test_readme_without_both_markers_in_order_is_refused(text):
    with pytest.raises(ValueError, match="must contain a line starting with"):
        readme_section(text)


def test_write_readme_command_rewrites_the_section_once(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- node-reference:start -->\nstale\n<!-- node-reference:end -->\noutro\n")
    assert main(["nodes", "--write-readme", str(readme)]) == 0
    assert main(["nodes", "--write-readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- node-reference:start -->\n| Node | Id | Category |") and text.endswith(f"{END_MARKER}\noutro\n")
    assert readme_section(text).strip() == node_reference_markdown().strip()
    assert capsys.readouterr().out.splitlines() == [f"rewrote the node reference in {readme}", f"unchanged: the node reference in {readme}"]


def test_markdown_command_prints_the_reference(capsys):
    assert main(["nodes", "--markdown"]) == 0
    assert capsys.readouterr().out == node_reference_markdown()
