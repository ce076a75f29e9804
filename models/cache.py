"""The one cache of loaded models: keyed by file (path, modification time, size) and device.

Every model family (detectors, embedders, landmarkers, restorers, lipsync nets) keeps its loaded
models in a ModelCache of its own size, so a re-run of a workflow does not read the file again,
and a file replaced on disk is read anew.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, TypeVar

from .store import file_stamp

Model = TypeVar("Model")


class ModelCache:
    """load(name, path, loader, device) returns the cached model while the file is unchanged.

    The key is (name, absolute path, modification time, size, device); a model without a file
    (path None, e.g. OpenCV's built-in Haar cascade) is keyed by name and device. At most `size`
    models are kept, the least recently used is dropped first. A loader that raises caches nothing.
    """

    def __init__(self, size: int = 2) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, but got {size}")
        self.size = size
        self._models: "OrderedDict[tuple, object]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._models)

    def load(self, name: str, path: str | None, loader: Callable[[], Model], device=None) -> Model:
        """The model `loader()` makes, from the cache when this file and device were loaded before.
        FileNotFoundError when path names no file."""
        key = (name, None if path is None else file_stamp(path), str(device))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key, last=False)
                return self._models[key]
            model = loader()
            self._models[key] = model
            self._models.move_to_end(key, last=False)
            while len(self._models) > self.size:
                self._models.popitem(last=True)
            return model
