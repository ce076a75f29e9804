"""One torch thread for the pack's own small-tensor work.

Cutting and pasting face crops is thousands of small tensor ops. With torch's default of one
intra-op thread per core, each op wakes and joins a thread pool; when another process keeps a
core busy, the pool's threads wait for each other on every op: cutting 300 crops of 256 px from
360p frames took 396 s with two threads and 22.5 s with one on a 2-core machine at load 8
(measured 2026-12-06). The ops are too small to gain from threads anyway, so crop and paste run
on one thread and give the setting back afterwards (a model's large convolutions elsewhere keep
all the threads).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import torch


@contextmanager
def one_torch_thread():
    """Run the block with torch.set_num_threads(1); the previous count is restored after."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(function):
    """Decorator: the function runs under one_torch_thread (for crop and paste entry points)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with one_torch_thread():
            return function(*args, **kwargs)

    return wrapper
