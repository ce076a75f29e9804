"""Model files are untrusted: no .pt / .pth / .ckpt file makes FUSE run code, whatever it pickles.

Every hostile file is built here at test time. Its payload, if run, creates a marker file; each
test asserts the marker does not exist and that the loader of the folder the file sits in refuses
it with an error naming the file and saying what to do (never "load it with weights_only off").
"""

import collections
import copyreg
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch

from fuse_fake_host import FakeModelFolders

from comfyui_fuse.lipsync.backends import read_lipsync_model
from comfyui_fuse.models.face_detectors import DetectorLoadError, load_face_detector
from comfyui_fuse.models.restorers import load_restorer
from comfyui_fuse.models.safe_load import ModelFileError, UnsafeModelFile, load_torch_file


class Pickled:
    """Pickles as func(*args), then BUILD(state) when state is given: a REDUCE payload."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __call__(self, *args):  # the pickler only accepts a callable as the function of a REDUCE
        raise AssertionError("never called")

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class NewObj:
    """Pickles as cls.__new__(cls, *args) (the NEWOBJ opcode), then BUILD(state) when given."""

    def __init__(self, cls, args=(), state=None):
        self.cls, self.args, self.state = cls, args, state

    @property
    def __class__(self):  # the pickler checks that a NEWOBJ target is of the class it names
        return self.cls

    def __reduce__(self):
        return (copyreg.__newobj__, (self.cls, *self.args)) + (() if self.state is None else (self.state,))


class RunsCodeOnSetstate:
    """A class whose __setstate__ runs code: unpickling it with a plain pickle touches the marker."""

    def __init__(self, marker):
        self.marker = marker

    def __setstate__(self, state):
        open(state["marker"], "w").close()


class RunsCodeOnInit:
    def __init__(self, marker):
        open(marker, "w").close()


def touch_code(marker) -> str:
    """Python source that creates the marker and evaluates to an activation ultralytics accepts."""
    return f"(open({str(marker)!r}, 'w').close(), __import__('torch').nn.SiLU())[1]"


def yolo_config(marker) -> dict:
    """A model config whose activation holds code: ultralytics' parse_model evaluates it."""
    return {"nc": 1, "activation": touch_code(marker), "backbone": [[-1, 1, "Conv", [16, 3, 2]]], "head": [[-1, 1, "Detect", ["nc"]]]}


def detection_model(marker):
    from ultralytics.nn.tasks import DetectionModel

    return Pickled(DetectionModel, (yolo_config(marker),))


def pose_model(marker):
    from ultralytics.nn.tasks import PoseModel

    return Pickled(PoseModel, (yolo_config(marker),))


def init_through_getattr(marker):
    from ultralytics.nn.tasks import DetectionModel

    return Pickled(Pickled(getattr, (DetectionModel, "__init__")), (NewObj(DetectionModel), yolo_config(marker)))


def loss_criterion(marker):
    from ultralytics.utils.loss import v8DetectionLoss

    return Pickled(v8DetectionLoss, (NewObj(torch.nn.Conv2d),))


def inst_opcode(marker) -> bytes:
    """Protocol 0: INST calls the class named in the pickle with the arguments before it."""
    config = pickle.dumps(yolo_config(marker), protocol=0)[:-1]  # without STOP
    return b"(" + config + b"iultralytics.nn.tasks\nDetectionModel\n."


PAYLOADS = {
    # Allow-listed ultralytics classes called with a config that holds code.
    "DetectionModel(config with code)": detection_model,
    "PoseModel(config with code)": pose_model,
    "DetectionModel.__init__ through getattr": init_through_getattr,
    "DetectionModel through INST": inst_opcode,
    # Allow-listed classes and constructors with arguments from the file.
    "Conv2d(1, 1, 1)": lambda marker: Pickled(torch.nn.Conv2d, (1, 1, 1)),
    "NEWOBJ DetectionModel with a config": lambda marker: NewObj(__import__("ultralytics.nn.tasks").nn.tasks.DetectionModel, (yolo_config(marker),)),
    "v8DetectionLoss(model)": loss_criterion,
    "IterableSimpleNamespace BUILD with a dunder": lambda marker: NewObj(__import__("ultralytics.utils").utils.IterableSimpleNamespace, (), {"__class__": 1}),
    # Code outright.
    "os.system": lambda marker: Pickled(os.system, (f"touch {marker}",)),
    "builtins.eval": lambda marker: Pickled(eval, (touch_code(marker),)),
    "builtins.exec": lambda marker: Pickled(exec, (touch_code(marker),)),
    "builtins.open": lambda marker: Pickled(open, (str(marker), "w")),
    "torch.load of another file": lambda marker: Pickled(torch.load, (str(marker),)),
    "a class whose __setstate__ runs code": lambda marker: RunsCodeOnSetstate(str(marker)),
    "a class whose constructor runs code": lambda marker: Pickled(RunsCodeOnInit, (str(marker),)),
    # Data rebuild functions with arguments they must not take.
    "numpy scalar of object dtype": lambda marker: Pickled(np.float64(0).__reduce__()[0], (np.dtype(object), Pickled(eval, (touch_code(marker),)))),
    "OrderedDict keyed by a layer": lambda marker: Pickled(collections.OrderedDict, ([(NewObj(torch.nn.Conv2d), 1)],)),
    "getattr of a module function": lambda marker: Pickled(getattr, (torch.nn.Conv2d, "register_forward_hook")),
}


def write_torch_file(path, payload) -> None:
    """torch.save the payload; raw pickle bytes replace data.pkl inside a torch archive."""
    if not isinstance(payload, bytes):
        torch.save({"model": payload, "state_dict": payload}, path)
        return
    torch.save(None, path)
    with zipfile.ZipFile(path) as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in records.items():
            archive.writestr(name, payload if name.endswith("/data.pkl") else data)


def load_detector(path):
    return load_face_detector(f"yolo/{path.name}", FakeModelFolders(directory=path.parent))


# Every folder FUSE reads torch files from, with the loader it uses there.
LOADERS = {
    "ultralytics/bbox .pt": ("ultralytics/bbox", "face_yolov8n.pt", load_detector),
    "facerestore_models .pth": ("facerestore_models", "GFPGANv1.4.pth", lambda path: load_restorer(str(path))),
    "facerestore_models .pt": ("facerestore_models", "codeformer.pt", lambda path: load_restorer(str(path))),
    "lipsync .pth": ("lipsync", "wav2lip.pth", lambda path: read_lipsync_model(str(path))),
    "lipsync .ckpt": ("lipsync", "wav2lip.ckpt", lambda path: read_lipsync_model(str(path))),
    "any .ckpt": ("checkpoints", "model.ckpt", lambda path: load_torch_file(str(path))),
}


def raised_by(load, path) -> Exception | None:
    """What loading raised (None when it loaded): checked only after the marker is."""
    try:
        load(path)
    except Exception as error:  # noqa: BLE001 - whatever it is, the marker is checked first
        return error
    return None


def assert_refused(error: Exception | None, path) -> None:
    assert isinstance(error, ValueError), f"{path.name} must be refused with a clear ValueError, but loading gave {error!r}"
    message = str(error)
    assert str(path.name) in message, f"the error must name the file: {message}"
    assert "weights_only" not in message, f"the error must never suggest loading with weights_only off: {message}"
    assert "official source" in message or "re-export" in message or "ultralytics" in message, f"the error must say what to do: {message}"


@pytest.mark.parametrize("loader", LOADERS.values(), ids=LOADERS.keys())
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_hostile_file_is_refused_and_runs_nothing(tmp_path, payload, loader):
    folder, name, load = loader
    marker = tmp_path / "payload_ran"
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True)
    write_torch_file(path, payload(marker))
    error = raised_by(load, path)
    assert not marker.exists(), f"loading {folder}/{name} ran the file's code"
    assert_refused(error, path)
    assert "not a plain weights file" in str(error), f"the error must say why the file is refused: {error}"


@pytest.mark.parametrize("loader", [LOADERS["facerestore_models .pth"], LOADERS["lipsync .pth"], LOADERS["any .ckpt"]], ids=["restore", "lipsync", "ckpt"])
def test_the_process_wide_torch_allow_list_does_not_widen_what_fuse_loads(tmp_path, loader):
    """Inside ComfyUI other packs add classes to torch's process-wide safe globals; FUSE ignores them."""
    from ultralytics.nn.tasks import DetectionModel

    folder, name, load = loader
    marker = tmp_path / "payload_ran"
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True)
    write_torch_file(path, detection_model(marker))
    with torch.serialization.safe_globals([DetectionModel]):
        error = raised_by(load, path)
    assert not marker.exists(), "an entry of torch's allow-list let the file run code"
    assert_refused(error, path)


def test_a_real_yolo_checkpoint_loads_without_calling_a_constructor(yolo_models, monkeypatch):
    """Layer objects are created without __init__ and filled with their saved state."""
    from comfyui_fuse.models.detector_yolo import load_ultralytics_checkpoint

    built = []
    original = torch.nn.Module.__init__

    def recording_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", recording_init)
    checkpoint = load_ultralytics_checkpoint(str(yolo_models["pose.pt"]))
    monkeypatch.undo()
    assert [name for name in built if name != "Module"] == [], f"loading ran the constructors of {sorted(set(built))}"
    model = checkpoint["model"]
    assert type(model).__name__ == "PoseModel" and len(list(model.modules())) > 100
    output = model.float().eval()(torch.zeros(1, 3, 64, 64))
    assert output[0].shape == (1, 4 + 1 + 15, 84), "the restored model must run (4 box + 1 class + 5x3 keypoint channels)"


def test_an_allow_listed_class_whose_setstate_runs_code_is_never_called(yolo_models, tmp_path, monkeypatch):
    """BUILD fills a layer's __dict__; it never calls the class's own __setstate__."""
    from ultralytics.nn.modules.conv import Conv

    marker = tmp_path / "setstate_ran"

    def setstate(self, state):
        open(marker, "w").close()
        torch.nn.Module.__setstate__(self, state)

    monkeypatch.setattr(Conv, "__setstate__", setstate, raising=False)
    path = tmp_path / "face_setstate.pt"
    shutil.copy(yolo_models["face.pt"], path)
    detector = load_detector(path)
    assert not marker.exists(), "loading called a layer class's __setstate__"
    assert detector.detect_batch(np.zeros((1, 64, 64, 3), np.uint8), 0.5) is not None


def test_a_fused_model_loads_with_its_bound_forward_methods(yolo_models, tmp_path):
    """ultralytics' fuse() sets conv.forward = conv.forward_fuse, which pickles as getattr(conv, "forward_fuse")."""
    from comfyui_fuse.models.detector_yolo import load_ultralytics_checkpoint

    fused = load_ultralytics_checkpoint(str(yolo_models["face.pt"]))["model"].float().fuse(verbose=False).eval()
    path = tmp_path / "face_fused.pt"
    torch.save({"model": fused}, path)
    loaded = load_ultralytics_checkpoint(str(path))["model"]
    first = loaded.model[0]
    assert first.forward.__func__ is type(first).forward_fuse and first.forward.__self__ is first
    blob = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded(blob)[0], fused(blob)[0])


def test_a_layer_with_hooks_is_refused(tmp_path):
    """Module hooks are code run on every call; a weights file has none."""
    from comfyui_fuse.models.detector_yolo import load_ultralytics_checkpoint

    conv = torch.nn.Conv2d(1, 1, 1)
    conv.register_forward_hook(torch.nn.Identity())
    path = tmp_path / "face_hooked.pt"
    torch.save({"model": conv}, path)
    with pytest.raises(DetectorLoadError, match="hook"):
        load_ultralytics_checkpoint(str(path))


def tiny_state_dict() -> collections.OrderedDict:
    base = torch.arange(12, dtype=torch.float32)
    state = collections.OrderedDict(weight=base.reshape(3, 4), view=base[4:8], half=torch.ones(2, dtype=torch.float16), empty=torch.zeros(0), flag=torch.tensor([True, False]))
    state._metadata = collections.OrderedDict({"": {"version": 1}})
    return state


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_plain_state_dict_loads_in_both_torch_formats(tmp_path, zip_format):
    """Wav2Lip and other 2020-era checkpoints use torch's legacy (pre-1.6) format."""
    state = tiny_state_dict()
    path = tmp_path / "weights.pth"
    checkpoint = {"state_dict": state, "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]}, "global_step": 7}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_torch_file(str(path))
    assert loaded["global_step"] == 7 and loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(loaded["state_dict"]) == list(state)
    for key, tensor in state.items():
        assert loaded["state_dict"][key].dtype == tensor.dtype
        torch.testing.assert_close(loaded["state_dict"][key], tensor)
    assert loaded["state_dict"]["view"].untyped_storage().data_ptr() == loaded["state_dict"]["weight"].untyped_storage().data_ptr(), "tensors that shared a storage must share it again"
    assert loaded["state_dict"]._metadata == state._metadata


def test_a_training_checkpoint_of_plain_data_loads(yolo_models, tmp_path):
    """What ultralytics' trainer saves beside the model: numpy metrics, paths, a namespace of args."""
    import pathlib

    from ultralytics.utils import IterableSimpleNamespace

    from comfyui_fuse.models.detector_yolo import load_ultralytics_checkpoint

    model = load_ultralytics_checkpoint(str(yolo_models["face.pt"]))["model"]
    path = tmp_path / "face_trained.pt"
    extras = {"train_metrics": {"fitness": np.float64(0.5), "map": np.float32(0.25)}, "save_dir": pathlib.PosixPath("/runs/train"), "args": IterableSimpleNamespace(imgsz=320, name="face"), "tags": {"a", "b"}, "raw": b"\x00\x01", "empty": b""}
    torch.save({"model": model, "ema": None, **extras}, path)
    loaded = load_ultralytics_checkpoint(str(path))
    assert loaded["train_metrics"] == {"fitness": 0.5, "map": 0.25} and type(loaded["train_metrics"]["map"]) is np.float32
    assert loaded["save_dir"] == pathlib.PurePosixPath("/runs/train")
    assert loaded["args"].imgsz == 320 and loaded["args"].name == "face"
    assert loaded["tags"] == {"a", "b"} and loaded["raw"] == b"\x00\x01" and loaded["empty"] == b""


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path: path.write_bytes(b"not a torch file at all"), "not a torch model file"),
        (lambda path: torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path)), "TorchScript"),
        (lambda path: path.write_bytes(b""), "not a torch model file"),
    ],
    ids=["garbage", "torchscript", "empty"],
)
def test_files_that_are_not_weights_files_get_a_clear_error(tmp_path, make, message):
    path = tmp_path / "model.pth"
    make(path)
    with pytest.raises(ModelFileError, match=message) as error:
        load_torch_file(str(path))
    assert "model.pth" in str(error.value) and "weights_only" not in str(error.value)


def test_a_tensor_reaching_outside_its_storage_is_refused(tmp_path):
    path = tmp_path / "overread.pth"
    torch.save({"w": torch.zeros(7)}, path)
    with zipfile.ZipFile(path) as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in records.items():
            if name.endswith("/data.pkl"):
                assert data.count(b"K\x07\x85") == 1, "the size tuple (7,) of the tensor"
                data = data.replace(b"K\x07\x85", b"J\x00\x00\x00\x01\x85")  # size (16777216,)
            archive.writestr(name, data)
    with pytest.raises(UnsafeModelFile, match="outside its storage"):
        load_torch_file(str(path))
