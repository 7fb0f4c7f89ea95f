"""What every spider context shares about handing out polls: a stop flag and a wake-up
for the loop that hands them out (:class:`monitor.crawl.context.CrawlContext` in the
embedded mode, :class:`monitor.distributed.worker.WorkerContext` in a worker)."""

from __future__ import annotations

import asyncio


class PollSupply:
    """A stop flag and a wake-up event for a context's ``poll_tasks`` loop.

    Subclasses set ``_stopping = False`` and ``_wake = None`` in their ``__init__`` and
    create the event when their loop starts (it belongs to the running event loop).
    """

    _stopping: bool
    _wake: asyncio.Event | None

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: requests not yet sent are dropped."""
        return self._stopping

    def stop(self) -> None:
        """Hand out no more polls (the crawl can then end)."""
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Make ``poll_tasks`` look again now (at the schedule, or its room for polls)."""
        if self._wake is not None:
            self._wake.set()
