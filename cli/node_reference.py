"""The node reference (docs/nodes.md) and the README's node index, generated from the node definitions.

    comfyui-fuse nodes                   list node ids, display names and categories
    comfyui-fuse nodes --markdown        print the reference
    comfyui-fuse nodes --write-docs      rewrite the generated sections of docs/nodes.md and README.md
                                         (--write-readme is the same option, by its first name)

Per node: display name, id, category, description, a table of inputs (type, range, default,
tooltip) and one of outputs (type, tooltip). Combo options are not listed: several are the
model files of the machine that runs it, and the text must not depend on that (the tooltips say
what the choices are). A generated section sits between `<!-- NAME:start ... -->` and
`<!-- NAME:end -->` lines; tests/cli/test_node_reference.py fails when a section and the nodes disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import re

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_PATH = os.path.join(PACK_DIR, "README.md")
NODES_DOC_PATH = os.path.join(PACK_DIR, "docs", "nodes.md")
REFERENCE, INDEX = "node-reference", "node-index"
START_MARKER = f"<!-- {REFERENCE}:start"
END_MARKER = f"<!-- {REFERENCE}:end -->"
# What each generated section is called in messages.
SECTION_TITLES = {REFERENCE: "node reference", INDEX: "node index"}


def _cell(text) -> str:
    """Text that fits in one markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_text(spec) -> str:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, (list, tuple)):
        return "COMBO"
    if kind in ("INT", "FLOAT") and "min" in options and "max" in options:
        return f"{kind} {options['min']}..{options['max']}"
    return str(kind)


def _default_text(spec) -> str:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return f"`{json.dumps(options['default'])}`" if "default" in options else ""


def node_markdown(node_id: str, node_class, display_name: str) -> str:
    """The reference of one node class: heading, facts, description, inputs and outputs."""
    facts = [f"`{node_id}`", f"category `{node_class.CATEGORY}`"]
    if getattr(node_class, "OUTPUT_NODE", False):
        facts.append("output node")
    lines = [f"## {display_name}", "", " · ".join(facts), "", " ".join(getattr(node_class, "DESCRIPTION", "").split()), ""]
    inputs = node_class.INPUT_TYPES()
    rows = [(name, spec, section) for section in ("required", "optional") for name, spec in (inputs.get(section) or {}).items()]
    if rows:
        lines += ["| Input | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for name, spec, section in rows:
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            label = f"`{name}`" + (" (optional)" if section == "optional" else "")
            lines.append(f"| {label} | {_type_text(spec)} | {_default_text(spec)} | {_cell(options.get('tooltip', ''))} |")
        lines.append("")
    names = getattr(node_class, "RETURN_NAMES", None) or node_class.RETURN_TYPES
    tooltips = getattr(node_class, "OUTPUT_TOOLTIPS", None) or ("",) * len(node_class.RETURN_TYPES)
    if node_class.RETURN_TYPES:
        lines += ["| Output | Type | Description |", "| --- | --- | --- |"]
        for name, kind, tooltip in zip(names, node_class.RETURN_TYPES, tooltips):
            lines.append(f"| `{name}` | {kind} | {_cell(tooltip)} |")
        lines.append("")
    return "\n".join(lines)


def _pack_nodes(node_classes: dict | None, display_names: dict | None) -> tuple[dict, dict]:
    """The given nodes, or the pack's NODE_CLASS_MAPPINGS and display names (in menu order)."""
    if node_classes is None:
        from ..nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

        node_classes, display_names = NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    return node_classes, display_names or {}


def node_reference_markdown(node_classes: dict | None = None, display_names: dict | None = None) -> str:
    """The reference of every node: a summary table (node, id, category), then one section per node."""
    node_classes, display_names = _pack_nodes(node_classes, display_names)
    lines = ["| Node | Id | Category |", "| --- | --- | --- |"]
    for node_id, node_class in node_classes.items():
        lines.append(f"| [{display_names.get(node_id, node_id)}](#{anchor(display_names.get(node_id, node_id))}) | `{node_id}` | `{node_class.CATEGORY}` |")
    sections = [node_markdown(node_id, node_class, display_names.get(node_id, node_id)) for node_id, node_class in node_classes.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(sections)


def anchor(heading: str) -> str:
    """The link target GitHub gives a markdown heading: 'FUSE Face Detector' -> 'fuse-face-detector'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def summary(description: str) -> str:
    """The first sentence of a node description, or its first clause before a colon (outside brackets)."""
    text = " ".join(description.split())
    depth = 0
    for position, character in enumerate(text):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0 and character in ".:" and text[position + 1:position + 2] in ("", " "):
            return text[:position]
    return text


def node_index_markdown(node_classes: dict | None = None, display_names: dict | None = None) -> str:
    """README's node index: one line per node, linking to its section of docs/nodes.md."""
    node_classes, display_names = _pack_nodes(node_classes, display_names)
    lines = []
    for node_id, node_class in node_classes.items():
        name = display_names.get(node_id, node_id)
        lines.append(f"- [{name}](docs/nodes.md#{anchor(name)}): {summary(getattr(node_class, 'DESCRIPTION', ''))}.")
    return "\n".join(lines) + "\n"


GENERATORS = {REFERENCE: node_reference_markdown, INDEX: node_index_markdown}


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start", f"<!-- {name}:end -->"


def generated_section(text: str, name: str = REFERENCE) -> str:
    """What text holds between the markers of section `name` (without the marker lines)."""
    start_marker, end_marker = _markers(name)
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"the file must contain a line starting with {start_marker!r} and, after it, a line {end_marker!r}, but they are missing or out of order")
    return text[text.index("\n", start) + 1:end]


def replace_generated_section(text: str, markdown: str, name: str = REFERENCE) -> str:
    """text with section `name` replaced by markdown (the marker lines stay)."""
    current = generated_section(text, name)
    body_start = text.index("\n", text.find(_markers(name)[0])) + 1
    return text[:body_start] + markdown.rstrip("\n") + "\n" + text[body_start + len(current):]


def write_generated_sections(path: str) -> list[tuple[str, bool]]:
    """Rewrite every generated section the file at path holds -> [(section name, changed)].

    ValueError when it holds none."""
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    names = [name for name in GENERATORS if _markers(name)[0] in text]
    if not names:
        generated_section(text, REFERENCE)  # raises, naming the markers
    updated = text
    results = []
    for name in names:
        before = generated_section(updated, name)
        updated = replace_generated_section(updated, GENERATORS[name](), name)
        results.append((name, generated_section(updated, name) != before))
    if updated != text:
        partial = path + ".part"
        with open(partial, "w", encoding="utf-8") as stream:
            stream.write(updated)
        os.replace(partial, path)
    return results


def run_nodes(args: argparse.Namespace) -> int:
    if args.write_docs is not None:
        for path in [args.write_docs] if args.write_docs else [NODES_DOC_PATH, README_PATH]:
            for name, changed in write_generated_sections(path):
                print(f"{'rewrote' if changed else 'unchanged:'} the {SECTION_TITLES[name]} in {path}")
    elif args.markdown:
        print(node_reference_markdown(), end="")
    else:
        from ..nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

        for node_id, node_class in NODE_CLASS_MAPPINGS.items():
            print(f"{node_id:28s} {NODE_DISPLAY_NAME_MAPPINGS.get(node_id, node_id):32s} {node_class.CATEGORY}")
    return 0


def add_nodes_command(subparsers) -> None:
    parser = subparsers.add_parser("nodes", help="list the FUSE nodes, or print their reference as markdown", description="List every FUSE node (id, display name, category). --markdown prints the node reference of docs/nodes.md (inputs with types, defaults and tooltips; outputs); --write-docs rewrites the generated sections of docs/nodes.md (the reference) and README.md (the node index).")
    parser.add_argument("--markdown", action="store_true", help="print the node reference as markdown")
    parser.add_argument("--write-docs", "--write-readme", dest="write_docs", nargs="?", const="", default=None, metavar="FILE", help="rewrite the generated sections (between the node-reference / node-index markers) of FILE (default: the pack's docs/nodes.md and README.md)")
    parser.set_defaults(run=run_nodes)
