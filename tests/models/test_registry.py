"""The one registry pattern: ids, order, the named 'nothing matches' error; dropdown registries."""

import os
from dataclasses import dataclass

import pytest

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.models.registry import FileModelRegistry, ModelBackend, Registry, UnsupportedModelError


@dataclass(frozen=True)
class Arch:
    id: str
    detect: object = None


class UnsupportedToyModel(UnsupportedModelError):
    pass


def test_a_registry_keeps_order_rejects_duplicates_and_finds_the_first_match():
    registry = Registry("toy architecture", error=UnsupportedToyModel)
    big, small, tiny = Arch("big"), Arch("small"), Arch("tiny")
    for arch in (big, small, tiny):
        assert registry.register(arch) is arch
    assert list(registry) == ["big", "small", "tiny"] and registry["small"] is small and len(registry) == 3
    assert registry.find(lambda arch: arch.id.startswith(("s", "t")), "unused") is small, "entries are tried in registration order"
    with pytest.raises(ValueError, match="toy architecture id must be unique, but 'big' is already registered"):
        registry.register(Arch("big"))
    with pytest.raises(ValueError, match="toy architecture id must be a non-empty str, but got ''"):
        registry.register(Arch(""))
    with pytest.raises(UnsupportedToyModel, match="no toy fits"):
        registry.find(lambda arch: False, "no toy fits")
    assert issubclass(UnsupportedToyModel, ValueError), "callers that catch ValueError keep working"


def loader(calls):
    def load(name, path, device):
        calls.append((name, path, device))
        return {"name": name, "path": path, "device": device}

    return load


@pytest.fixture
def toys():
    """A dropdown registry: 'net' models from the lipsync folder ('auto' takes only *_good files), a built-in."""
    calls = []
    registry = FileModelRegistry("toy", example="net/good.pth", with_none=True, cache_size=2)
    registry.register(ModelBackend(id="net", load=loader(calls), folder="lipsync", offers=lambda f: f.endswith(".pth"), auto_picks=lambda f: "good" in f))
    registry.register(ModelBackend(id="builtin", load=loader(calls), option="built-in", available=lambda: True))
    return registry, calls


def test_options_start_with_auto_and_none_then_files_then_builtins(toys):
    registry, _ = toys
    models = FakeModelFolders({"lipsync": ["a_good.pth", "b.pth", "notes.txt"]})
    assert registry.options(models) == ["auto", "none", "net/a_good.pth", "net/b.pth", "built-in"]
    assert registry.fixed_options() == ["auto", "none", "built-in"]


@pytest.mark.parametrize(
    "files, option, expected",
    [
        (["b.pth", "c_good.pth"], "auto", ("net", "c_good.pth")),  # the first file auto may pick
        (["b.pth"], "auto", ("builtin", None)),  # no good file: the next backend
        ([], "none", None),
        ([], "net/sub/x.pth", ("net", "sub/x.pth")),  # named files need not be listed
        ([], "built-in", ("builtin", None)),
    ],
)
def test_options_resolve_to_a_backend_and_file(toys, files, option, expected):
    registry, _ = toys
    choice = registry.resolve(option, FakeModelFolders({"lipsync": files}))
    assert (None if choice is None else (choice.backend.id, choice.file)) == expected


@pytest.mark.parametrize("option, error, message", [("net/", UnsupportedModelError, "toy must be one of 'auto', 'none', 'built-in' or a listed model such as 'net/good.pth', but got 'net/'"), (1, TypeError, "toy must be a str such as 'auto', but got int")])
def test_unknown_options_are_refused(toys, option, error, message):
    registry, _ = toys
    with pytest.raises(error, match=message):
        registry.resolve(option, FakeModelFolders())


def test_a_backend_has_a_folder_or_an_option():
    with pytest.raises(ValueError, match="must have either a model folder or a fixed option"):
        ModelBackend(id="both", load=loader([]), folder="lipsync", option="both")


def test_loading_is_cached_per_file_and_device(toys, tmp_path):
    registry, calls = toys
    (tmp_path / "a_good.pth").write_bytes(b"w")
    models = FakeModelFolders({"lipsync": ["a_good.pth"]}, directory=tmp_path)
    first = registry.load("auto", models, device="cpu")
    assert first == {"name": "net/a_good.pth", "path": str(tmp_path / "a_good.pth"), "device": "cpu"}
    assert registry.load("net/a_good.pth", models, device="cpu") is first, "auto and the named option are one cached model"
    assert registry.load("none", models) is None and len(calls) == 1
    with pytest.raises(FileNotFoundError, match=r"toy model 'net/gone.pth' was not found at .*gone.pth; put the file in the lipsync model folder or choose another toy"):
        registry.load("net/gone.pth", models)


def test_the_fingerprint_follows_what_an_option_loads(toys, tmp_path):
    registry, _ = toys
    empty = FakeModelFolders({"lipsync": []}, directory=tmp_path)
    builtin = registry.fingerprint("auto", empty)
    assert builtin == registry.fingerprint("built-in", empty).replace("built-in:", "auto:"), f"auto chose the built-in: {builtin!r}"
    (tmp_path / "a_good.pth").write_bytes(b"w")
    listed = FakeModelFolders({"lipsync": ["a_good.pth"]}, directory=tmp_path)
    with_file = registry.fingerprint("auto", listed)
    assert with_file != builtin and "net/a_good.pth" in with_file
    status = os.stat(tmp_path / "a_good.pth")
    os.utime(tmp_path / "a_good.pth", ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    assert registry.fingerprint("auto", listed) != with_file, "a replaced file changes the fingerprint"
    assert "FileNotFoundError" in registry.fingerprint("net/gone.pth", listed) and "UnsupportedModelError" in registry.fingerprint("nope", listed), "errors are described, never raised"
    assert registry.fingerprint(None, listed) is None, "no fingerprint for a value the host does not tell"
