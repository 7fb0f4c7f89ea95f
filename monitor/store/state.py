"""Key/value state of the daemon (table ``state``): the last digest per channel, re-queue
and probe marks of the outbox, and the like."""

from __future__ import annotations

from monitor.store.base import StoreBase


class StateStore(StoreBase):
    """The ``state`` table: small values kept across restarts, by key."""

    def get_state(self, key: str) -> str | None:
        """Returns: the value stored under ``key`` in the ``state`` table, or None."""
        rows = self.db.execute("select value from state where key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` in the ``state`` table."""
        self.db.execute("insert into state (key, value) values (?, ?) on conflict(key) "
                        "do update set value = excluded.value", [key, value])
