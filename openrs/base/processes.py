"""Child processes that end with their parent, even when it is killed outright: the launcher's children and the
ranks (openrs.train.launch), the GPU-slot sweep's jobs (hydra_plugins) and the grading workers (openrs.grading)."""

from __future__ import annotations

import ctypes
import os
import sys

# Loaded before any fork: a child between fork and exec must not load libraries.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int, sig: int) -> None:
    """Have the kernel send this process `sig` when its parent (pid `parent`) ends, even by SIGKILL, so that
    nothing a killed job started keeps its GPUs (Linux; elsewhere only a parent already gone is noticed).
    The signal follows the parent thread: call it in a process started by a thread that outlives it."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # it ended before that call
        os.kill(os.getpid(), sig)
