"""FUSEDownloadModel: declared for ComfyUI; reports without confirm; downloads into the host's folder with progress."""

import hashlib
import random

import pytest
from fuse_http_server import loopback_server

from comfyui_fuse.models.downloads import CATALOGUE, ModelDownload
from comfyui_fuse.nodes import download

DATA = random.Random(3).randbytes(200_000)


@pytest.fixture
def served_entry(monkeypatch):
    """(loopback server, a catalogue entry "blob" served by it into the lipsync folder)."""
    with loopback_server() as server:
        url = server.serve("/blob.pth", DATA)
        entry = ModelDownload("blob", "lipsync", "blob.pth", url, hashlib.sha256(DATA).hexdigest(), len(DATA), "test licence")
        monkeypatch.setitem(CATALOGUE, entry.name, entry)
        yield server, entry


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSE_MODELS_DIR", str(tmp_path))
    return tmp_path


def test_node_is_declared_for_comfyui():
    node = download.FUSEDownloadModel
    required = node.INPUT_TYPES()["required"]
    assert set(required) == {"name", "confirm"}
    for name, (_, options) in required.items():
        assert options.get("tooltip"), f"input {name!r} needs a tooltip"
    assert required["name"][0] == list(CATALOGUE), "the name combo lists the catalogue"
    assert required["confirm"] == ("BOOLEAN", required["confirm"][1]) and required["confirm"][1]["default"] is False, "downloads are opt-in"
    assert node.OUTPUT_NODE is True and node.RETURN_TYPES == ("STRING",) and len(node.OUTPUT_TOOLTIPS) == 1
    assert node.CATEGORY == "FUSE/models" and "NON-COMMERCIAL" in node.DESCRIPTION
    assert download.NODE_CLASS_MAPPINGS == {"FUSEDownloadModel": node}
    assert download.NODE_DISPLAY_NAME_MAPPINGS == {"FUSEDownloadModel": "FUSE Download Model"}


def test_without_confirm_it_only_reports(served_entry, models_dir):
    server, entry = served_entry
    result = download.FUSEDownloadModel().download("blob", False)
    report = result["result"][0]
    assert report.startswith("would download blob: 0.2 MB from http://127.0.0.1:") and "test licence" in report and "Turn confirm on" in report
    assert result["ui"]["text"] == [report]
    assert server.requests == [] and not (models_dir / "lipsync").exists(), "nothing may be fetched or created without confirm"


def test_with_confirm_it_downloads_into_the_host_folder_with_progress(served_entry, models_dir, monkeypatch):
    server, entry = served_entry
    totals, steps = [], []
    monkeypatch.setattr(download.host, "progress_callback", lambda total: totals.append(total) or steps.append)
    report = download.FUSEDownloadModel().download("blob", True)["result"][0]
    placed = models_dir / "lipsync" / "blob.pth"
    assert placed.read_bytes() == DATA and str(placed) in report and "sha256 verified" in report
    assert totals == [len(DATA)] and sum(steps) == len(DATA), "the host progress bar counts the bytes of the file"

    again = download.FUSEDownloadModel().download("blob", True)["result"][0]
    assert "already installed" in again and len(server.requests) == 1, "an installed model is not fetched again"
