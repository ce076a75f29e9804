"""One torch thread for the pack's own small-tensor work.

Cutting and pasting face crops is thousands of small tensor ops. With torch's default of one
intra-op thread per core, each op wakes and joins a thread pool; when another process keeps a
core busy, the pool's threads wait for each other on every op, and measured crop times went
from 0.5 s (one thread) to 28-81 s (two threads) on a loaded 2-core machine. The ops are too
small to gain from threads anyway, so crop and paste run on one thread and give the setting
back afterwards (a model's large convolutions elsewhere keep all the threads).
"""

from __future__ import annotations

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
