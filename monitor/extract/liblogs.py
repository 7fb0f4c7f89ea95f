"""Library log records held back while one extract() call runs.

trafilatura, htmldate and courlan log what they think of a page: lxml's "Document is
empty" at ERROR for an unparseable body, "discarding data" at WARNING for a page with
no main text. For a page that extract() rejects, the Rejection's reason and detail say
the same thing once, in the place the store and the CLI look; the library lines would
only be noise on stderr. So, while extract() runs, WARNING and higher records from those
libraries' loggers *in the same thread* are held, and at the end:

- the page was rejected: the records are dropped (the Rejection explains the page);
- the page gave an Article: records of level ERROR and above are passed on to the
  handlers as if never held (a library failure on a stored page is worth seeing);
  WARNINGs are dropped: on the corpus they are all trafilatura.xml's "empty link" /
  "missing link attribute", an artefact of our ``include_links=True`` pass.

DEBUG and INFO records are never held: whoever turns a library's logger up to debug it
sees everything. Nothing changes logger levels, and records logged outside extract() or
by other threads (for example the benchmark's bare trafilatura run, or another worker
thread's page) pass untouched: the filter is installed once on the library loggers but
only acts inside a ``hold_library_logs()`` block of the current thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARIES = ("trafilatura", "htmldate", "courlan")

_local = threading.local()
_installed: set[str] = set()
_install_lock = threading.Lock()


class _HoldFilter(logging.Filter):
    """Hold records of this thread's running extract() call instead of emitting them."""

    def filter(self, record: logging.LogRecord) -> bool:
        held = getattr(_local, "held", None)
        if held is None or record.levelno < logging.WARNING:
            return True
        held.append(record)
        return False


_FILTER = _HoldFilter()


def _install() -> None:
    """Put the filter on every logger of the libraries (a logger's filters do not apply
    to its children's records, so each module logger needs it). Loggers created since
    the last call (lazy imports) are picked up on the next call."""
    names = [name for name, obj in list(logging.root.manager.loggerDict.items())
             if isinstance(obj, logging.Logger) and name.split(".", 1)[0] in LIBRARIES]
    names += [name for name in LIBRARIES]
    if all(name in _installed for name in names):
        return
    with _install_lock:
        for name in names:
            if name not in _installed:
                logging.getLogger(name).addFilter(_FILTER)
                _installed.add(name)


@contextmanager
def hold_library_logs() -> Iterator[list[logging.LogRecord]]:
    """Hold the libraries' WARNING+ records emitted in this thread inside the block.

    Yields the list the records are appended to; the caller decides with ``release``
    what becomes of them.
    """
    _install()
    outer = getattr(_local, "held", None)
    held: list[logging.LogRecord] = []
    _local.held = held
    try:
        yield held
    finally:
        _local.held = outer


def release(held: list[logging.LogRecord], rejected: bool) -> None:
    """Pass held records on: none for a rejected page, ERROR and above for an article."""
    if rejected:
        return
    for record in held:
        if record.levelno >= logging.ERROR:
            logger = logging.getLogger(record.name)
            # callHandlers, not handle(): handle() would run the hold filter again
            logger.callHandlers(record)


def last_message(held: list[logging.LogRecord], level: int = logging.ERROR) -> str | None:
    """The message of the last held record at ``level`` or above, or None."""
    for record in reversed(held):
        if record.levelno >= level:
            try:
                return record.getMessage()
            except Exception:  # a malformed library record: no message
                return None
    return None
