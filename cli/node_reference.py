"""The node reference: markdown generated from the node definitions, for README.md's Nodes section.

    comfyui-fuse nodes                   list node ids, display names and categories
    comfyui-fuse nodes --markdown        print the reference
    comfyui-fuse nodes --write-readme    rewrite README.md between the node-reference markers

Per node: display name, id, category, description, a table of inputs (type, range, default,
tooltip) and one of outputs (type, tooltip). Combo options are not listed: several are the
model files of the machine that runs it, and the text must not depend on that (the tooltips say
what the choices are). tests/test_node_reference.py fails when README.md and the nodes disagree.
"""

from __future__ import annotations

import argparse
import json
import os

START_MARKER = "<!-- node-reference:start"
END_MARKER = "<!-- node-reference:end -->"
README_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


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
    lines = [f"### {display_name}", "", " · ".join(facts), "", " ".join(getattr(node_class, "DESCRIPTION", "").split()), ""]
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


def node_reference_markdown(node_classes: dict | None = None, display_names: dict | None = None) -> str:
    """The reference of every node (default: the pack's NODE_CLASS_MAPPINGS, in menu order).

    Starts with a summary table (node, id, category), then one section per node."""
    if node_classes is None:
        from ..nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

        node_classes, display_names = NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    display_names = display_names or {}
    lines = ["| Node | Id | Category |", "| --- | --- | --- |"]
    for node_id, node_class in node_classes.items():
        lines.append(f"| {display_names.get(node_id, node_id)} | `{node_id}` | `{node_class.CATEGORY}` |")
    sections = [node_markdown(node_id, node_class, display_names.get(node_id, node_id)) for node_id, node_class in node_classes.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(sections)


def readme_section(text: str) -> str:
    """What README text holds between the node-reference markers (without the marker lines)."""
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README.md must contain a line starting with {START_MARKER!r} and, after it, a line {END_MARKER!r}, but they are missing or out of order")
    body_start = text.index("\n", start) + 1
    return text[body_start:end]


def replace_readme_section(text: str, markdown: str) -> str:
    """README text with the part between the markers replaced by markdown (the marker lines stay)."""
    current = readme_section(text)
    body_start = text.index("\n", text.find(START_MARKER)) + 1
    return text[:body_start] + markdown.rstrip("\n") + "\n" + text[body_start + len(current):]


def write_readme_section(path: str = README_PATH) -> bool:
    """Rewrite the node reference in the README at path; True if it changed."""
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    updated = replace_readme_section(text, node_reference_markdown())
    if updated == text:
        return False
    partial = path + ".part"
    with open(partial, "w", encoding="utf-8") as stream:
        stream.write(updated)
    os.replace(partial, path)
    return True


def run_nodes(args: argparse.Namespace) -> int:
    if args.write_readme:
        changed = write_readme_section(args.write_readme)
        print(f"{'rewrote' if changed else 'unchanged:'} the node reference in {args.write_readme}")
    elif args.markdown:
        print(node_reference_markdown(), end="")
    else:
        from ..nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

        for node_id, node_class in NODE_CLASS_MAPPINGS.items():
            print(f"{node_id:28s} {NODE_DISPLAY_NAME_MAPPINGS.get(node_id, node_id):32s} {node_class.CATEGORY}")
    return 0


def add_nodes_command(subparsers) -> None:
    parser = subparsers.add_parser("nodes", help="list the FUSE nodes, or print their reference as markdown", description="List every FUSE node (id, display name, category). --markdown prints the node reference of README.md (inputs with types, defaults and tooltips; outputs); --write-readme puts it into README.md between the node-reference markers.")
    parser.add_argument("--markdown", action="store_true", help="print the node reference as markdown")
    parser.add_argument("--write-readme", nargs="?", const=README_PATH, default=None, metavar="README", help="rewrite only the node reference section of README (default: the pack's README.md)")
    parser.set_defaults(run=run_nodes)
