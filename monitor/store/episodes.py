"""Source-health and spike episodes (table ``episodes``: one row per condition from
when it starts to when it ends) and their notices (table ``notices``: one row per
episode, event and channel), for :mod:`monitor.health`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from monitor.clock import iso
from monitor.store.base import StoreBase


class EpisodesStore(StoreBase):
    """The ``episodes`` and ``notices`` tables. The writing methods that take no lock
    themselves are called inside one :meth:`write` transaction by the health check."""

    def open_episode_keys(self) -> set[tuple[str, str]]:
        """Returns: ``(kind, subject)`` of each episode not over yet."""
        return {(k, s) for k, s in self.db.execute(
            "select kind, subject from episodes where ended_at is null")}

    def open_episode_rows(self) -> list[dict[str, Any]]:
        """The episodes not over yet, oldest first.

        Returns:
            dicts with ``kind``, ``subject``, ``title``, ``lines`` (list of str),
            ``url``, ``started_at`` (ISO text).
        """
        rows = self.db.execute(
            "select kind, subject, title, lines, url, started_at from episodes "
            "where ended_at is null order by id").fetchall()
        return [{"kind": k, "subject": s, "title": t, "lines": json.loads(ln or "[]"),
                 "url": u, "started_at": at} for k, s, t, ln, u, at in rows]

    def episodes_since(self, since: datetime) -> list[dict[str, Any]]:
        """The episodes open at or after ``since`` (still open, or ended since), oldest
        first: dicts with ``kind``, ``subject``, ``title``, ``started_at``,
        ``ended_at`` (ISO text or None)."""
        return [{"kind": k, "subject": s, "title": t, "started_at": a, "ended_at": e}
                for k, s, t, a, e in self.db.execute(
                    "select kind, subject, title, started_at, ended_at from episodes "
                    "where ended_at is null or ended_at >= ? order by id", [iso(since)])]

    def start_episode(self, kind: str, subject: str, title: str, lines: Iterable[str],
                      url: str | None, now: datetime) -> int:
        """Open an episode (inside :meth:`write`).

        Returns:
            Its row id.
        """
        return self._insert(
            "insert into episodes (kind, subject, started_at, title, lines, url) "
            "values (?, ?, ?, ?, ?, ?)",
            [kind, subject, iso(now), title, json.dumps(list(lines)), url])

    def end_episode(self, kind: str, subject: str, now: datetime) -> tuple[int, str]:
        """End the open episode of ``(kind, subject)`` at ``now`` (inside :meth:`write`).

        Returns:
            (its row id, its title).

        Raises:
            LookupError: no such episode is open.
        """
        row = self.db.execute("select id, title from episodes where kind = ? and "
                              "subject = ? and ended_at is null", [kind, subject]).fetchone()
        if row is None:
            raise LookupError(f"no open episode {kind} {subject}")
        self.db.execute("update episodes set ended_at = ? where id = ?", [iso(now), row[0]])
        return row[0], row[1]

    def notice_channels(self, episode_id: int) -> list[str]:
        """Returns: the channels the episode's notices were queued on."""
        return [r[0] for r in self.db.execute(
            "select distinct channel from notices where episode_id = ?", [episode_id])]

    def queue_notice(self, episode_id: int, event: str, channel: str, now: datetime) -> None:
        """Queue the notice of an episode's ``event`` ('start' or 'end') on ``channel``,
        due at ``now``; once per episode, event and channel (inside :meth:`write`)."""
        self.db.execute(
            "insert or ignore into notices (episode_id, event, channel, status, "
            "attempts, next_attempt_at, created_at) values (?, ?, ?, 'pending', 0, ?, ?)",
            [episode_id, event, channel, iso(now), iso(now)])

    def due_notices(self, now: datetime, limit: int = 200) -> list[tuple[Any, ...]]:
        """The pending notices due at ``now``, oldest first.

        Returns:
            Tuples ``(episode id, kind, event, subject, title, lines (JSON text), url,
            started_at, ended_at, channel, attempts, notice id)``.
        """
        return self.db.execute(
            "select e.id, e.kind, n.event, e.subject, e.title, e.lines, e.url, e.started_at, "
            "e.ended_at, n.channel, n.attempts, n.id from notices n join episodes e on "
            "e.id = n.episode_id where n.status = 'pending' and n.next_attempt_at <= ? "
            "order by n.id limit ?", [iso(now), limit]).fetchall()

    def notice_failed(self, notice_id: int, attempts: int, error: str,
                      retry_at: datetime | None, now: datetime) -> None:
        """Record a failed notice: pending again at ``retry_at``, or given up (``dead``)
        when it is None; ``attempts`` is the new count."""
        with self._write():
            self.db.execute(
                "update notices set status = ?, attempts = ?, last_error = ?, "
                "next_attempt_at = ? where id = ?",
                ["dead" if retry_at is None else "pending", attempts, error[:500],
                 iso(retry_at or now), notice_id])

    def notice_sent(self, notice_id: int, attempts: int, now: datetime) -> None:
        """Mark a notice sent at ``now`` with ``attempts`` tries."""
        with self._write():
            self.db.execute("update notices set status = 'sent', attempts = ?, sent_at = ?, "
                            "last_error = null where id = ?", [attempts, iso(now), notice_id])
