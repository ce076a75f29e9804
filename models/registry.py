"""One registry pattern for every model family: detectors, embedders, landmarkers, restorers, lipsync.

As spandrel's ArchRegistry: each entry registers an id; a Registry rejects a duplicate id, keeps
registration order, tries its entries in that order and raises one named exception,
UnsupportedModelError (or a family's subclass of it), when none matches.

The families chosen by a dropdown of model files (detectors, embedders, landmarkers) use a
FileModelRegistry of ModelBackend entries: it makes the dropdown options ("auto", "none",
"<id>/<file>", fixed options of backends without files), resolves an option to a backend and a
file, loads it through the one ModelCache, and fingerprints what an option resolves to, so a node
runs again when "auto" would choose another file or the chosen file changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple, TypeVar

from .cache import ModelCache
from .store import ModelFolders, file_stamp

log = logging.getLogger(__name__)

AUTO_OPTION = "auto"
NONE_OPTION = "none"

Entry = TypeVar("Entry")


class UnsupportedModelError(ValueError):
    """Nothing in a registry matches: an option, a model file or a checkpoint."""


class Registry(Mapping[str, Entry]):
    """Entries with an `id`, in registration order; reads like a dict of id -> entry.

    family names the entries in messages ("detector backend"); error is the exception
    find() raises when nothing matches.
    """

    def __init__(self, family: str, error: type[UnsupportedModelError] = UnsupportedModelError) -> None:
        self.family = family
        self.error = error
        self._entries: dict[str, Entry] = {}

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._entries)})"

    def __getitem__(self, id: str) -> Entry:
        return self._entries[id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, entry: Entry) -> Entry:
        """Add an entry after the registered ones (find tries them in this order)."""
        entry_id = getattr(entry, "id", None)
        if not isinstance(entry_id, str) or not entry_id:
            raise ValueError(f"{self.family} id must be a non-empty str, but got {entry_id!r}")
        if entry_id in self._entries:
            raise ValueError(f"{self.family} id must be unique, but {entry_id!r} is already registered")
        self._entries[entry_id] = entry
        return entry

    def find(self, matches: Callable[[Entry], bool], nothing_matches: str) -> Entry:
        """The first entry (registration order) for which matches(entry) is true; self.error(nothing_matches) when none is."""
        for entry in self._entries.values():
            if matches(entry):
                return entry
        raise self.error(nothing_matches)


def _any_file(file: str) -> bool:
    return True


def _always() -> bool:
    return True


@dataclass(frozen=True)
class ModelBackend:
    """One kind of model of a family chosen by a dropdown (an entry of a FileModelRegistry).

    id: prefix of its options ("yolo/<file>"). load(name, absolute path or None, device) -> the
    loaded model; name is the option it is loaded as. folder: the model folder its files come
    from (store.MODEL_FOLDERS), or None for a backend without files, whose single option is
    `option`. offers(file): which files of the folder are its models; auto_picks(file): which of
    those "auto" may choose; available(): whether it can run here at all.
    """

    id: str
    load: Callable[[str, "str | None", object], object]
    folder: str | None = None
    option: str | None = None
    offers: Callable[[str], bool] = _any_file
    auto_picks: Callable[[str], bool] = _any_file
    available: Callable[[], bool] = _always

    def __post_init__(self) -> None:
        if (self.folder is None) == (self.option is None):
            raise ValueError(f"model backend {self.id!r} must have either a model folder or a fixed option, not both or neither")

    def entry(self, file: str | None = None) -> str:
        """The dropdown option of one of its files (of the backend itself when it has no files)."""
        return self.option if self.folder is None else f"{self.id}/{file}"

    def files(self, models: ModelFolders) -> list[str]:
        """The files of its folder that are its models (none for a backend without files)."""
        return [] if self.folder is None else [file for file in models.files(self.folder) if self.offers(file)]


class ModelChoice(NamedTuple):
    """What an option names: a backend and its file (relative to the backend's folder; None for a backend without files)."""

    backend: ModelBackend
    file: str | None

    @property
    def name(self) -> str:
        return self.backend.entry(self.file)


class FileModelRegistry(Registry[ModelBackend]):
    """The backends of one family chosen by a dropdown, e.g. the face detectors.

    input_name: the node input the options fill ("detector"), used in messages. example: an
    option to show in messages. with_none: offer "none" (no model; load gives None).
    cache_size: loaded models kept (models/cache.py).
    """

    def __init__(self, input_name: str, *, example: str, with_none: bool, cache_size: int, error: type[UnsupportedModelError] = UnsupportedModelError) -> None:
        super().__init__(f"{input_name} backend", error)
        self.input_name = input_name
        self.example = example
        self.with_none = with_none
        self.cache = ModelCache(size=cache_size)

    def fixed_options(self) -> list[str]:
        """The options that name no file: "auto", "none" (when offered), then each file-less backend's option."""
        fixed = [AUTO_OPTION] + ([NONE_OPTION] if self.with_none else [])
        return fixed + [backend.option for backend in self.values() if backend.folder is None]

    def options(self, models: ModelFolders) -> list[str]:
        """Dropdown entries: "auto", "none" (when offered), then per backend in registration order
        "<id>/<file>" for each file it offers, or its fixed option when it has no files and is available."""
        options = [AUTO_OPTION] + ([NONE_OPTION] if self.with_none else [])
        for backend in self.values():
            if backend.folder is None:
                if backend.available():
                    options.append(backend.option)
            else:
                options.extend(backend.entry(file) for file in backend.files(models))
        return options

    def auto(self, models: ModelFolders) -> ModelChoice | None:
        """What "auto" picks: the first backend (registration order) with something to run, its
        first file "auto" may choose; None when no backend has anything."""
        for backend in self.values():
            if backend.folder is None:
                if backend.available():
                    return ModelChoice(backend, None)
                continue
            picks = [file for file in backend.files(models) if backend.auto_picks(file)]
            if picks:
                return ModelChoice(backend, picks[0])
        return None

    def resolve(self, option: str, models: ModelFolders | None = None) -> ModelChoice | None:
        """The backend and file an option names; None for "none" and for "auto" when nothing can run.

        models is needed for "auto" only. TypeError for an option that is not a str, self.error
        for one that names no backend.
        """
        if not isinstance(option, str):
            raise TypeError(f"{self.input_name} must be a str such as {AUTO_OPTION!r}, but got {type(option).__name__}")
        if option == AUTO_OPTION:
            if models is None:
                raise ValueError(f"models must be given to resolve {self.input_name} {AUTO_OPTION!r}, but got None")
            return self.auto(models)
        if self.with_none and option == NONE_OPTION:
            return None
        for backend in self.values():
            if backend.folder is None and option == backend.option:
                return ModelChoice(backend, None)
            if backend.folder is not None and option.startswith(backend.id + "/") and len(option) > len(backend.id) + 1:
                return ModelChoice(backend, option[len(backend.id) + 1 :])
        fixed = ", ".join(repr(name) for name in self.fixed_options())
        raise self.error(f"{self.input_name} must be one of {fixed} or a listed model such as {self.example!r}, but got {option!r}")

    def path(self, choice: ModelChoice, models: ModelFolders) -> str | None:
        """The absolute path of a choice's file (None for a backend without files); FileNotFoundError naming the folder when it is missing."""
        if choice.file is None:
            return None
        path = models.path(choice.backend.folder, choice.file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{self.input_name} model {choice.name!r} was not found at {path}; put the file in the {choice.backend.folder} model folder or choose another {self.input_name}")
        return path

    def load(self, option: str, models: ModelFolders, device=None):
        """The model an option names, cached while its file is unchanged (models/cache.py); None
        for "none" and for "auto" when nothing can run. device: where torch backends put the net."""
        choice = self.resolve(option, models)
        if choice is None:
            return None
        path = self.path(choice, models)
        if option == AUTO_OPTION:
            log.info("%s 'auto' chose %s", self.input_name, choice.name)
        return self.cache.load(choice.name, path, lambda: choice.backend.load(choice.name, path, device), device)

    def fingerprint(self, option, models: ModelFolders) -> str | None:
        """What an option resolves to now, as text: the choice's name and its file's path,
        modification time and size. It changes when "auto" would choose another model or the
        chosen file is replaced (a node's IS_CHANGED). None when option is not a str (a linked
        input, whose value the host does not tell). Never raises: an option that cannot be
        resolved (unknown, file missing) is described by its error, which changes once it is fixed.
        """
        if not isinstance(option, str):
            return None
        try:
            choice = self.resolve(option, models)
            if choice is None:
                return f"{self.input_name} {option}: {NONE_OPTION}"
            path = self.path(choice, models)
            return f"{self.input_name} {option}: {choice.name}" + ("" if path is None else f" {file_stamp(path)}")
        except (ValueError, OSError) as error:
            return f"{self.input_name} {option}: {type(error).__name__} {error}"
