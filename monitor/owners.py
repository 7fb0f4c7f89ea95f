"""Who holds an outbox claim, and whether that process still runs.

A sender marks each outbox row it claims with an owner token naming its host, process
id and process start time (``"host 1234 1732960000.52"``). Another sender on the same
host (a restarted daemon, ``monitor deliver``) can then tell at once that the owner is
gone: no process with that id, or one started at another time (the id was reused). A
claim whose owner runs on another host cannot be checked this way and waits for the
claim timeout instead.
"""

from __future__ import annotations

import os
import socket

import psutil

#: Two start times closer than this (seconds) are the same process.
_START_TOLERANCE = 0.05

_mine: tuple[int, str] | None = None


def _start_time(pid: int) -> float | None:
    """Seconds since the epoch at which process ``pid`` started, or None when no such
    process runs (a zombie counts as gone)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def this_owner() -> str:
    """The owner token of this process: ``"<host> <pid> <start time>"``.

    Computed once per process (a forked child gets its own).
    """
    global _mine
    pid = os.getpid()
    if _mine is None or _mine[0] != pid:
        started = _start_time(pid) or 0.0
        _mine = (pid, f"{socket.gethostname()} {pid} {started:.2f}")
    return _mine[1]


def owner_gone(token: str | None) -> bool:
    """Whether the process named by an owner token is known to have ended.

    Args:
        token: a value of :func:`this_owner` (possibly from another process), or None.

    Returns:
        True when the token names a process on this host that no longer runs (no such
        process id, or a process started at another time under that id). False when it
        still runs, when it ran on another host (it cannot be checked from here) or when
        the token is missing or unreadable.
    """
    if not token:
        return False
    parts = token.split(" ")
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid, started = int(parts[1]), float(parts[2])
    except ValueError:
        return False
    now_started = _start_time(pid)
    return now_started is None or abs(now_started - started) > _START_TOLERANCE
