"""core.threads: crop and paste run on one torch thread and give the setting back."""

import pytest
import torch

from comfyui_fuse.compositing import paste, warp
from comfyui_fuse.core.threads import one_torch_thread, single_threaded


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_block_runs_on_one_thread_and_the_count_comes_back(two_threads):
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_the_count_comes_back_after_an_error(two_threads):
    @single_threaded
    def fails():
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("function", [warp.crop_faces, warp.crop_face_sequences, paste.paste_faces])
def test_crop_and_paste_entry_points_are_single_threaded(function):
    assert getattr(function, "__wrapped__", None) is not None, f"{function.__name__} must run under one_torch_thread (@single_threaded)"
