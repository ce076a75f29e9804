"""Model downloads against a loopback HTTP server: verified, atomic, resumable; failures leave nothing wrong.

Every transfer goes to 127.0.0.1 (tests/fuse_http_server.py) with a 5 s timeout; the file is a
few hundred KB of seeded random bytes and its catalogue entry is built here for it.
"""

import contextlib
import hashlib
import io
import os
import random
import re
import urllib.parse
import zipfile

import pytest
from fuse_http_server import closed_port_url, loopback_server

from comfyui_fuse.cli import app as cli
from comfyui_fuse.models.downloads import CATALOGUE, DownloadError, ModelDownload, catalogue_entry, download_model, is_installed, with_url_base
from comfyui_fuse.nodes import host

DATA = random.Random(7).randbytes(300_000)
TIMEOUT = 5.0


def make_entry(url: str, data: bytes = DATA, **changes) -> ModelDownload:
    """A catalogue entry for bytes served by the test server (folder lipsync, file blob.pth)."""
    fields = dict(name="blob", folder="lipsync", filename="blob.pth", url=url, sha256=hashlib.sha256(data).hexdigest(), size=len(data), licence="test data")
    fields.update(changes)
    return ModelDownload(**fields)


@pytest.fixture
def server():
    with loopback_server() as running:
        yield running


@pytest.fixture
def folder(tmp_path):
    """(resolver for download_model, the lipsync directory it resolves to)."""
    directory = tmp_path / "models" / "lipsync"
    return (lambda name: str(tmp_path / "models" / name)), directory


def download(entry, folder, progress=None):
    return download_model(entry, folder[0], on_progress=progress, timeout=TIMEOUT)


def listing(directory) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_a_good_file_is_verified_and_placed(server, folder):
    entry = make_entry(server.serve("/files/blob.pth", DATA))
    steps = []
    path = download(entry, folder, steps.append)
    assert path == str(folder[1] / "blob.pth")
    assert open(path, "rb").read() == DATA, "the placed file must hold exactly the served bytes"
    assert listing(folder[1]) == ["blob.pth"], "no .part or staging file may remain after a good download"
    assert sum(steps) == len(DATA), f"progress must add up to the file size, got {sum(steps)} of {len(DATA)}"
    assert server.requests == [("/files/blob.pth", None)], "a fresh download asks for the whole file once"


def test_an_installed_file_is_left_alone_and_nothing_is_fetched(server, folder):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth").write_bytes(b"the user's own file")
    path = download(make_entry(server.serve("/files/blob.pth", DATA)), folder)
    assert open(path, "rb").read() == b"the user's own file", "an existing model file must never be overwritten"
    assert server.requests == [], "nothing is fetched when the file is already there"


def test_a_truncated_transfer_fails_keeps_the_part_and_resumes(server, folder):
    cut = 120_000
    broken = make_entry(server.serve("/broken/blob.pth", DATA, mode="truncated", cut=cut))
    with pytest.raises(DownloadError, match=r"downloading blob from http://127\.0\.0\.1:\d+/broken/blob\.pth failed: .*run the download again to resume"):
        download(broken, folder)
    assert listing(folder[1]) == ["blob.pth.part"], "a truncated transfer must leave no final file, only the resumable .part"
    assert (folder[1] / "blob.pth.part").read_bytes() == DATA[:cut], "the kept .part must be exactly the bytes that arrived"

    steps = []
    path = download(make_entry(server.serve("/files/blob.pth", DATA)), folder, steps.append)
    assert server.requests[-1] == ("/files/blob.pth", f"bytes={cut}-"), "the second run must ask only for the missing bytes"
    assert open(path, "rb").read() == DATA and listing(folder[1]) == ["blob.pth"]
    assert sum(steps) == len(DATA), "a resumed download reports the kept bytes once, then the new ones"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"sha256": hashlib.sha256(b"another file").hexdigest()}, r"has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; it was deleted"),
        ({"size": len(DATA) + 10}, r"did not serve the expected file \(the server announced 300000 bytes, the catalogue says 300010\)"),
        ({"size": len(DATA) - 10}, r"did not serve the expected file"),
    ],
    ids=["wrong-hash", "shorter-than-catalogue", "longer-than-catalogue"],
)
def test_wrong_data_fails_and_leaves_nothing(server, folder, changes, message):
    entry = make_entry(server.serve("/files/blob.pth", DATA), **changes)
    with pytest.raises(DownloadError, match=message):
        download(entry, folder)
    assert listing(folder[1]) == [], f"wrong data must leave neither a final file nor a .part, found {listing(folder[1])}"


def test_an_entry_without_a_published_size_takes_the_servers_and_checks_the_sha256(server, folder):
    entry = make_entry(server.serve("/files/blob.pth", DATA), size=None)
    steps = []
    path = download(entry, folder, steps.append)
    assert open(path, "rb").read() == DATA and listing(folder[1]) == ["blob.pth"]
    assert sum(steps) == len(DATA)


def test_an_entry_without_a_published_size_resumes_a_truncated_transfer(server, folder):
    cut = 100_000
    with pytest.raises(DownloadError, match="run the download again to resume"):
        download(make_entry(server.serve("/broken/blob.pth", DATA, mode="truncated", cut=cut), size=None), folder)
    assert (folder[1] / "blob.pth.part").read_bytes() == DATA[:cut], "the server's Content-Length says the body was cut"
    path = download(make_entry(server.serve("/files/blob.pth", DATA), size=None), folder)
    assert server.requests[-1] == ("/files/blob.pth", f"bytes={cut}-") and open(path, "rb").read() == DATA


def test_an_entry_without_a_published_size_still_refuses_other_bytes(server, folder):
    entry = make_entry(server.serve("/files/blob.pth", DATA), size=None, sha256=hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(DownloadError, match="it was deleted"):
        download(entry, folder)
    assert listing(folder[1]) == []


def test_a_server_that_is_gone_fails_clearly_and_leaves_nothing(folder):
    url = closed_port_url("/files/blob.pth")
    with pytest.raises(DownloadError, match=rf"downloading blob from {re.escape(url)} failed: .*refused.*download it by hand into"):
        download(make_entry(url), folder)
    assert listing(folder[1]) == [], "a refused connection must leave nothing in the folder"


def test_a_missing_file_on_the_server_names_the_http_error(server, folder):
    with pytest.raises(DownloadError, match=r"failed: HTTP 404 .*run the download again"):
        download(make_entry(server.base + "/nowhere/blob.pth"), folder)
    assert listing(folder[1]) == []


@pytest.mark.parametrize(
    "kept, mode, expected_range",
    [
        (DATA[:100_000], "range", "bytes=100000-"),  # a valid beginning: only the rest is fetched
        (b"\0" * 100_000, "full", "bytes=100000-"),  # the server ignores Range (200): the file restarts from byte 0
        (DATA, "range", None),  # a complete .part: verified and placed without any request
    ],
    ids=["resume-206", "range-ignored-restarts", "complete-part"],
)
def test_an_existing_part_is_resumed_or_restarted(server, folder, kept, mode, expected_range):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth.part").write_bytes(kept)
    path = download(make_entry(server.serve("/files/blob.pth", DATA, mode=mode)), folder)
    assert open(path, "rb").read() == DATA, "the result must be the served file, whatever the .part held"
    assert listing(folder[1]) == ["blob.pth"]
    assert [request[1] for request in server.requests] == ([expected_range] if expected_range else []), f"unexpected requests {server.requests}"


def test_a_resume_keeps_its_range_through_a_redirect(server, folder):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth.part").write_bytes(DATA[:50_000])
    server.serve("/cdn/blob.pth", DATA)
    path = download(make_entry(server.redirect("/files/blob.pth", "/cdn/blob.pth")), folder)
    assert open(path, "rb").read() == DATA
    assert server.requests == [("/files/blob.pth", "bytes=50000-"), ("/cdn/blob.pth", "bytes=50000-")], "the Range header must follow the redirect to the CDN"


def test_a_part_with_wrong_bytes_is_deleted_after_the_hash_check(server, folder):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth.part").write_bytes(b"\0" * 100_000)  # resumed with Range, so the garbage stays in
    with pytest.raises(DownloadError, match="has sha256"):
        download(make_entry(server.serve("/files/blob.pth", DATA)), folder)
    assert listing(folder[1]) == [], "a .part that fails the sha256 check must be deleted so the next run starts clean"
    assert open(download(make_entry(server.base + "/files/blob.pth"), folder), "rb").read() == DATA


def test_a_part_longer_than_the_file_is_deleted(server, folder):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth.part").write_bytes(DATA + b"extra")
    with pytest.raises(DownloadError, match="more than the 300000 expected"):
        download(make_entry(server.serve("/files/blob.pth", DATA)), folder)
    assert listing(folder[1]) == [] and server.requests == []


def test_a_part_the_server_cannot_extend_is_deleted(server, folder):
    folder[1].mkdir(parents=True)
    (folder[1] / "blob.pth.part").write_bytes(DATA)  # the server's whole file, yet the catalogue expects 10 more bytes
    with pytest.raises(DownloadError, match=r"refused the range bytes=300000- \(HTTP 416\)"):
        download(make_entry(server.serve("/files/blob.pth", DATA), size=len(DATA) + 10), folder)
    assert listing(folder[1]) == [], "a .part the server cannot continue is useless and must be deleted"


def test_an_interrupted_download_keeps_its_part(server, folder):
    def cancel(count):
        raise KeyboardInterrupt  # what Ctrl-C or the host's Cancel does inside the progress callback

    with pytest.raises(KeyboardInterrupt):
        download(make_entry(server.serve("/files/blob.pth", DATA)), folder, cancel)
    part = folder[1] / "blob.pth.part"
    assert listing(folder[1]) == ["blob.pth.part"] and DATA.startswith(part.read_bytes()), "an interruption keeps the bytes that arrived"


def test_an_entry_without_a_verified_checksum_is_refused(server, folder):
    url = server.serve("/files/blob.pth", DATA)
    with pytest.raises(ValueError, match=rf"no verified checksum for blob; download it by hand from {re.escape(url)} into .*lipsync"):
        download(make_entry(url, sha256=None), folder)
    assert server.requests == [] and listing(folder[1]) == [], "an unverified entry must never be fetched"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("prefix", ["", "pack/"], ids=["flat", "nested-in-pack-folder"])
def test_an_archive_is_verified_then_extracted_into_its_folder(server, tmp_path, prefix):
    members = {"det.onnx": DATA[:1000], "rec.onnx": DATA[1000:5000]}
    archive = zip_bytes({prefix + name: data for name, data in members.items()} | {prefix + "readme.txt": b"not taken"})
    entry = make_entry(server.serve("/files/pack.zip", archive), archive, folder="insightface", filename="pack", members=tuple(members))
    directory = tmp_path / "insightface"
    path = download_model(entry, lambda name: str(tmp_path / name), timeout=TIMEOUT)
    assert path == str(directory / "pack")
    assert sorted(os.listdir(path)) == sorted(members), "only the listed members are extracted"
    for name, data in members.items():
        assert (directory / "pack" / name).read_bytes() == data
    assert os.listdir(directory) == ["pack"], "the zip .part and the staging folder must be gone"
    assert is_installed(entry, ["pack/det.onnx", "pack/rec.onnx", "other.onnx"])


def test_an_archive_fills_in_a_partial_install_without_touching_its_files(server, tmp_path):
    archive = zip_bytes({"det.onnx": b"from the archive", "rec.onnx": b"recogniser"})
    entry = make_entry(server.serve("/files/pack.zip", archive), archive, folder="insightface", filename="pack", members=("det.onnx", "rec.onnx"))
    pack = tmp_path / "insightface" / "pack"
    pack.mkdir(parents=True)
    (pack / "det.onnx").write_bytes(b"the user's own detector")
    download_model(entry, lambda name: str(tmp_path / name), timeout=TIMEOUT)
    assert (pack / "det.onnx").read_bytes() == b"the user's own detector", "a file the user put there is never replaced"
    assert (pack / "rec.onnx").read_bytes() == b"recogniser", "the missing member is added"
    assert os.listdir(tmp_path / "insightface") == ["pack"]
    assert len(server.requests) == 1
    download_model(entry, lambda name: str(tmp_path / name), timeout=TIMEOUT)
    assert len(server.requests) == 1, "a complete pack is not fetched again"


def test_an_archive_missing_a_member_fails_and_places_nothing(server, tmp_path):
    archive = zip_bytes({"det.onnx": b"x"})
    entry = make_entry(server.serve("/files/pack.zip", archive), archive, folder="insightface", filename="pack", members=("det.onnx", "rec.onnx"))
    with pytest.raises(DownloadError, match="the archive from .* has no rec.onnx"):
        download_model(entry, lambda name: str(tmp_path / name), timeout=TIMEOUT)
    assert os.listdir(tmp_path / "insightface") == ["pack.zip.part"], "the verified zip stays for the next attempt; no folder is placed"


@pytest.mark.parametrize(
    "url_base, expected",
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/Bingsu/adetailer/resolve/rev/face.pt"),
        ("https://mirror.example/fuse/", "https://mirror.example/fuse/Bingsu/adetailer/resolve/rev/face.pt"),
    ],
)
def test_url_base_replaces_scheme_and_host(url_base, expected):
    entry = make_entry("https://huggingface.co/Bingsu/adetailer/resolve/rev/face.pt")
    moved = with_url_base(entry, url_base)
    assert moved.url == expected and (moved.sha256, moved.size) == (entry.sha256, entry.size), "a mirror must still match the catalogue checksum"


@pytest.mark.parametrize("url_base", ["127.0.0.1:8000", "ftp://host", ""])
def test_url_base_must_be_an_http_address(url_base):
    with pytest.raises(ValueError, match="url_base must be an http"):
        with_url_base(make_entry("https://example.org/a.pt"), url_base)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"sha256": "ABC"}, "sha256 of blob must be 64 lowercase hex digits or None"),
        ({"size": 0}, "size of blob must be a positive byte count"),
        ({"filename": "../blob.pth"}, "must be plain file names"),
        ({"members": ("a/b.onnx",)}, "must be plain file names"),
        ({"url": "file:///etc/passwd"}, "url of blob must be an http"),
    ],
)
def test_entries_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        make_entry(**{"url": "https://example.org/blob.pth", **changes})


def test_unknown_names_are_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"name must be one of face_yolov8m, .*syncnet_v2, but got 'yolo'"):
        catalogue_entry("yolo")


@pytest.mark.parametrize("entry", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_catalogue_entries_are_pinned_verified_and_go_where_fuse_reads(entry):
    assert entry.sha256 is not None, f"{entry.name}: every shipped entry has a checksum found in a public record"
    assert entry.folder in host.MODEL_FOLDERS, f"{entry.name}: {entry.folder} is not a FUSE model folder"
    for name in entry.members or (entry.filename,):
        assert name.lower().endswith(host.MODEL_FOLDERS[entry.folder]), f"{entry.name}: {name} would not be listed in {entry.folder}"
    url = urllib.parse.urlparse(entry.url)
    assert url.scheme == "https", f"{entry.name}: downloads must use https, got {entry.url}"
    if url.netloc == "huggingface.co":
        assert re.search(r"/resolve/[0-9a-f]{40}/", url.path), f"{entry.name}: a Hugging Face URL must pin a revision, not a branch: {entry.url}"
    else:
        assert "/releases/download/" in url.path, f"{entry.name}: a GitHub URL must name a release: {entry.url}"
    assert entry.licence, f"{entry.name}: users must see the licence"


def test_non_commercial_models_say_so():
    flagged = sorted(name for name, entry in CATALOGUE.items() if "NON-COMMERCIAL" in entry.licence)
    assert flagged == ["buffalo_l", "codeformer", "wav2lip", "wav2lip_gan"]


def test_the_syncnet_entry_goes_to_the_syncnet_folder_with_its_published_sha256():
    entry = catalogue_entry("syncnet_v2")
    assert (entry.folder, entry.filename) == ("syncnet", "syncnet_v2.model")
    assert entry.sha256 == "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442"
    assert entry.size is None, "no byte count is published for syncnet_v2.model: the server's is taken"


# --- the command line -------------------------------------------------------------------------


def run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_entry(monkeypatch):
    """A catalogue entry named blob whose (unreachable) URL only works through --url-base."""
    entry = make_entry("https://models.invalid/files/blob.pth")
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    return entry


def test_cli_downloads_through_url_base_into_the_models_dir(server, tmp_path, cli_entry):
    server.serve("/files/blob.pth", DATA)
    code, out, err = run_cli(["models", "download", "blob", "--models-dir", tmp_path / "models", "--url-base", server.base])
    assert code == 0, f"models download failed: {err}"
    placed = tmp_path / "models" / "lipsync" / "blob.pth"
    assert placed.read_bytes() == DATA and f"wrote {placed}" in out
    assert "licence: test data" in out, "the user sees the licence before the download starts"

    code, out, err = run_cli(["models", "download", "blob", "--models-dir", tmp_path / "models", "--url-base", server.base])
    assert code == 0 and "already installed" in out and len(server.requests) == 1, "a second run fetches nothing"


def test_cli_list_shows_installed_and_licence(tmp_path, cli_entry):
    (tmp_path / "lipsync").mkdir()
    (tmp_path / "lipsync" / "blob.pth").write_bytes(DATA)  # installed means the catalogue size (tests/cli/test_models.py)
    code, out, err = run_cli(["models", "list", "--models-dir", tmp_path])
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(CATALOGUE) <= set(rows), f"every catalogue entry is listed, got {sorted(rows)}"
    assert rows["blob"].split()[1:4] == ["lipsync", "0.3MB", "yes"] and rows["blob"].endswith("test data")
    assert rows["face_yolov8m"].split()[1:4] == ["ultralytics/bbox", "52.0MB", "no"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["models", "download", "nope"], "name must be one of"),
        (["models", "download", "blob", "--url-base", "localhost"], "url_base must be an http"),
    ],
)
def test_cli_user_errors_exit_2(tmp_path, cli_entry, argv, message):
    code, _, err = run_cli(argv + ["--models-dir", tmp_path])
    assert code == 2 and message in err, f"expected exit 2 with {message!r}, got {code}: {err}"


def test_cli_reports_a_failed_download_and_leaves_nothing(tmp_path, cli_entry):
    url = urllib.parse.urlparse(closed_port_url())
    code, _, err = run_cli(["models", "download", "blob", "--models-dir", tmp_path, "--url-base", f"http://{url.netloc}"])
    assert code == 2 and "comfyui-fuse models: error: downloading blob from" in err and "refused" in err, err
    assert listing(tmp_path / "lipsync") == []
