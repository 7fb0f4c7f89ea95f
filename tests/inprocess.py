"""Driving the daemon and the crawl inside the test process, on the real reactor.

``tests/conftest.py`` installs Twisted's ``AsyncioSelectorReactor`` (as ``monitor run``
does) before anything imports the reactor. A reactor cannot be run twice in a process,
so the tests never call ``reactor.run()``: the reactor is marked running once (its
thread pool and start-up triggers go) and each test runs its coroutine on the reactor's
own asyncio loop, which is what ``reactor.run()`` would run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_reactor(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run a coroutine to its end on the reactor's asyncio loop.

    Args:
        coro: the coroutine (a test's scenario: start a daemon, run its jobs, stop it).
        timeout: seconds before it is cancelled and TimeoutError raised.

    Returns:
        What the coroutine returned.
    """
    from twisted.internet import reactor

    loop = reactor._asyncioEventloop  # the loop reactor.run() would run
    asyncio.set_event_loop(loop)      # another test's asyncio.run() may have unset it
    if not reactor.running:
        reactor.startRunning(installSignalHandlers=False)
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def stop_reactor() -> None:
    """End the reactor as ``reactor.run()`` would at its end, if a test started it:
    its shutdown triggers stop the thread pool, whose threads (not daemon threads)
    would otherwise keep the test process from exiting. Called once, at the end of the
    session (``tests/conftest.py``)."""
    import sys

    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not reactor.running:
        return
    loop = reactor._asyncioEventloop
    asyncio.set_event_loop(loop)
    reactor.stop()
    guard = loop.call_later(10.0, loop.stop)   # a shutdown trigger that never ends
    loop.run_forever()                          # until the triggers ran: crash() stops it
    guard.cancel()


async def until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Wait, letting the loop run, until ``predicate()`` is true; returns its value.

    Raises:
        AssertionError: still false after ``timeout`` seconds (names ``what``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.02)


class Clock:
    """A clock that stays where a test puts it (the daemon's ``clock``)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        """Move it forward, e.g. ``advance(hours=8)`` (timedelta's arguments)."""
        from datetime import timedelta

        self.at += timedelta(**delta)
