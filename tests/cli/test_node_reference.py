"""docs/nodes.md (the node reference) and README.md's node index are generated from the node definitions,
and every input says what it does."""

import difflib
from pathlib import Path

import pytest

from comfyui_fuse.cli.app import main
from comfyui_fuse.cli.node_reference import END_MARKER, anchor, generated_section, node_index_markdown, node_markdown, node_reference_markdown, replace_generated_section, summary
from comfyui_fuse.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from comfyui_fuse.nodes.host import MODEL_SUBDIRS

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `comfyui-fuse nodes --write-docs` (it rewrites the generated sections of docs/nodes.md and README.md)"


@pytest.mark.parametrize(
    "path, section, generate",
    [("docs/nodes.md", "node-reference", node_reference_markdown), ("README.md", "node-index", node_index_markdown)],
    ids=["reference", "index"],
)
def test_generated_docs_match_the_node_definitions(path, section, generate):
    written, generated = generated_section((ROOT / path).read_text(), section).strip(), generate().strip()
    diff = "\n".join(list(difflib.unified_diff(written.splitlines(), generated.splitlines(), path, "generated", lineterm=""))[:40])
    assert written == generated, f"the {section} in {path} is out of date; {FIX}.\n{diff}"


def test_every_index_line_links_to_a_heading_of_the_reference():
    headings = {anchor(line[3:]) for line in (ROOT / "docs" / "nodes.md").read_text().splitlines() if line.startswith("## ")}
    lines = node_index_markdown().splitlines()
    assert len(lines) == len(NODE_CLASS_MAPPINGS), "one index line per node"
    for line, node_id in zip(lines, NODE_CLASS_MAPPINGS):
        name = NODE_DISPLAY_NAME_MAPPINGS[node_id]
        assert line.startswith(f"- [{name}](docs/nodes.md#{anchor(name)}): "), line
        assert anchor(name) in headings, f"{name}: docs/nodes.md has no heading with the anchor {anchor(name)}"


@pytest.mark.parametrize(
    "heading, expected",
    [("FUSE Face Detector", "fuse-face-detector"), ("FUSE Video KSampler", "fuse-video-ksampler"), ("A (b) c.d", "a-b-cd")],
)
def test_anchor_is_githubs_heading_link(heading, expected):
    assert anchor(heading) == expected


@pytest.mark.parametrize(
    "description, expected",
    [("Detects faces. Connect them.", "Detects faces"), ("Follows faces: global matching.", "Follows faces"), ("Wan 2.1 / 2.2 models", "Wan 2.1 / 2.2 models"), ("Lipsyncs (models/lipsync: a.pth). More.", "Lipsyncs (models/lipsync: a.pth)")],
)
def test_summary_is_the_first_sentence(description, expected):
    assert summary(description) == expected


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
    assert not missing, f"{node_id}: inputs without a tooltip: {missing}; the tooltip is the input's documentation in the editor and in docs/nodes.md"


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
        "## Example",
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


def test_replace_generated_section_rewrites_only_between_the_markers():
    text = "# Title\n<!-- node-reference:start (generated) -->\nold\nlines\n<!-- node-reference:end -->\n## After\n"
    updated = replace_generated_section(text, "new\n")
    assert updated == "# Title\n<!-- node-reference:start (generated) -->\nnew\n<!-- node-reference:end -->\n## After\n"
    assert generated_section(updated) == "new\n"


@pytest.mark.parametrize(
    "text",
    ["no markers at all\n", f"{END_MARKER}\n<!-- node-reference:start -->\n", "<!-- node-reference:start -->\nonly the start\n"],
)
def test_a_file_without_both_markers_in_order_is_refused(text):
    with pytest.raises(ValueError, match="must contain a line starting with"):
        generated_section(text)


def test_write_readme_command_rewrites_the_section_once(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- node-reference:start -->\nstale\n<!-- node-reference:end -->\noutro\n")
    assert main(["nodes", "--write-readme", str(readme)]) == 0
    assert main(["nodes", "--write-readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- node-reference:start -->\n| Node | Id | Category |") and text.endswith(f"{END_MARKER}\noutro\n")
    assert generated_section(text).strip() == node_reference_markdown().strip()
    assert capsys.readouterr().out.splitlines() == [f"rewrote the node reference in {readme}", f"unchanged: the node reference in {readme}"]


def test_write_docs_rewrites_every_generated_section_of_a_file(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("<!-- node-index:start -->\nold\n<!-- node-index:end -->\nmiddle\n<!-- node-reference:start -->\nold\n<!-- node-reference:end -->\n")
    assert main(["nodes", "--write-docs", str(page)]) == 0
    text = page.read_text()
    assert generated_section(text, "node-index") == node_index_markdown() and "\nmiddle\n" in text
    assert generated_section(text, "node-reference").strip() == node_reference_markdown().strip()
    assert capsys.readouterr().out.splitlines() == [f"rewrote the node reference in {page}", f"rewrote the node index in {page}"]


def test_a_file_without_markers_is_a_user_error(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("nothing generated here\n")
    assert main(["nodes", "--write-docs", str(page)]) == 2
    assert "must contain a line starting with '<!-- node-reference:start'" in capsys.readouterr().err
    assert page.read_text() == "nothing generated here\n"


def test_markdown_command_prints_the_reference(capsys):
    assert main(["nodes", "--markdown"]) == 0
    assert capsys.readouterr().out == node_reference_markdown()
