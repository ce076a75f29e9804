"""README.md and docs/*.md: a short README that opens with the two commands, and docs that stand on
their own (no path outside the repository, no internal work-item numbers, links that resolve)."""

import re
from pathlib import Path

import pytest

from comfyui_fuse.cli.node_reference import anchor

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").glob("*.md")])
README_LIMIT = 15_000  # bytes
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
WORK_ITEM = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md must stay within {README_LIMIT} bytes, but has {size}; move reference material to docs/"


def test_readme_opens_with_exactly_the_two_commands_for_a_fresh_machine():
    text = README.read_text()
    block = re.search(r"```\w*\n(.*?)```", text, re.DOTALL)
    assert block and text.index(block.group(0)) < text.index("\n## "), "README.md must open with a code block, before the first section"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./dev.sh demo", "./dev.sh test"], f"README.md must open with exactly `./dev.sh demo` and `./dev.sh test`, but opens with {commands}"


def test_there_are_docs_to_check():
    names = {path.name for path in DOCS}
    assert {"README.md", "architecture.md", "nodes.md", "cli.md", "benchmarks.md", "troubleshooting.md"} <= names, sorted(names)


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_no_internal_references(path):
    text = path.read_text()
    assert "../shared" not in text, f"{doc_id(path)} points at ../shared, which a user of the repository does not have"
    found = WORK_ITEM.findall(text)
    assert not found, f"{doc_id(path)} names internal work items {found}; say what the thing is instead"


def headings(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_relative_links_resolve_inside_the_repository(path):
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.is_relative_to(ROOT), f"{doc_id(path)} links outside the repository: {target}"
        assert linked.exists(), f"{doc_id(path)} links to {target}, which does not exist"
        if fragment and linked.suffix == ".md":
            assert fragment in headings(linked), f"{doc_id(path)} links to {target}, but {doc_id(linked)} has no heading with that anchor"
