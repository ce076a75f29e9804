"""Explicit, verified model downloads: a catalogue of known files and one download function.

Nothing here runs at import time: a file is fetched only when a user asks for it (the
`comfyui-fuse models download NAME` command or the FUSE Download Model node with confirm on).

Every catalogue entry pins a URL (a fixed release or a fixed Hugging Face revision), the byte
size and the sha256 published for that file; the source of each checksum is noted beside it.
An entry without a verified sha256 is never downloaded: the user is told where to get it by hand.

How a download behaves:
- bytes stream into `<target>.part` in the target folder, hashed on the way; an existing .part
  is resumed with an HTTP Range request (206 appends; a server that ignores Range and answers
  200 restarts the file from the start);
- only a file of the catalogue size and sha256 is moved into place, with os.replace (atomic);
  an archive (InsightFace packs) is verified first, then its files are extracted into a
  staging folder that is renamed into place;
- the .part is KEPT when the transfer stopped but what arrived may be a valid beginning
  (connection refused or reset, timeout, truncated body, Ctrl-C / Cancel): running the download
  again resumes it, and the final sha256 check still guards the result. It is DELETED when the
  data is known to be wrong (size or sha256 mismatch, server refusing the range): nothing wrong
  is ever left to be resumed. The final file never exists unless it was verified.

Stdlib only (urllib, hashlib, zipfile): no host, no third-party package.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from typing import Callable

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # bytes read per step: one progress update per MiB
USER_AGENT = "comfyui-fuse-model-download"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(OSError):
    """A download failed; the message names the file, the URL and what to do."""


class _WrongData(Exception):
    """The server's bytes cannot be the catalogue file (size, range or checksum): drop the .part."""


@dataclass(frozen=True)
class ModelDownload:
    """A known model file.

    name: catalogue key; folder: FUSE model folder name (as models/store.MODEL_FOLDERS, e.g.
    "ultralytics_bbox"); filename: the file written into that folder, or for an archive the
    sub-folder its members are extracted into; url: a pinned download address; sha256 / size:
    of the downloaded bytes (sha256 None = no verified checksum, never downloaded; size None = no
    published byte count: the server's Content-Length is taken and the sha256 alone decides);
    licence: the terms users accept; members: for a zip archive, the files taken out of it.
    """

    name: str
    folder: str
    filename: str
    url: str
    sha256: str | None
    size: int | None
    licence: str
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 of {self.name} must be 64 lowercase hex digits or None, but got {self.sha256!r}")
        if self.size is not None and self.size <= 0:
            raise ValueError(f"size of {self.name} must be a positive byte count, but got {self.size}")
        for part in (self.filename, *self.members):
            if not part or os.path.basename(part) != part or part in (".", ".."):
                raise ValueError(f"filename and members of {self.name} must be plain file names, but got {part!r}")
        if urllib.parse.urlparse(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url of {self.name} must be an http(s) address, but got {self.url!r}")


_ADETAILER = "https://huggingface.co/Bingsu/adetailer/resolve/b0a075fd35454c86bb453a1ca06b29ffee704c20"
_WAV2LIP = "https://huggingface.co/Nekochu/Wav2Lip/resolve/fb925b05f0d353850ee0c56810e4545e274e2b5a"
_WAV2LIP_LICENCE = "Wav2Lip authors' terms: research, NON-COMMERCIAL use only"
_LATENTSYNC = "https://huggingface.co/ByteDance/LatentSync-1.5/resolve/32a20d29aead0498e3e885e90dbbe8027da1b61b"
_ADETAILER_LICENCE = "Apache-2.0 (Bingsu/adetailer model card; its first revisions said AGPL-3.0)"

CATALOGUE: dict[str, ModelDownload] = {
    entry.name: entry
    for entry in (
        # sha256 and size: Git LFS pointer of face_yolov8m.pt at Bingsu/adetailer revision b0a075f
        # (file page .../blob/b0a075fd.../face_yolov8m.pt; commit 53cc19d's diff shows the same
        # pointer as its parent b0a075f). The repository's later revisions re-saved the file.
        ModelDownload(
            "face_yolov8m", "ultralytics_bbox", "face_yolov8m.pt", f"{_ADETAILER}/face_yolov8m.pt",
            "f02b8a23e6f12bd2c1b1f6714f66f984c728fa41ed749d033e7d6dea511ef70c", 52_026_019,
            _ADETAILER_LICENCE,
        ),
        # sha256 and size: Git LFS pointer of face_yolov8n.pt at Bingsu/adetailer b0a075f (commit
        # 53cc19d's diff, parent side; file page at revision 1a67ee2, the last change before it).
        ModelDownload(
            "face_yolov8n", "ultralytics_bbox", "face_yolov8n.pt", f"{_ADETAILER}/face_yolov8n.pt",
            "00f65de68e220f21e15ad0e24efdfbb37dd89e6acbfd4e63452989eb0605bed8", 6_230_075,
            _ADETAILER_LICENCE,
        ),
        # sha256 and size of buffalo_l.zip: the digest on InsightFace's GitHub release assets, as
        # recorded by several projects that pin it, and the Git LFS pointer of the same zip
        # uploaded to huggingface.co/spaces/feishen29/IMAGDressing-v1 (ckpt/buffalo_l.zip).
        ModelDownload(
            "buffalo_l", "insightface", "buffalo_l", "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
            "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f", 288_621_354,
            "InsightFace model zoo: NON-COMMERCIAL research use only",
            members=("det_10g.onnx", "w600k_r50.onnx", "1k3d68.onnx", "2d106det.onnx", "genderage.onnx"),
        ),
        # sha256 and size: Git LFS pointers of GFPGANv1.4.pth re-uploaded to Hugging Face (e.g.
        # power2/TestModal commit fd3bdb0, yongxin99/final-prune commit 3808953; many file pages
        # agree). The URL is the one TencentARC's inference_gfpgan.py downloads.
        ModelDownload(
            "GFPGANv1.4", "facerestore_models", "GFPGANv1.4.pth", "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874,
            "Apache-2.0 (TencentARC/GFPGAN)",
        ),
        # sha256 and size: Git LFS pointers of codeformer.pth (v0.1.0) re-uploaded to Hugging
        # Face (mrpxl2/animetarotV51.safetensors commit f6f1cff, luadd/upscale commit 1b979bc).
        ModelDownload(
            "codeformer", "facerestore_models", "codeformer.pth", "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
            "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", 376_637_898,
            "S-Lab License 1.0: NON-COMMERCIAL use only (loading needs spandrel_extra_arches)",
        ),
        # The authors publish Wav2Lip weights on a SharePoint page that cannot be fetched
        # directly, so the URLs pin a Hugging Face mirror. sha256 and size: the Git LFS pointers
        # of that mirror's commit fb925b0, equal to those of independent mirrors
        # (Ftfyhh/wav2lip commit eb58fd0, steinhaug/cache-repository commit ba6c35b).
        ModelDownload(
            "wav2lip", "lipsync", "wav2lip.pth", f"{_WAV2LIP}/wav2lip.pth",
            "b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37", 435_807_851, _WAV2LIP_LICENCE,
        ),
        ModelDownload(
            "wav2lip_gan", "lipsync", "wav2lip_gan.pth", f"{_WAV2LIP}/wav2lip_gan.pth",
            "ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8", 435_801_865, _WAV2LIP_LICENCE,
        ),
        # SyncNet for the lip-sync scores (LSE-D / LSE-C). The authors serve syncnet_v2.model from
        # robots.ox.ac.uk over http only; LatentSync ships the same file in its Hugging Face
        # repository. sha256: recorded for the robots.ox.ac.uk file by several evaluation projects
        # that pin it, and for auxiliary/syncnet_v2.model of ByteDance/LatentSync-1.5 at revision
        # 32a20d2 by a setup script that checks it. No byte count is published with it: size None.
        ModelDownload(
            "syncnet_v2", "syncnet", "syncnet_v2.model", f"{_LATENTSYNC}/auxiliary/syncnet_v2.model",
            "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442", None,
            "syncnet_python (VGG, Oxford): released for research",
        ),
    )
}


def catalogue_entry(name: str) -> ModelDownload:
    """The catalogue entry called `name`; ValueError listing the known names otherwise."""
    if name not in CATALOGUE:
        raise ValueError(f"name must be one of {', '.join(CATALOGUE)}, but got {name!r}; see comfyui-fuse models list")
    return CATALOGUE[name]


def with_url_base(entry: ModelDownload, url_base: str) -> ModelDownload:
    """The entry with the scheme and host of its URL replaced by url_base (a mirror or a test server).

    A path in url_base is put in front of the catalogue path: "http://mirror/fuse" + "/x/y.pt".
    Size and sha256 stay: a mirror must serve the same bytes.
    """
    base = urllib.parse.urlparse(url_base)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(f"url_base must be an http(s) address such as http://127.0.0.1:8000, but got {url_base!r}")
    original = urllib.parse.urlparse(entry.url)
    url = urllib.parse.urlunparse((base.scheme, base.netloc, base.path.rstrip("/") + original.path, "", original.query, ""))
    return replace(entry, url=url)


def installed_files(entry: ModelDownload) -> list[str]:
    """The file names (relative to the model folder, "/"-separated) the entry installs."""
    if entry.members:
        return [f"{entry.filename}/{member}" for member in entry.members]
    return [entry.filename]


def is_installed(entry: ModelDownload, folder_files: list[str]) -> bool:
    """True when every file the entry installs is among folder_files (a model folder's listing)."""
    return set(installed_files(entry)) <= set(folder_files)


# installed_state() answers
INSTALLED = "yes"
VERIFIED = "yes, sha256 ok"
MISSING = "no"
WRONG_SIZE = "incomplete/wrong size"
WRONG_SHA256 = "sha256 mismatch"


def installed_state(entry: ModelDownload, directory: str, verify: bool = False) -> str:
    """Whether the entry's file in `directory` is the catalogue file: INSTALLED, MISSING, WRONG_SIZE,
    or with verify (reads the whole file) VERIFIED or WRONG_SHA256.

    A single file must have the catalogue size: a truncated or other file is not installed. An
    archive's members have no catalogue size or checksum, so for them only presence is checked."""
    paths = [os.path.join(directory, *name.split("/")) for name in installed_files(entry)]
    if not all(os.path.isfile(path) for path in paths):
        return MISSING
    if entry.members:
        return INSTALLED
    if entry.size is not None and os.path.getsize(paths[0]) != entry.size:
        return WRONG_SIZE
    if not verify or entry.sha256 is None:
        return INSTALLED
    digest = hashlib.sha256()
    _hash_file(paths[0], digest)
    return VERIFIED if digest.hexdigest() == entry.sha256 else WRONG_SHA256


def describe_download(entry: ModelDownload, directory: str) -> str:
    """One line for a person deciding whether to download: what, how big, from where, to where, licence."""
    size = "size not published" if entry.size is None else f"{entry.size / 1e6:.1f} MB"
    return f"{entry.name}: {size} from {entry.url} into {os.path.join(directory, entry.filename)}; licence: {entry.licence}"


def download_model(
    entry: ModelDownload,
    folder_dir: Callable[[str], str],
    *,
    on_progress: Callable[[int], None] | None = None,
    timeout: float = 60.0,
    urlopen: Callable = urllib.request.urlopen,
) -> str:
    """Download, verify and place one catalogue file; returns its path (file, or folder for an archive).

    folder_dir(folder) -> the directory to write into (e.g. host.model_folder_dirs(folder)[0]).
    on_progress(n) is called with the number of bytes received since the last call (bytes kept
    from an earlier, resumed attempt are reported once at the start); it may raise to cancel.
    timeout: seconds a connection or read may stall. urlopen: urllib.request.urlopen or an
    opener's .open (proxies, custom handlers).

    Files already in place are left alone (an archive only fills in its missing members); when
    nothing is missing, nothing is fetched and the path is returned. Raises ValueError for an entry
    without a verified sha256 (nothing is fetched) and DownloadError when the transfer or the
    verification fails; see the module docstring for which partial data is kept.
    """
    directory = folder_dir(entry.folder)
    target = os.path.join(directory, entry.filename)
    if entry.sha256 is None:
        raise ValueError(f"no verified checksum for {entry.name}; download it by hand from {entry.url} into {directory}")
    missing = _missing_files(entry, target)
    if not missing:
        log.info("%s is already installed at %s", entry.name, target)
        return target
    os.makedirs(directory, exist_ok=True)
    partial = target + (".zip.part" if entry.members else ".part")
    _fetch_verified(entry, partial, on_progress, timeout, urlopen)
    if entry.members:
        _extract_members(entry, partial, target, missing)
        os.remove(partial)
    else:
        os.replace(partial, target)
    log.info("downloaded %s to %s (sha256 verified)", entry.name, target)
    return target


def _fetch_verified(entry: ModelDownload, partial: str, on_progress, timeout: float, urlopen) -> None:
    """Leave exactly the catalogue bytes at `partial`, or raise (keeping or deleting it per the rule)."""
    try:
        digest = _stream_rest(entry, partial, on_progress, timeout, urlopen)
    except _WrongData as error:
        _remove(partial)
        raise DownloadError(f"{entry.name}: {entry.url} did not serve the expected file ({error}); nothing was kept. "
                            f"The file may have changed upstream: download it by hand and check it, or report it to ComfyUI-FUSE") from error
    except (OSError, http.client.HTTPException) as error:  # connection refused / reset, timeout, HTTP error, truncated body
        kept = _keep_if_not_empty(partial)
        again = f"run the download again to resume from the {os.path.getsize(partial)} bytes kept in {partial}" if kept else "run the download again"
        raise DownloadError(f"downloading {entry.name} from {entry.url} failed: {_reason(error)}; {again}, "
                            f"or download it by hand into {os.path.dirname(partial)}") from error
    except BaseException:  # Ctrl-C, the host's Cancel, a failing progress callback: keep what arrived
        _keep_if_not_empty(partial)
        raise
    if digest.hexdigest() != entry.sha256:
        _remove(partial)
        raise DownloadError(f"{entry.name}: the file from {entry.url} has sha256 {digest.hexdigest()}, expected {entry.sha256}; "
                            "it was deleted. Run the download again; if this repeats, the file changed upstream: download it by hand and check it")


def _stream_rest(entry: ModelDownload, partial: str, on_progress, timeout: float, urlopen):
    """Stream the rest of the file into `partial` until it holds all its bytes -> sha256 of all of them.

    The byte count is the catalogue's, or for an entry without one the server's (Content-Range
    total or Content-Length)."""
    digest = hashlib.sha256()
    size = entry.size
    kept = os.path.getsize(partial) if os.path.exists(partial) else 0
    if size is not None and kept > size:
        raise _WrongData(f"the partial file holds {kept} bytes, more than the {size} expected")
    if kept:
        _hash_file(partial, digest)
    if kept == size:  # a complete .part from an earlier run: only the checks are left
        _report(on_progress, kept)
        return digest
    request = urllib.request.Request(entry.url, headers={"User-Agent": USER_AGENT})
    if kept:
        request.add_header("Range", f"bytes={kept}-")
    try:
        response = urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and size is None and digest.hexdigest() == entry.sha256:
            _report(on_progress, kept)  # the whole file was already there
            return digest
        if error.code == 416:  # the server's file is shorter than what we already hold
            raise _WrongData(f"the server refused the range bytes={kept}- (HTTP 416)") from error
        raise
    with response:
        if kept and response.status == 206:
            content_range = response.headers.get("Content-Range", "").strip()
            if size is None:
                total = content_range.rpartition("/")[2]
                size = int(total) if total.isdigit() else None
            expected_range = f"bytes {kept}-{(size or 0) - 1}/{size}"
            if size is None or content_range != expected_range:
                raise _WrongData(f"asked for bytes {kept}- of {entry.size or 'the file'}, got Content-Range {response.headers.get('Content-Range')!r}")
            mode = "ab"
            _report(on_progress, kept)
        else:  # 200: the whole file (a server that ignores Range sends it all again)
            if kept:
                log.info("%s: the server ignored the range request; restarting from the first byte", entry.name)
            kept, digest, mode = 0, hashlib.sha256(), "wb"
        length = response.headers.get("Content-Length")
        if size is None and length is not None:
            size = kept + int(length)
        if length is not None and int(length) != size - kept:
            raise _WrongData(f"the server announced {int(length) + kept} bytes, the catalogue says {size}")
        with open(partial, mode) as sink:
            while chunk := response.read(CHUNK_SIZE):
                kept += len(chunk)
                if size is not None and kept > size:
                    raise _WrongData(f"the server sent more than the {size} bytes expected")
                sink.write(chunk)
                digest.update(chunk)
                _report(on_progress, len(chunk))
    if size is not None and kept < size:  # the body ended early without an error from http.client
        raise ConnectionError(f"the connection closed after {kept} of {size} bytes (truncated)")
    return digest


def _missing_files(entry: ModelDownload, target: str) -> list[str]:
    """The entry's files not yet at `target` (member names for an archive, else [filename] or [])."""
    if entry.members:
        return [member for member in entry.members if not os.path.exists(os.path.join(target, member))]
    return [] if os.path.exists(target) else [entry.filename]


def _extract_members(entry: ModelDownload, archive_path: str, target: str, members: list[str]) -> None:
    """Extract `members` from a verified zip into the folder `target`, through a staging folder.

    A new folder is renamed into place whole; into an existing folder (a partial install by hand)
    each missing file is renamed, and files already there are never touched. Only the listed
    members are read (by exact name), so no archive path can escape the folder. Some InsightFace
    packs nest their files in a folder named like the pack; both layouts work. On failure the
    staging folder is removed and the verified zip is kept for the next attempt.
    """
    staging = tempfile.mkdtemp(prefix=f".{entry.filename}.", suffix=".extracting", dir=os.path.dirname(target))
    try:
        with zipfile.ZipFile(archive_path) as archive:
            names = set(archive.namelist())
            for member in members:
                stored = next((name for name in (member, f"{entry.filename}/{member}") if name in names), None)
                if stored is None:
                    raise DownloadError(f"{entry.name}: the archive from {entry.url} has no {member} (it holds {', '.join(sorted(names))}); "
                                        f"report it to ComfyUI-FUSE, or extract it by hand into {target}")
                with archive.open(stored) as source, open(os.path.join(staging, member), "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_SIZE)
        if os.path.isdir(target):
            for member in members:
                os.replace(os.path.join(staging, member), os.path.join(target, member))
            os.rmdir(staging)
        else:
            os.replace(staging, target)
    except zipfile.BadZipFile as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"{entry.name}: {archive_path} passed its sha256 check but is not a readable zip ({error}); report it to ComfyUI-FUSE") from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _hash_file(path: str, digest) -> None:
    with open(path, "rb") as source:
        while block := source.read(CHUNK_SIZE):
            digest.update(block)


def _report(on_progress, count: int) -> None:
    if on_progress is not None and count:
        on_progress(count)


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def _keep_if_not_empty(path: str) -> bool:
    """Keep a .part that holds data (resumable); remove an empty one. True when kept."""
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return True
    _remove(path)
    return False


def _reason(error: BaseException) -> str:
    """A short human reason: 'connection refused', 'HTTP 404 Not Found', 'timed out', ..."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed early ({len(error.partial)} bytes in the last read)"
    return str(error) or type(error).__name__
