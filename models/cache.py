"""A small cache of loaded models, keyed by file and modification time, most recently used first."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable, TypeVar

Model = TypeVar("Model")


class ModelCache:
    """load(name, path, loader) returns the cached model while the file is unchanged.

    A file replaced on disk (new modification time or size) is loaded again; at most `size`
    models are kept, the least recently used is dropped first.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: "OrderedDict[tuple, object]" = OrderedDict()
        self._lock = threading.Lock()

    def load(self, name: str, path: str, loader: Callable[[str, str], Model]) -> Model:
        status = os.stat(path)
        key = (name, os.path.abspath(path), status.st_mtime_ns, status.st_size)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key, last=False)
                return self._models[key]
            model = loader(name, path)
            self._models[key] = model
            self._models.move_to_end(key, last=False)
            while len(self._models) > self.size:
                self._models.popitem(last=True)
            return model
