"""The alert outbox: one row per hit and channel, claimed before sending, marked sent,
failed, given up, re-queued or held for a digest; channel holds (Retry-After); story
threads and their follow-ups; snoozes and mutes of watches and stories."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import clock
from monitor.clock import iso, parse_iso
from monitor.models import Alert, FollowUp
from monitor.owners import owner_gone, this_owner
from monitor.safetext import strip_bidi_controls
from monitor.store.state import StateStore

CLAIM_TIMEOUT = 600.0


MAX_AUTO_REQUEUES = 3


MAX_CHANNEL_HOLD = 3600.0


def _mute_reason(kind: str, target: str, until: str | None, reason: str | None) -> str:
    """The ``last_error`` of an alert not queued because of a mute or snooze in force
    (a ``mutes`` row's kind, target, until and reason), e.g. "watch nk snoozed until
    2026-11-30T18:00:00+00:00: travelling"."""
    what = f"watch {target}" if kind == "watch" else f"story {target}"
    how = f"snoozed until {until}" if until else "muted"
    return f"{what} {how}" + (f": {reason}" if reason else "")


@dataclass(frozen=True)
class PendingAlert:
    """An outbox row joined with its hit and article, ready for a channel.

    Attributes:
        outbox_id: the outbox row.
        channel: the channel name it goes to.
        mode: "immediate" or "digest".
        attempts: tries made so far.
        alert: the data a channel renders.
        priority: its watch's priority, "normal" or "urgent".
    """

    outbox_id: int
    channel: str
    mode: str
    attempts: int
    alert: Alert
    priority: str = "normal"


class OutboxStore(StateStore):
    """The ``outbox``, ``channel_holds``, ``followups``, ``threads`` and ``mutes`` tables."""

    def reclaim_dead_claims(self, now: datetime | None = None) -> int:
        """Put back in the queue the claimed (``sending``) rows whose sender is gone.

        A claim is taken back when its owner is a process of this host that no longer
        runs (see :func:`monitor.owners.owner_gone`), or when it is older than
        ``CLAIM_TIMEOUT`` seconds (an owner on another host, or none recorded).

        Args:
            now: the current time (for tests); default the wall clock.

        Returns:
            How many rows were put back.
        """
        now = now or clock.utcnow()
        owners = [r[0] for r in self.db.execute(
            "select distinct claimed_by from outbox where status = 'sending'")]
        gone = [o for o in owners if o is not None and owner_gone(o)]
        if not owners:
            return 0
        with self._write():
            n = self.db.execute("update outbox set status = 'pending', claimed_at = null, "
                                "claimed_by = null where status = 'sending' and "
                                "claimed_at < ?",
                                [iso(now - timedelta(seconds=CLAIM_TIMEOUT))]).rowcount
            for owner in gone:
                n += self.db.execute("update outbox set status = 'pending', claimed_at = "
                                     "null, claimed_by = null where status = 'sending' and "
                                     "claimed_by = ?", [owner]).rowcount
        return n

    def claim_alerts(self, mode: str, channels: Iterable[str], now: datetime | None = None,
                     limit: int = 200, problems: list[str] | None = None
                     ) -> list[PendingAlert]:
        """Claim the outbox rows due for delivery on the given channels, oldest first.

        Claimed rows are ``sending``, marked with this process as their owner, until
        :meth:`mark_sent`, :meth:`mark_failed` or :meth:`release`; another sender
        (``monitor deliver`` beside ``monitor run``) does not see them. Claims of senders
        that are gone are taken back first (:meth:`reclaim_dead_claims`). Claim only what
        is about to be sent: a claim outlives a crash of its owner only until another
        sender on the host looks.

        A row that cannot be read (bytes that are not UTF-8 in a damaged database, an
        unparsable date or JSON list) is not claimed: it is marked ``dead`` (``gave_up``
        'unreadable') with the reason, and the next due row is read in its place.

        Args:
            mode: "immediate" or "digest".
            channels: only rows for these channel names (rows for a channel no longer
                configured wait, and never block the others).
            now: rows whose next_attempt_at is after this are not due (default: now).
            limit: at most this many rows.
            problems: when given, one line is appended per unreadable row.

        Returns:
            The claimed alerts, oldest first (fewer than ``limit`` when fewer are due).
        """
        now = now or clock.utcnow()
        channels = list(channels)
        if not channels:
            return []
        self.reclaim_dead_claims(now)
        marks = ",".join("?" * len(channels))
        owner = this_owner()
        claimed: list[PendingAlert] = []
        with self._write():
            while len(claimed) < limit:
                # ids only (integers always read): one damaged text value never stops a pass
                ids = [r[0] for r in self.db.execute(
                    f"""select id from outbox where status = 'pending' and mode = ?
                          and next_attempt_at <= ? and channel in ({marks})
                        order by id limit ?""",
                    [mode, iso(now), *channels, limit - len(claimed)]).fetchall()]
                if not ids:
                    break
                for oid in ids:
                    try:
                        pending = self._read_alert(oid)
                    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as exc:
                        if isinstance(exc, sqlite3.OperationalError) and not any(
                                w in str(exc) for w in ("decode", "malformed")):
                            raise   # locked, full, I/O: the database, not this row
                        line = self._mark_unreadable(oid, exc, now)
                        if problems is not None:
                            problems.append(line)
                        continue
                    self.db.execute("update outbox set status = 'sending', claimed_at = ?, "
                                    "claimed_by = ? where id = ?", [iso(now), owner, oid])
                    claimed.append(pending)
        return claimed

    _ALERT_COLUMNS = (("outbox", "channel"), ("outbox", "mode"), ("outbox", "attempts"),
                      ("hits", "watch_id"), ("hits", "watch_name"), ("hits", "terms"),
                      ("hits", "snippet"), ("articles", "title"), ("articles", "url"),
                      ("articles", "source"), ("articles", "published"),
                      ("articles", "site_name"), ("hits", "matched"))

    def _read_alert(self, outbox_id: int) -> PendingAlert:
        """Read one outbox row with its hit and article as a :class:`PendingAlert`.

        Raises:
            sqlite3.Error: a text value cannot be decoded (a damaged page of the file).
            ValueError, TypeError: a stored date or JSON list cannot be parsed.
            KeyError: the row's hit or article is missing.
        """
        # the alert's number is its story's and watch's first outbox row: the same on
        # every channel
        row = self.db.execute(
            """select o.channel, o.mode, o.attempts, h.watch_id, h.watch_name, h.terms,
                      h.snippet, a.title, a.url, a.source, a.published, a.site_name,
                      h.matched, h.updated,
                      (select min(f.id) from outbox f where f.watch_id = o.watch_id
                       and f.story_id = o.story_id), o.priority
               from outbox o join hits h on h.id = o.hit_id
                             join articles a on a.id = h.article_id
               where o.id = ?""", [outbox_id]).fetchone()
        if row is None:
            raise KeyError(f"outbox row {outbox_id} has no hit or article")
        (channel, mode, attempts, watch_id, watch_name, terms, snippet, title, url, source,
         published, site_name, matched, updated, alert_id, priority) = row
        clean = strip_bidi_controls
        return PendingAlert(outbox_id, channel, mode, attempts, Alert(
            alert_id=alert_id, watch_id=watch_id, watch_name=clean(watch_name),
            title=clean(title), url=url, source=clean(source),
            published=parse_iso(published), terms=clean(tuple(json.loads(terms))),
            snippet=clean(snippet or ""), outlet=clean(site_name) or None,
            matched=clean(tuple(json.loads(matched or "[]"))),
            update=clean(updated) or None), priority or "normal")

    def _mark_unreadable(self, outbox_id: int, exc: BaseException, now: datetime) -> str:
        """Give up an outbox row that cannot be read (inside a write transaction).

        Returns:
            One line naming the row, its hit and article and what is wrong.
        """
        ids = self.db.execute("select o.hit_id, h.article_id from outbox o left join hits h "
                              "on h.id = o.hit_id where o.id = ?", [outbox_id]).fetchone()
        hit_id, article_id = ids if ids else (None, None)
        problem = " ".join(str(exc).split())
        match = re.search(r"column '(\w+)'", problem)
        column = match.group(1) if match else None
        tables = [t for t, c in self._ALERT_COLUMNS if c == column]
        where = (f"{tables[0]}.{column}" if tables else
                 f"articles row {article_id}" if article_id else "the row")
        if len(problem) > 160:
            problem = problem[:159] + "\u2026"
        line = (f"outbox row {outbox_id} (hit {hit_id}, article {article_id}) cannot be "
                f"read: {where}: {type(exc).__name__}: {problem}; marked dead, the "
                f"database may be damaged (run: sqlite3 {self.path} 'pragma integrity_check')")
        self.db.execute("update outbox set status = 'dead', gave_up = 'unreadable', "
                        "dead_at = ?, last_error = ?, claimed_at = null, claimed_by = null "
                        "where id = ?", [iso(now), line, outbox_id])
        return line

    def mark_sent(self, outbox_ids: Iterable[int], now: datetime | None = None) -> None:
        """Mark claimed outbox rows delivered (``sent_at``: ``now``, default the wall
        clock; a channel's budget counts from it)."""
        stamp = iso(now or clock.utcnow())
        with self._write():
            for oid in outbox_ids:
                self.db.execute("update outbox set status = 'sent', sent_at = ?, "
                                "claimed_at = null, claimed_by = null, "
                                "attempts = attempts + 1, last_error = null "
                                "where id = ?", [stamp, oid])

    def mark_failed(self, outbox_id: int, error: str, retry_at: datetime | None,
                    gave_up: str = "retries") -> None:
        """Record a failed delivery of one claimed row: pending again at ``retry_at``, or
        given up (status ``dead``) when ``retry_at`` is None.

        Args:
            outbox_id: the claimed row.
            error: the reason, one line.
            retry_at: when to try again, or None to give up.
            gave_up: with ``retry_at`` None, why: ``retries`` (transient failures until
                the attempts ran out: re-queued when the channel recovers, see
                :meth:`requeue_recovered`) or ``permanent``.
        """
        dead = retry_at is None
        with self._write():
            self.db.execute(
                "update outbox set attempts = attempts + 1, last_error = ?, claimed_at = null, "
                "claimed_by = null, status = ?, next_attempt_at = coalesce(?, "
                "next_attempt_at), dead_at = ?, gave_up = ? where id = ?",
                [error, "dead" if dead else "pending", iso(retry_at),
                 iso(clock.utcnow()) if dead else None, gave_up if dead else None, outbox_id])

    def release(self, outbox_ids: Iterable[int]) -> None:
        """Give claimed rows back unsent and untried (e.g. their channel is down this pass)."""
        with self._write():
            for oid in outbox_ids:
                self.db.execute("update outbox set status = 'pending', claimed_at = null, "
                                "claimed_by = null where id = ? and status = 'sending'", [oid])

    def requeue_recovered(self, channel: str, window: float,
                          now: datetime | None = None) -> int:
        """Re-queue a channel's alerts given up after transient failures, now that it works.

        Alerts of ``channel`` that are ``dead`` with ``gave_up`` 'retries', given up in the
        last ``window`` seconds and re-queued fewer than :data:`MAX_AUTO_REQUEUES` times,
        become pending again with a fresh count of attempts, due at ``now`` (they keep
        their place: oldest first). The count and time are kept in the ``state`` table
        (``requeued:<channel>``) for ``monitor status``.

        Args:
            channel: the channel that just delivered an alert.
            window: seconds; 0 re-queues nothing.
            now: the current time (for tests); default the wall clock.

        Returns:
            How many alerts were re-queued.
        """
        if window <= 0:
            return 0
        now = now or clock.utcnow()
        with self._write():
            n = self.db.execute(
                "update outbox set status = 'pending', attempts = 0, next_attempt_at = ?, "
                "requeued_at = ?, requeues = coalesce(requeues, 0) + 1, dead_at = null, "
                "gave_up = null where channel = ? and status = 'dead' and "
                "gave_up = 'retries' and dead_at >= ? and coalesce(requeues, 0) < ?",
                [iso(now), iso(now), channel, iso(now - timedelta(seconds=window)),
                 MAX_AUTO_REQUEUES]).rowcount
            if n:
                self.set_state(f"requeued:{channel}", json.dumps({"n": n, "at": iso(now)}))
        return n

    def probe_dead(self, channel: str, window: float, attempts: int, every: float,
                   now: datetime | None = None) -> bool:
        """Queue the oldest immediate alert of ``channel`` given up after transient
        failures in the last ``window`` seconds for one more try (a probe of whether the
        channel works again), at most once every ``every`` seconds per channel.

        When the probe is delivered, :meth:`requeue_recovered` brings back the others; when
        it fails it is given up again at once (its attempts are set to ``attempts``, one
        short of the limit).

        Args:
            channel: the channel to probe.
            window: seconds (0: no probe).
            attempts: the attempts count the probe gets (``max_attempts - 1``).
            every: seconds since the channel's last probe (``state`` key
                ``probe:<channel>``) before another is made; 0 probes now.
            now: the current time (for tests); default the wall clock.

        Returns:
            True when an alert was queued as a probe.
        """
        if window <= 0:
            return False
        now = now or clock.utcnow()
        last = parse_iso(self.get_state(f"probe:{channel}"))
        if every > 0 and last is not None and last + timedelta(seconds=every) > now:
            return False
        query = ("select id from outbox where channel = ? and status = 'dead' and "
                 "mode = 'immediate' and gave_up = 'retries' and dead_at >= ? and "
                 "coalesce(requeues, 0) < ? order by id limit 1")
        args = [channel, iso(now - timedelta(seconds=window)), MAX_AUTO_REQUEUES]
        if self.db.execute(query, args).fetchone() is None:
            return False        # the usual case: no write lock taken
        with self._write():
            row = self.db.execute(query, args).fetchone()
            if row is None:
                return False
            self.db.execute("update outbox set status = 'pending', attempts = ?, "
                            "next_attempt_at = ? where id = ?", [attempts, iso(now), row[0]])
            self.set_state(f"probe:{channel}", iso(now))
        return True

    def hold_channel(self, channel: str, until: datetime, reason: str) -> None:
        """Send nothing on ``channel`` before ``until`` (a Retry-After), at most
        :data:`MAX_CHANNEL_HOLD` seconds from now; a later hold replaces an earlier one,
        never shortens it."""
        until = min(until, clock.utcnow() + timedelta(seconds=MAX_CHANNEL_HOLD))
        with self._write():
            self.db.execute("insert into channel_holds (channel, until, reason) "
                            "values (?, ?, ?) on conflict(channel) do update set "
                            "until = max(until, excluded.until), reason = excluded.reason",
                            [channel, iso(until), reason])

    def channel_holds(self, now: datetime | None = None) -> dict[str, datetime]:
        """Returns: channel name -> held until, for holds not over at ``now``."""
        return self._holds("channel_holds", "channel", now or clock.utcnow())

    def due_count(self, mode: str, channels: Iterable[str], now: datetime | None = None
                  ) -> int:
        """Returns: how many pending rows of ``mode`` are due at ``now`` on ``channels``."""
        channels = list(channels)
        if not channels:
            return 0
        return self.db.execute(
            f"select count(*) from outbox where status = 'pending' and mode = ? and "
            f"next_attempt_at <= ? and channel in ({','.join('?' * len(channels))})",
            [mode, iso(now or clock.utcnow()), *channels]).fetchone()[0]

    def waiting_count(self, channel: str, now: datetime) -> int:
        """Returns: how many immediate alerts of ``channel``, not urgent, are pending
        and due at ``now`` (a burst when many, see :mod:`monitor.policy`)."""
        return self.db.execute(
            "select count(*) from outbox where status = 'pending' and mode = 'immediate' "
            "and channel = ? and next_attempt_at <= ? and coalesce(priority, 'normal') "
            "!= 'urgent'", [channel, iso(now)]).fetchone()[0]

    def hold_for_digest(self, channel: str, reason: str, until: datetime | None,
                        now: datetime, outbox_ids: Iterable[int] | None = None) -> int:
        """Move immediate alerts into the channel's digest (quiet hours, budget, burst).

        The rows become pending ``digest`` rows with ``held`` set to ``reason``, due at
        ``until`` (or ``now``), their claim released; urgent alerts are never moved.

        Args:
            channel: the channel.
            reason: why (:data:`monitor.policy.QUIET`, ``BUDGET`` or ``BURST``).
            until: the earliest time the digest may carry them, or None for now.
            now: the current time.
            outbox_ids: only these rows (claimed or pending); default every due pending
                immediate row of the channel.

        Returns:
            How many rows were moved.
        """
        due = iso(until or now)
        with self._write():
            if outbox_ids is not None:
                ids = list(outbox_ids)
                return self.db.conn.executemany(
                    "update outbox set mode = 'digest', held = ?, status = 'pending', "
                    "next_attempt_at = ?, claimed_at = null, claimed_by = null where id = ? "
                    "and channel = ? and mode = 'immediate' and status in ('pending', "
                    "'sending') and coalesce(priority, 'normal') != 'urgent'",
                    [(reason, due, oid, channel) for oid in ids]).rowcount
            return self.db.execute(
                "update outbox set mode = 'digest', held = ?, next_attempt_at = ? where "
                "channel = ? and status = 'pending' and mode = 'immediate' and "
                "next_attempt_at <= ? and coalesce(priority, 'normal') != 'urgent'",
                [reason, due, channel, iso(now)]).rowcount

    def held_due(self, channel: str, reason: str, now: datetime) -> bool:
        """Returns: whether alerts of ``channel`` held for ``reason`` are pending and due
        at ``now`` (quiet hours over: their digest goes out at once)."""
        return self.db.execute(
            "select 1 from outbox where channel = ? and status = 'pending' and "
            "mode = 'digest' and held = ? and next_attempt_at <= ? limit 1",
            [channel, reason, iso(now)]).fetchone() is not None

    def messages_sent(self, channel: str, since: datetime) -> int:
        """Messages ``channel`` sent since ``since``: each alert sent on its own, and each
        burst digest once (what a budget counts, see :mod:`monitor.policy`)."""
        alone, bursts = self.db.execute(
            "select sum(mode = 'immediate'), count(distinct case when held = 'burst' "
            "then sent_at end) from outbox where channel = ? and status = 'sent' and "
            "sent_at > ?", [channel, iso(since)]).fetchone()
        return (alone or 0) + (bursts or 0)

    def retry_dead(self) -> int:
        """Put every given-up (``dead``) alert back in the queue with a fresh count of
        attempts, e.g. after a channel's settings were fixed.

        Returns:
            How many alerts were re-queued.
        """
        with self._write():
            cur = self.db.execute("update outbox set status = 'pending', attempts = 0, "
                                  "dead_at = null, gave_up = null, next_attempt_at = ? "
                                  "where status = 'dead'", [iso(clock.utcnow())])
        return cur.rowcount

    def outbox_status(self) -> dict[str, int]:
        """Returns: outbox row counts by status, e.g. {"pending": 1, "sent": 4}."""
        return {r["status"]: r["n"] for r in
                self.db.query("select status, count(*) as n from outbox group by status")}

    # -- story threads -------------------------------------------------------------------

    def due_followups(self, channels: Iterable[str], now: datetime, every: float
                      ) -> list[tuple[list[int], FollowUp]]:
        """The follow-ups to send now: per (watch, story, channel) whose first alert was
        sent, its pending follow-ups gathered into one, unless one went out on that
        thread less than ``every`` seconds ago (they wait and accumulate meanwhile).

        Args:
            channels: the channels to look at.
            now: the current time.
            every: seconds; at most one follow-up per story, watch and channel in this
                time (0: no limit).

        Returns:
            ``[(followup row ids, FollowUp)]``, oldest story first; the FollowUp's
            ``first`` is the story's first alert read as for sending, with
            ``channel`` in :attr:`FollowUp`'s context given by the caller.
        """
        channels = list(channels)
        if not channels:
            return []
        since = iso(now - timedelta(seconds=every))
        groups = self.db.execute(
            f"""select f.watch_id, f.story_id, f.channel, group_concat(f.id),
                       (select min(o.id) from outbox o where o.watch_id = f.watch_id and
                        o.story_id = f.story_id and o.channel = f.channel
                        and o.status = 'sent'), t.ref
                from followups f left join threads t on t.watch_id = f.watch_id and
                     t.story_id = f.story_id and t.channel = f.channel
                where f.status = 'pending' and f.channel in ({','.join('?' * len(channels))})
                  and (t.followed_up_at is null or t.followed_up_at <= ?)
                group by f.watch_id, f.story_id, f.channel order by min(f.id)""",
            [*channels, since]).fetchall()
        out = []
        for _watch, story_id, _channel, ids, first_id, ref in groups:
            if first_id is None:        # the first alert has not gone out yet
                continue
            ids = sorted(int(i) for i in ids.split(","))
            rows = self.db.execute(
                f"select a.site_name, a.source, a.url from followups f join articles a on "
                f"a.id = f.article_id where f.id in ({','.join('?' * len(ids))}) "
                f"order by f.id", ids).fetchall()
            first = self._read_alert(first_id).alert
            out.append((ids, FollowUp(
                story_id, first,
                tuple(strip_bidi_controls(site or source) for site, source, _ in rows),
                tuple(url for _, _, url in rows), ref)))
        return out

    def mark_followups_sent(self, ids: Iterable[int], watch_id: str, story_id: int,
                            channel: str, now: datetime, status: str = "sent") -> None:
        """Mark follow-up rows ``status`` ('sent', or 'dead' when the channel refused
        them for good) and start the thread's rate-limit window at ``now``."""
        ids = list(ids)
        with self._write():
            self.db.conn.executemany(
                "update followups set status = ?, sent_at = ? where id = ?",
                [(status, iso(now), i) for i in ids])
            self.db.execute(
                "insert into threads (watch_id, story_id, channel, followed_up_at) values "
                "(?, ?, ?, ?) on conflict (watch_id, story_id, channel) do update set "
                "followed_up_at = excluded.followed_up_at",
                [watch_id, story_id, channel, iso(now)])

    def save_thread_ref(self, outbox_id: int, ref: str) -> None:
        """Keep a channel's reference to an alert's post (a Slack ``ts``) as its story's
        thread, for the follow-ups (:meth:`due_followups`)."""
        with self._write():
            self.db.execute(
                "insert into threads (watch_id, story_id, channel, ref) select watch_id, "
                "story_id, channel, ? from outbox where id = ? on conflict (watch_id, "
                "story_id, channel) do update set ref = coalesce(threads.ref, excluded.ref)",
                [ref, outbox_id])

    # -- snoozes and mutes ---------------------------------------------------------------

    def _muted_reasons(self, watch_ids: Iterable[str], story_id: int, now: str
                       ) -> dict[str, str]:
        """Why alerts of these watches on this story are not to be queued now (a snooze
        or mute in force, see :meth:`mute`), read in one query for all of them.

        Of the mutes in force on a watch or on the story, the one that lasts longest
        gives the reason (a mute without end first, then the latest ``until``; of
        equal ones, the first set).

        Args:
            watch_ids: the watches (ids) of an article's hits.
            story_id: the article's story.
            now: the current time, ISO text.

        Returns:
            watch id -> reason, for the watches among ``watch_ids`` whose alerts on the
            story are muted (all of them when the story is muted); the others are left
            out.
        """
        rows = self.db.conn.execute(
            "select kind, target, until, reason from mutes where ended_at is null and "
            "(until is null or until > ?) and (kind = 'watch' or (kind = 'story' and "
            "target = ?)) order by until is not null, until desc, id",
            [now, str(story_id)]).fetchall()
        if not rows:
            return {}
        # the rows come longest first: each target's first row is its reason
        story = next((r for r in rows if r[0] == "story"), None)
        watches: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            if row is story:
                break   # the story's mute outlasts those of watches after it
            if row[0] == "watch":
                watches.setdefault(row[1], row)
        out = {}
        for watch_id in watch_ids:
            row = watches.get(watch_id, story)
            if row is not None:
                out[watch_id] = _mute_reason(*row)
        return out

    def mute(self, kind: str, target: str, until: datetime | None = None,
             reason: str | None = None, by: str | None = None,
             now: datetime | None = None) -> int:
        """Snooze (with ``until``) or mute (without) a watch or a story: from now on its
        new alerts are not queued (see :meth:`save_article`), and its alerts still
        waiting (``pending``) are set ``muted`` with the reason, so a digest does not
        send them either. Alerts being sent or sent already are left as they are.

        Args:
            kind: ``"watch"`` or ``"story"``.
            target: the watch id, or the story id (an int or its text).
            until: the end of a snooze (aware datetime); None mutes until :meth:`unmute`.
            reason: a note kept with it (shown on the desk and in the outbox rows).
            by: who set it (e.g. ``"desk"``).
            now: the current time (for tests); default the wall clock.

        Returns:
            The new ``mutes`` row id.

        Raises:
            ValueError: ``kind`` is neither, or ``until`` is not in the future.
            sqlite3.OperationalError: the database stayed locked.
        """
        if kind not in ("watch", "story"):
            raise ValueError(f"kind must be 'watch' or 'story', not {kind!r}")
        now = now or clock.utcnow()
        if until is not None and until <= now:
            raise ValueError(f"until ({iso(until)}) must be in the future")
        target = str(target)
        if kind == "story" and not target.isdigit():
            raise ValueError(f"a story is given by its number, not {target!r}")
        why = (f"{kind} {target} " + (f"snoozed until {iso(until)}" if until else "muted")
               + (f": {reason}" if reason else ""))
        with self._write():
            mute_id = self._insert(
                "insert into mutes (kind, target, until, reason, created_at, created_by) "
                "values (?, ?, ?, ?, ?, ?)",
                [kind, target, iso(until), reason, iso(now), by])
            column = "watch_id" if kind == "watch" else "story_id"
            self.db.execute(f"update outbox set status = 'muted', last_error = ? "
                            f"where status = 'pending' and {column} = ?",
                            [why, target if kind == "watch" else int(target)])
        return mute_id

    def unmute(self, kind: str, target: str, now: datetime | None = None) -> int:
        """Lift every snooze and mute of a watch or story now in force. Alerts set
        ``muted`` meanwhile stay so (they are not sent late).

        Args:
            kind: ``"watch"`` or ``"story"``.
            target: the watch id or story id.
            now: the current time (for tests); default the wall clock.

        Returns:
            How many were lifted (0 when none was in force).
        """
        stamp = iso(now or clock.utcnow())
        with self._write():
            return self.db.execute(
                "update mutes set ended_at = ? where kind = ? and target = ? and "
                "ended_at is null and (until is null or until > ?)",
                [stamp, kind, str(target), stamp]).rowcount

    def active_mutes(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The snoozes and mutes in force at ``now`` (default: the wall clock); a snooze
        whose ``until`` has passed is over.

        Returns:
            Newest first, dicts with keys id, kind, target, until (ISO text or None),
            reason, created_at, created_by.
        """
        return [dict(r) for r in self.db.query(
            "select id, kind, target, until, reason, created_at, created_by from mutes "
            "where ended_at is null and (until is null or until > ?) order by id desc",
            [iso(now or clock.utcnow())])]

    # -- reads for monitor status and monitor deliver ------------------------------------

    def pending_summary(self) -> tuple[int, str | None]:
        """Returns: (alerts pending, the earliest next attempt as ISO text or None)."""
        n, first = self.db.execute("select count(*), min(next_attempt_at) from outbox "
                                   "where status = 'pending'").fetchone()
        return n, first

    def outbox_errors(self) -> list[dict[str, Any]]:
        """The pending and given-up alerts that carry an error, per channel and status.

        Returns:
            dicts with ``channel``, ``status``, ``n``, ``next`` (earliest next attempt)
            and ``error`` (one of the errors).
        """
        return [dict(r) for r in self.db.query(
            "select channel, status, count(*) as n, min(next_attempt_at) as next, "
            "max(last_error) as error from outbox where status in ('pending', 'dead') "
            "and last_error is not null group by channel, status")]

    def held_counts(self) -> list[tuple[str, str, int]]:
        """Returns: ``(channel, why held, alerts)`` of pending alerts a channel's policy
        moved into its digest, by channel and reason."""
        return self.db.execute(
            "select channel, held, count(*) from outbox where status = 'pending' and "
            "held is not null group by channel, held order by channel, held").fetchall()

    def requeue_notes(self) -> list[tuple[str, int, str, int]]:
        """The last automatic re-queue of each channel (:meth:`requeue_recovered`).

        Returns:
            ``(channel, alerts re-queued, when (ISO text), of them not sent yet)``, by
            channel; a note that cannot be read is left out.
        """
        out = []
        for key, value in self.db.execute(
                "select key, value from state where key like 'requeued:%' order by key"):
            channel = key.partition(":")[2]
            try:
                note = json.loads(value)
                n, at = int(note["n"]), note["at"]
            except (ValueError, KeyError, TypeError):
                continue
            left = self.db.execute(
                "select count(*) from outbox where channel = ? and requeued_at = ? and "
                "status != 'sent'", [channel, at]).fetchone()[0]
            out.append((channel, n, at, left))
        return out

    def unreadable_count(self) -> tuple[int, int | None]:
        """Returns: (outbox rows given up as unreadable, the first one's id or None)."""
        n, first = self.db.execute("select count(*), min(id) from outbox "
                                   "where gave_up = 'unreadable'").fetchone()
        return n, first
