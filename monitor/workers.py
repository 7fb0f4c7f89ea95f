"""Worker processes that never outlive the process that started them.

Extraction (trafilatura, CPU-bound) runs in a :class:`ProcessPoolExecutor` of spawned
processes. When their parent dies without shutting the pool down (``kill -9``, the OOM
killer), such workers would otherwise stay alive for good, re-parented to PID 1 and
blocked on the pool's queue, about 100 MB each. Each worker started by
:func:`worker_pool` therefore ends itself when its parent goes:

- on Linux the kernel sends it SIGKILL the moment the parent dies
  (``prctl(PR_SET_PDEATHSIG)``, set through ``ctypes``); the kernel ties this to the
  parent *thread* that started the worker, and the pool starts its workers from the
  thread that submits work (the reactor's, which lives as long as the process);
- everywhere (and as a second line on Linux) a daemon thread in the worker checks once a
  second whether its parent process is still the one that started it, and ends the
  worker when it is not.

A parent that died before the worker armed either check is caught at start-up too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

log = logging.getLogger(__name__)

#: ``prctl`` option that asks the kernel for a signal when the parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent by the watch thread.
PARENT_CHECK_EVERY = 1.0


def _set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel (Linux) to send ``sig`` to this process when its parent dies.

    Returns:
        True when armed; False on other systems or when the call failed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, every: float) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent_pid:
            os._exit(1)


def exit_with_parent(parent_pid: int, every: float = PARENT_CHECK_EVERY) -> None:
    """End this process when the process ``parent_pid`` dies (a pool initializer).

    Arms the Linux parent-death signal (SIGKILL) and starts a daemon thread that checks
    every ``every`` seconds that the parent is still alive; exits at once (status 1)
    when the parent is already gone.

    Args:
        parent_pid: the process id of the parent, as it was when the worker was started.
        every: seconds between two checks of the watch thread.
    """
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:    # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, every), daemon=True,
                     name="monitor-parent-watch").start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that exit when this process dies.

    Args:
        workers: number of processes (1 or more); they are started on first use.

    Returns:
        The executor; shut it down as usual when done.

    Raises:
        ValueError: ``workers`` is less than 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers!r}")
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))
