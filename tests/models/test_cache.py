"""ModelCache: one cache for every model family, keyed by file (path, mtime, size) and device."""

import os

import pytest

from comfyui_fuse.models.cache import ModelCache


class Loads:
    """A loader that makes a new object per call and counts the calls."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return object()


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    return str(path)


def test_an_unchanged_file_is_loaded_once_per_device(model_file):
    cache, loads = ModelCache(size=3), Loads()
    first = cache.load("m", model_file, loads, device="cpu")
    assert cache.load("m", model_file, loads, device="cpu") is first and loads.count == 1
    assert cache.load("m", model_file, loads, device="cuda:0") is not first and loads.count == 2, "another device is another model"


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_a_replaced_file_is_loaded_again(model_file, change):
    cache, loads = ModelCache(), Loads()
    first = cache.load("m", model_file, loads)
    status = os.stat(model_file)
    if change == "mtime":
        os.utime(model_file, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    else:
        with open(model_file, "ab") as handle:
            handle.write(b"more")
        os.utime(model_file, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert cache.load("m", model_file, loads) is not first and loads.count == 2, f"a new {change} must reload the file"


def test_models_without_files_are_keyed_by_name_and_the_least_recently_used_goes_first():
    cache, loads = ModelCache(size=2), Loads()
    a = cache.load("a", None, loads)
    b = cache.load("b", None, loads)
    assert cache.load("a", None, loads) is a, "a is now the most recently used"
    cache.load("c", None, loads)
    assert len(cache) == 2 and cache.load("a", None, loads) is a and loads.count == 3
    assert cache.load("b", None, loads) is not b, "b was the least recently used, so it was dropped"


def test_errors_are_not_cached_and_missing_files_raise(tmp_path):
    cache = ModelCache()

    def broken():
        raise ValueError("corrupt")

    for _ in range(2):
        with pytest.raises(ValueError, match="corrupt"):
            cache.load("m", None, broken)
    assert len(cache) == 0
    with pytest.raises(FileNotFoundError):
        cache.load("m", str(tmp_path / "missing.pt"), Loads())
    with pytest.raises(ValueError, match="size must be at least 1"):
        ModelCache(size=0)
