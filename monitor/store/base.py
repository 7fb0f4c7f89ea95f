"""The store's connection: opening the file (WAL mode, busy timeout), applying the
migrations of :mod:`monitor.store.schema`, and write transactions. The tables' methods
are in :mod:`monitor.store.state`, :mod:`~monitor.store.sources`,
:mod:`~monitor.store.outbox`, :mod:`~monitor.store.episodes` and
:mod:`~monitor.store.articles`; :class:`monitor.store.Store` puts them together on one
connection. (The web desk reads through Datasette's own connection:
:mod:`monitor.store.desk`.)"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.clock import parse_iso
from monitor.errors import ConfigError
from monitor.store.schema import migrations

#: Days a story stays in the near-duplicate index: a wire copy arriving later starts a new
#: story (an exact copy of its text still joins it, at any age).
STORY_WINDOW_DAYS = 3.0


def _is_busy(exc: sqlite3.Error) -> bool:
    """True when an SQLite error says another connection holds a lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _open_problem(exc: BaseException) -> str:
    """Words for why a database cannot be opened or written (read-only files and
    mounts named as such)."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"read-only ({text}): make the file and its folder writable"
    return text


class StoreBase:
    """One SQLite connection to the monitor's database, migrated, with write
    transactions (see :class:`monitor.store.Store` for the arguments and errors).

    Attributes:
        path: the database file.
        db: the sqlite-utils database (autocommit; writes go through :meth:`write`).
        story_window_days: days after its first article during which a near-duplicate
            joins a story.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 10.0,
                 story_window_days: float = STORY_WINDOW_DAYS) -> None:
        self.path = Path(path)
        self.story_window_days = story_window_days
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                   timeout=busy_timeout, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self._prepare(busy_timeout)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"database {self.path}: cannot open: "
                              f"{_open_problem(exc)}") from None

    def _prepare(self, busy_timeout: float) -> None:
        """Switch to WAL and apply pending migrations, robust to other processes opening
        the same (new) database at the same moment.

        ``PRAGMA journal_mode=WAL`` does not always wait on the busy handler, and two
        processes could both find a migration pending: the switch is retried until
        ``busy_timeout`` seconds have passed, and migrations run under the write lock
        (BEGIN IMMEDIATE, which waits), re-checked once it is held, all in one
        transaction.

        Raises:
            sqlite3.Error: still locked after ``busy_timeout`` seconds, or another
                database error.
        """
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                if self.db.journal_mode != "wal":
                    self.db.execute("PRAGMA journal_mode=wal")
                self.db.execute("PRAGMA foreign_keys = ON")
                if migrations.pending(self.db):
                    with self._write():
                        migrations.apply(self.db)  # checks again under the lock
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def write(self) -> contextlib.AbstractContextManager[None]:
        """One write transaction (BEGIN IMMEDIATE): what other modules that keep their
        own tables (:mod:`monitor.health`) write through."""
        return self._write()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE) so a
        second writer waits for the busy timeout instead of failing on lock upgrade."""
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        else:
            self.db.conn.execute("COMMIT")

    def _insert(self, sql: str, args: list[Any]) -> int:
        """Run one INSERT statement on the connection.

        Returns:
            The new row's id.
        """
        rowid = self.db.conn.execute(sql, args).lastrowid
        if rowid is None:  # never for an INSERT that ran; keeps the type an int
            raise sqlite3.DatabaseError(f"no row inserted: {sql[:60]}")
        return rowid

    def _holds(self, table: str, key: str, now: datetime) -> dict[str, datetime]:
        """The holds of a ``(key, until)`` table (``host_holds``, ``channel_holds``) not
        over at ``now``.

        Returns:
            key -> held until (aware UTC); unreadable ``until`` values are left out.
        """
        out = {}
        for name, until in self.db.execute(f"select {key}, until from {table}"):
            when = parse_iso(until)
            if when and when > now:
                out[name] = when
        return out

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()
