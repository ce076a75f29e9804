"""Loading torch model files (.pt, .pth, .ckpt) without ever running code from them.

A torch file is a pickle, and a pickle is a program: it names functions and classes and calls them
with arguments it carries. torch.load's weights_only mode restricts the names, but any class on
its process-wide allow-list is then *called* with arguments from the file, and other packs in the
same ComfyUI process add classes to that list (ultralytics' DetectionModel among them, whose
constructor evaluates strings of its config). So FUSE reads torch files with its own unpickler:

- Every file goes through load_torch_file, whatever folder it comes from. The archive is read here
  (zip format since torch 1.6, and the legacy format older checkpoints such as Wav2Lip's use);
  TorchScript archives and anything else are refused. torch.load is never called.
- The pickle is run by a restricted pure-Python unpickler. It knows a fixed set of data rebuild
  functions (tensors, parameters, OrderedDict, torch.Size, sets, bytes, numpy scalars, pure
  paths, ...) and calls them only after checking every argument (types, sizes, a tensor staying
  inside its storage). Any other name in the file is refused before anything is built.
- A caller may allow classes (detector_yolo allows torch and ultralytics layers). An object of an
  allowed class is created with the class's own C-level __new__ (a class with a Python __new__ is
  refused), never its constructor, and BUILD only fills its __dict__ with the saved state (string
  keys, no dunders); the class's __setstate__ is never called. A call of an allowed class with
  arguments (REDUCE, NEWOBJ with arguments, protocol-0 INST/OBJ) is refused: a saved model never
  needs one. Allowed classes never appear as values in the loaded data (only their instances do),
  so nothing can later call them with data from the file.
- Loaded nn.Modules must have no hooks (hooks are code run on every call; a weights file has none).

The alternative, rebuilding a YOLO net from its saved yaml with ultralytics' own builder, would
evaluate strings of that yaml (parse_model evals the activation); restoring the saved layer objects
without running their constructors needs no code from the file at all, and keeps every
ultralytics architecture working.
"""

from __future__ import annotations

import _compat_pickle
import collections
import copy
import functools
import inspect
import os
import pathlib
import pickle
import types
import warnings
import zipfile

import numpy as np

REFUSED_FIX = "re-export the weights as a plain state dict of tensors (or .safetensors), or get the file again from the model's official source"
DAMAGED_FIX = "download it again from the model's official source"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch's legacy (pre-1.6) file format starts with this number
LEGACY_PROTOCOL = 1001
# Numeric numpy dtypes a checkpoint's metrics may hold (no object, string or void dtypes).
NUMPY_DTYPE_CODES = frozenset("?bBhHiIlLqQefdg") | {f"{kind}{size}" for kind in "iuf" for size in (1, 2, 4, 8)} | {"b1", "f16"}


class ModelFileError(ValueError):
    """A model file that is damaged, not a torch file, or holds something FUSE refuses to load.

    reason and fix are what went wrong and what to do, for callers that phrase their own message.
    """

    def __init__(self, path: str, reason: str, fix: str = DAMAGED_FIX) -> None:
        self.path, self.reason, self.fix = path, reason, fix
        super().__init__(f"model file {path} could not be loaded: {reason}; {fix}")


class UnsafeModelFile(ModelFileError):
    """The file holds something other than weights and plain data: loading it could run code."""


class _Refused(Exception):
    """Raised inside the unpickler; load_torch_file turns it into UnsafeModelFile."""


def _refuse(what: str):
    raise _Refused(what)


class _Global:
    """What a name in the pickle resolves to: never the callable itself, so it cannot be a value."""

    __slots__ = ("name", "target")

    def __init__(self, name: str, target) -> None:
        self.name, self.target = name, target

    def __repr__(self) -> str:
        return self.name


class _AllowedClass(_Global):
    """An allowed class: instances are created without calling it."""


class _DataFunction(_Global):
    """A data rebuild function: target(unpickler, args) checks args and builds the value."""


class _StorageKind(_Global):
    """torch.<Dtype>Storage in a tensor's persistent id: target is the torch dtype."""


class _Storage:
    """A storage read from the file: untyped bytes seen as `numel` elements of `dtype`."""

    def __init__(self, dtype, untyped, numel: int) -> None:
        self.dtype, self.untyped, self.numel = dtype, untyped, numel


def _described(value) -> str:
    """A name in the pickle, or the type of a value (whose repr could be long or run its class's code)."""
    return value.name if isinstance(value, _Global) else f"a {type(value).__name__}"


def _is_plain_key(value) -> bool:
    """Dict keys and set items: data whose hashing and comparison run no code from the file."""
    if type(value) in (str, bytes, int, float, bool, type(None)):
        return True
    return type(value) is tuple and all(_is_plain_key(item) for item in value)


def _plain_keys(items, what: str):
    for item in items:
        if not _is_plain_key(item):
            _refuse(f"a {what} keyed by a {type(item).__name__} (only strings, numbers and tuples of them)")
    return items


def _ints(value, what: str) -> tuple:
    if type(value) is not tuple or not all(type(item) is int and item >= 0 for item in value):
        _refuse(f"a tensor {what} that is not a tuple of non-negative ints ({type(value).__name__})")
    return value


def _empty_hooks(value) -> None:
    if type(value) not in (dict, collections.OrderedDict) or value:
        _refuse("a tensor with backward hooks")


def _rebuild_tensor(unpickler, args):
    import torch

    if len(args) not in (6, 7):
        _refuse(f"a tensor rebuilt from {len(args)} arguments")
    storage, offset, size, stride, requires_grad, hooks = args[:6]
    if type(storage) is not _Storage:
        _refuse(f"a tensor whose storage is a {type(storage).__name__}")
    if type(offset) is not int or offset < 0 or type(requires_grad) is not bool:
        _refuse("a tensor with an invalid offset or requires_grad")
    _ints(size, "size"), _ints(stride, "stride"), _empty_hooks(hooks)
    if len(size) != len(stride):
        _refuse("a tensor whose size and stride differ in length")
    if len(args) == 7 and args[6] is not None and not (type(args[6]) is dict and not args[6]):
        _refuse("a tensor with extra metadata")
    if all(size) and offset + sum((length - 1) * step for length, step in zip(size, stride)) >= storage.numel:
        _refuse(f"a tensor of size {size} reaching outside its storage of {storage.numel} elements")
    tensor = torch.empty(0, dtype=storage.dtype).set_(storage.untyped, offset, size, stride)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(unpickler, args):
    import torch

    if len(args) != 3 or type(args[0]) is not torch.Tensor or type(args[1]) is not bool:
        _refuse("a parameter rebuilt from other than (tensor, requires_grad, hooks)")
    _empty_hooks(args[2])
    return torch.nn.Parameter(args[0], args[1])


def _ordered_dict(unpickler, args):
    if args == ():
        return collections.OrderedDict()
    if len(args) == 1 and type(args[0]) is list and all(type(pair) is tuple and len(pair) == 2 for pair in args[0]):
        _plain_keys([key for key, _ in args[0]], "dict")
        return collections.OrderedDict(args[0])
    _refuse("an OrderedDict built from other than a list of pairs")


def _one_of(kind: type):
    def build(unpickler, args):
        if args == ():
            return kind()
        if len(args) == 1 and type(args[0]) in (list, tuple):
            return kind(_plain_keys(args[0], kind.__name__))
        _refuse(f"a {kind.__name__} built from a {type(args[0]).__name__ if args else 'nothing'}")

    return build


def _torch_size(unpickler, args):
    import torch

    if len(args) != 1:
        _refuse("a torch.Size built from other than one tuple")
    return torch.Size(_ints(args[0], "size"))


def _torch_device(unpickler, args):
    import torch

    if not (1 <= len(args) <= 2 and type(args[0]) is str and args[0].split(":")[0] in ("cpu", "cuda", "mps", "xpu")):
        _refuse(f"a torch.device built from {args!r}")
    if len(args) == 2 and type(args[1]) is not int:
        _refuse("a torch.device with a non-integer index")
    return torch.device(*args)


def _slice(unpickler, args):
    if len(args) != 3 or not all(type(item) in (int, type(None)) for item in args):
        _refuse("a slice of other than ints")
    return slice(*args)


def _encode(unpickler, args):
    """How protocol 2 pickles bytes: _codecs.encode(text, "latin1")."""
    if len(args) != 2 or type(args[0]) is not str or args[1] not in ("latin1", "latin-1"):
        _refuse("a call of _codecs.encode other than (text, 'latin1')")
    return args[0].encode("latin-1")


def _bytes(unpickler, args):
    if args == ():
        return b""
    if len(args) == 1 and type(args[0]) is bytes:
        return args[0]
    _refuse("bytes built from other than bytes")


def _bytearray(unpickler, args):
    return bytearray(_bytes(unpickler, args))


def _numpy_dtype(unpickler, args):
    if not (len(args) == 3 and type(args[0]) is str and args[0] in NUMPY_DTYPE_CODES and all(type(flag) is bool for flag in args[1:])):
        _refuse(f"a numpy dtype {args[0]!r} (only numeric dtypes)" if args else "a numpy dtype of nothing")
    return np.dtype(args[0])


def _numpy_scalar(unpickler, args):
    if len(args) != 2 or not isinstance(args[0], np.dtype) or args[0].kind not in "biuf" or type(args[1]) is not bytes:
        _refuse("a numpy scalar of other than a numeric dtype and its bytes")
    dtype, data = args
    if len(data) != dtype.itemsize:
        _refuse(f"a numpy {dtype} scalar of {len(data)} bytes")
    return np.frombuffer(data, dtype)[0]


def _pure_path(kind: type):
    def build(unpickler, args):
        if not all(type(part) is str for part in args):
            _refuse(f"a path built from {[type(part).__name__ for part in args]}")
        return kind(*args)

    return build


def _getattr(unpickler, args):
    """builtins.getattr as pickles use it for a bound layer method (ultralytics' fused Conv.forward)."""
    import torch

    if len(args) != 2 or type(args[1]) is not str or args[1] not in ("forward", "forward_fuse"):
        _refuse(f"a call of getattr(..., {args[1] if len(args) == 2 else '?'!r:.60}) (only a layer's forward)")
    owner, name = args
    if isinstance(owner, _AllowedClass) and issubclass(owner.target, torch.nn.Module):
        function = inspect.getattr_static(owner.target, name, None)
        if isinstance(function, types.FunctionType):
            return function
    elif isinstance(owner, torch.nn.Module) and id(owner) in unpickler.created:
        function = inspect.getattr_static(type(owner), name, None)
        if isinstance(function, types.FunctionType):
            return types.MethodType(function, owner)
    _refuse(f"a call of getattr({type(owner).__name__}, {name!r})")


_DATA_FUNCTIONS = {
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "collections.OrderedDict": _ordered_dict,
    "torch.Size": _torch_size,
    "torch.device": _torch_device,
    "builtins.set": _one_of(set),
    "builtins.frozenset": _one_of(frozenset),
    "builtins.slice": _slice,
    "builtins.bytes": _bytes,
    "builtins.bytearray": _bytearray,
    "_codecs.encode": _encode,
    "builtins.getattr": _getattr,
    "numpy.dtype": _numpy_dtype,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
}
# Paths of either OS are rebuilt as pure paths: data, on any OS.
for _module in ("pathlib", "pathlib._local"):
    for _name, _kind in (("PosixPath", pathlib.PurePosixPath), ("PurePosixPath", pathlib.PurePosixPath), ("WindowsPath", pathlib.PureWindowsPath), ("PureWindowsPath", pathlib.PureWindowsPath)):
        _DATA_FUNCTIONS[f"{_module}.{_name}"] = _pure_path(_kind)


@functools.lru_cache(maxsize=1)
def _torch_names() -> dict[str, object]:
    """torch.<dtype> and torch.<Dtype>Storage names a pickle may use, read off the torch module."""
    import torch

    names: dict[str, object] = {}
    with warnings.catch_warnings():  # reading the dtype of torch's legacy storage classes warns
        warnings.simplefilter("ignore")
        storage_dtypes = {name: getattr(value, "dtype", None) for name, value in vars(torch).items() if name.endswith("Storage") and isinstance(value, type)}
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype):
            names[f"torch.{name}"] = value
        elif name in storage_dtypes and not name.startswith("Q"):  # no quantized storages
            dtype = torch.uint8 if value is torch.UntypedStorage else storage_dtypes[name]
            if isinstance(dtype, torch.dtype):
                names[f"torch.{name}"] = _StorageKind(f"torch.{name}", dtype)
    return names


@functools.lru_cache(maxsize=1)
def _module_defaults() -> dict[str, object]:
    """The attributes a fresh nn.Module has; a restored layer gets a copy of each its state lacks."""
    import torch

    return dict(vars(torch.nn.Module()))


def _has_python_new(cls: type) -> bool:
    return any(isinstance(vars(klass).get("__new__"), (staticmethod, types.FunctionType)) for klass in cls.__mro__)


def _opcode(name: str) -> int:
    return getattr(pickle, name)[0]


# Opcodes that only push, pop or memoise data; the rest are handled below or refused.
_DATA_OPCODES = (
    "PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 LONG4 "
    "FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8 UNICODE BINUNICODE "
    "SHORT_BINUNICODE BINUNICODE8 TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET LIST "
    "GET BINGET LONG_BINGET PUT BINPUT LONG_BINPUT MEMOIZE BINPERSID GLOBAL STACK_GLOBAL"
).split()


class _Dispatch(dict):
    def __missing__(self, key: int):
        name = next((n for n in pickle.__all__ if n.isupper() and isinstance(getattr(pickle, n), bytes) and getattr(pickle, n) == bytes([key])), f"0x{key:02x}")
        _refuse(f"the pickle opcode {name}")


class _Unpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler with every opcode that calls or builds something replaced."""

    def __init__(self, file, classes, persistent_load) -> None:
        super().__init__(file, encoding="utf-8")
        self.classes = classes
        self._persistent_load = persistent_load
        self.created: dict[int, object] = {}  # id -> object of an allowed class created here

    def persistent_load(self, pid):
        return self._persistent_load(pid)

    def find_class(self, module: str, name: str):
        if self.proto < 3 and self.fix_imports:  # protocol 2 writes Python 2 names (__builtin__, copy_reg)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qualified = f"{module}.{name}"
        if qualified in _DATA_FUNCTIONS:
            return _DataFunction(qualified, _DATA_FUNCTIONS[qualified])
        if qualified in _torch_names():
            return _torch_names()[qualified]
        found = self.classes(qualified) if self.classes is not None else None
        if found is not None:
            if not isinstance(found, type) or type(found) is not type or _has_python_new(found):
                _refuse(f"{qualified}, a class that cannot be created without running its code")
            return _AllowedClass(qualified, found)
        _refuse(f"a reference to {qualified}")

    def _create(self, allowed: _AllowedClass):
        import torch

        cls = allowed.target
        obj = cls.__new__(cls)  # C-level __new__ only (checked in find_class); no constructor
        if isinstance(obj, torch.nn.Module):
            obj.__dict__.update(copy.deepcopy(_module_defaults()))
        self.created[id(obj)] = obj
        return obj

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            _refuse("a call with arguments that are not a tuple")
        if isinstance(func, _DataFunction):
            self.stack[-1] = func.target(self, args)
        elif isinstance(func, _AllowedClass) and args == ():
            self.stack[-1] = self._create(func)
        elif isinstance(func, _AllowedClass):
            _refuse(f"a call of {func.name} with arguments from the file (its constructor)")
        else:
            _refuse(f"a call of {_described(func)}")

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args, {})

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args, kwargs)

    def _newobj(self, cls, args, kwargs):
        if not isinstance(cls, _AllowedClass):
            _refuse(f"an object of {_described(cls)}")
        if type(args) is not tuple or args or type(kwargs) is not dict or kwargs:
            _refuse(f"a {cls.name} created with arguments from the file")
        self.append(self._create(cls))

    def load_build(self):
        import torch

        state = self.stack.pop()
        inst = self.stack[-1]
        if type(state) is tuple and len(state) == 2 and state[1] is None:
            state = state[0]  # (dict state, no slot state)
        if type(inst) is collections.OrderedDict and type(state) is dict and set(state) <= {"_metadata"}:
            inst.__dict__.update(state)  # a state dict's _metadata attribute
            return
        if isinstance(inst, np.dtype) and type(state) is tuple and state == inst.__reduce__()[2]:
            return  # a numpy dtype's state restating what np.dtype(code) already is
        if id(inst) not in self.created:
            _refuse(f"saved state for a {type(inst).__name__}")
        if type(state) is not dict:
            _refuse(f"saved state for a {type(inst).__name__} that is a {type(state).__name__}, not a dict")
        for key in state:
            if type(key) is not str or key.startswith("__"):
                _refuse(f"saved state for a {type(inst).__name__} with the attribute {key!r}")
        inst.__dict__.update(state)
        if isinstance(inst, torch.nn.Module):
            hooked = [key for key, value in inst.__dict__.items() if key.endswith("_hooks") and value]
            if hooked:
                _refuse(f"a {type(inst).__name__} layer with {', '.join(hooked)} (hooks are code run on every call)")

    def load_dict(self):
        items = self.pop_mark()
        _plain_keys(items[::2], "dict")
        self.append({items[index]: items[index + 1] for index in range(0, len(items), 2)})

    def load_frozenset(self):
        self.append(frozenset(_plain_keys(self.pop_mark(), "frozenset")))

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._setitems([key, value])

    def load_setitems(self):
        self._setitems(self.pop_mark())

    def _setitems(self, items):
        target = self.stack[-1]
        if type(target) not in (dict, collections.OrderedDict):
            _refuse(f"items set on a {type(target).__name__}")
        for index in range(0, len(items), 2):
            _plain_keys([items[index]], "dict")
            target[items[index]] = items[index + 1]

    def load_append(self):
        value = self.stack.pop()
        self._extend([value])

    def load_appends(self):
        self._extend(self.pop_mark())

    def _extend(self, items):
        target = self.stack[-1]
        if type(target) is not list:
            _refuse(f"items appended to a {type(target).__name__}")
        target.extend(items)

    def load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            _refuse(f"items added to a {type(target).__name__}")
        target.update(_plain_keys(items, "set"))

    dispatch = _Dispatch({_opcode(name): pickle._Unpickler.dispatch[_opcode(name)] for name in _DATA_OPCODES})
    dispatch.update(
        {
            _opcode("REDUCE"): load_reduce,
            _opcode("NEWOBJ"): load_newobj,
            _opcode("NEWOBJ_EX"): load_newobj_ex,
            _opcode("BUILD"): load_build,
            _opcode("DICT"): load_dict,
            _opcode("FROZENSET"): load_frozenset,
            _opcode("SETITEM"): load_setitem,
            _opcode("SETITEMS"): load_setitems,
            _opcode("APPEND"): load_append,
            _opcode("APPENDS"): load_appends,
            _opcode("ADDITEMS"): load_additems,
        }
    )


def _storage_id(pid, length: int):
    """The (dtype, key, numel) of a tensor storage's persistent id ("storage", kind, key, location, numel[, view])."""
    if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
        _refuse(f"a persistent object {pid!r:.80} (only tensor storages)")
    kind, key, location, numel = pid[1:5]
    if type(kind) is not _StorageKind or type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
        _refuse(f"a tensor storage id {pid!r:.80}")
    return kind.target, key, numel


def _fill(buffer, stream, path: str) -> None:
    """Read exactly len(buffer) bytes of stream into a uint8 tensor."""
    view = memoryview(buffer.numpy()).cast("B")
    done = 0
    while done < len(view):
        count = stream.readinto(view[done:])
        if not count:
            raise ModelFileError(path, "it ends in the middle of a tensor (the file is truncated)")
        done += count


def _plain_pickle(stream):
    """One pickle of plain data (no names, no persistent ids), as the legacy format's headers are."""
    return _Unpickler(stream, None, lambda pid: _refuse("a persistent id in a header")).load()


def _load_zip(path: str, archive: zipfile.ZipFile, classes):
    import torch

    names = archive.namelist()
    prefix = names[0].split("/")[0] if names else ""
    if f"{prefix}/constants.pkl" in names or any(name.startswith(f"{prefix}/code/") for name in names):
        raise UnsafeModelFile(path, "it is a TorchScript program, not a weights file", REFUSED_FIX)
    if f"{prefix}/data.pkl" not in names:
        raise ModelFileError(path, "it is a zip archive, but not a torch model file (no data.pkl)")
    if f"{prefix}/byteorder" in names and archive.read(f"{prefix}/byteorder").strip() not in (b"little", b""):
        raise ModelFileError(path, "it was saved on a big-endian machine", "save it again on a usual (little-endian) machine")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        dtype, key, numel = _storage_id(pid, 5)
        if key not in storages:
            record = f"{prefix}/data/{key}"
            nbytes = numel * dtype.itemsize
            if record not in names or archive.getinfo(record).file_size != nbytes:
                raise ModelFileError(path, f"its tensor data {key!r} is missing or not {nbytes} bytes long (the file is damaged)")
            buffer = torch.empty(nbytes, dtype=torch.uint8)
            with archive.open(record) as stream:
                _fill(buffer, stream, path)
            storages[key] = _Storage(dtype, buffer.untyped_storage(), numel)
        if storages[key].dtype != dtype:
            _refuse(f"the storage {key!r} read as two dtypes")
        return storages[key]

    with archive.open(f"{prefix}/data.pkl") as stream:
        return _Unpickler(stream, classes, persistent_load).load()


def _load_legacy(path: str, stream, classes):
    """torch's pre-1.6 format: magic number, protocol, system info, the pickle, storage keys, storages."""
    import torch

    try:
        magic = _plain_pickle(stream)
    except Exception:  # noqa: BLE001 - any other file fails here, in whatever way its bytes fail
        magic = None
    if magic != LEGACY_MAGIC:
        raise ModelFileError(path, "it is not a torch model file (neither a torch zip archive nor the legacy format)")
    if _plain_pickle(stream) != LEGACY_PROTOCOL:
        raise ModelFileError(path, "it is a torch file of an unknown legacy version", "save it again with a current torch")
    system = _plain_pickle(stream)
    if type(system) is not dict or system.get("little_endian") is not True:
        raise ModelFileError(path, "it was saved on a big-endian machine", "save it again on a usual (little-endian) machine")
    pending: dict[str, tuple] = {}
    file_size = os.fstat(stream.fileno()).st_size

    def persistent_load(pid):
        dtype, key, numel = _storage_id(pid, 6)
        if pid[5] is not None:
            _refuse("a storage view (a torch file older than 1.0)")
        if key not in pending:
            if numel * dtype.itemsize > file_size:  # checked before the memory is taken
                raise ModelFileError(path, f"its tensor data {key!r} is larger than the file (the file is damaged)")
            buffer = torch.empty(numel * dtype.itemsize, dtype=torch.uint8)
            pending[key] = (buffer, _Storage(dtype, buffer.untyped_storage(), numel))
        if pending[key][1].dtype != dtype:
            _refuse(f"the storage {key!r} read as two dtypes")
        return pending[key][1]

    result = _Unpickler(stream, classes, persistent_load).load()
    keys = _plain_pickle(stream)
    if type(keys) is not list or sorted(keys) != sorted(pending):
        raise ModelFileError(path, "its list of tensor storages does not match its tensors (the file is damaged)")
    for key in keys:
        buffer, storage = pending[key]
        header = stream.read(8)
        if len(header) != 8 or int.from_bytes(header, "little", signed=True) != storage.numel:
            raise ModelFileError(path, f"its tensor data {key!r} has the wrong size (the file is damaged)")
        _fill(buffer, stream, path)
    return result


def load_torch_file(path: str, classes=None, fix: str = REFUSED_FIX):
    """The object a torch file (.pt / .pth / .ckpt, zip or legacy format) holds, built without code.

    classes(qualified_name) -> class or None: classes whose objects may be restored (created
    without their constructor, filled with their saved state); None allows plain data only.
    Raises UnsafeModelFile (with `fix` as the advice) when the file holds anything else, and
    ModelFileError when it is not a torch file or is damaged. Tensors are on the CPU.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _load_zip(path, archive, classes)
        with open(path, "rb") as stream:
            return _load_legacy(path, stream, classes)
    except _Refused as refused:
        raise UnsafeModelFile(path, f"it is not a plain weights file: it contains {refused}, which FUSE never loads because loading it could run code from the file", fix) from None
    except (ModelFileError, FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as error:  # noqa: BLE001 - truncated pickles and archives fail in many ways
        raise ModelFileError(path, f"it is not a torch model file or it is damaged ({type(error).__name__}: {str(error)[:200]})") from None


def load_weights(path: str) -> dict:
    """A state dict of tensors from .safetensors or a torch file of plain data (any other object refused)."""
    if os.path.splitext(path)[1].lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as error:  # noqa: BLE001 - SafetensorError and OSError for a damaged file
            raise ModelFileError(path, f"it is not a valid .safetensors file ({error})") from None
    loaded = load_torch_file(path)
    if not isinstance(loaded, dict):
        raise ModelFileError(path, f"it holds a {type(loaded).__name__}, not a state dict", REFUSED_FIX)
    return loaded
