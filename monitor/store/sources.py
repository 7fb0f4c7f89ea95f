"""Sources and what the crawl remembers of them: configured and OPML-imported sources
with their poll schedule (``sources``, ``host_holds``), conditional-GET validators
(``fetch_state``), the seen-link filter (``pages``, keyed by :func:`monitor.urls.url_key`)
and source-health episodes and their notices (``episodes``, ``notices``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor import clock
from monitor.clock import iso, parse_iso
from monitor.errors import ConfigError
from monitor.models import TRANSIENT_REASONS, Rejection
from monitor.store.base import StoreBase
from monitor.urls import url_key

if TYPE_CHECKING:
    from monitor.config import SourceConfig
    from monitor.schedule import SourceState

RETRY_BASE = 1800.0


RETRY_MAX_ATTEMPTS = 4


def version_is_newer(listed: str | None, kept: str | None) -> bool:
    """Whether a link's version mark listed now says its article changed since the mark
    kept with it.

    Marks are ``updated:<ISO 8601 UTC>`` (a feed entry's updated time),
    ``lastmod:<ISO 8601 UTC>`` (a sitemap's ``lastmod``) or ``sha1:<40 hex>`` (a feed
    entry's title and content, hashed). A time is newer only when later (a sitemap
    whose lastmod goes back is no edit); a hash when different; a mark of another kind
    than the kept one counts as newer (the page is fetched once more: its text decides).

    Args:
        listed: the mark the feed or sitemap lists now, or None.
        kept: the mark kept with the link, or None.

    Returns:
        False when either is None.
    """
    if not listed or not kept:
        return False
    kind, _, value = listed.partition(":")
    kept_kind, _, kept_value = kept.partition(":")
    if kind != kept_kind:
        return True
    if kind == "sha1":
        return value != kept_value
    return value > kept_value


class SourcesStore(StoreBase):
    """Sources, their schedule and validators, the seen links, health episodes."""

    # -- sources and fetch state -------------------------------------------------------

    def sync_sources(self, sources: Iterable[SourceConfig]) -> None:
        """Record the configured sources (name, kind, url and schedule limits), keeping
        their crawl history and schedule; one transaction for all of them.

        Args:
            sources: :class:`monitor.config.SourceConfig` objects from monitor.yaml.

        Raises:
            ConfigError: a source of monitor.yaml has the name of a source imported
                from OPML (rename one of them).
        """
        rows = [(s.name, s.kind, s.url, s.interval, s.min_interval_s, s.max_interval_s,
                 s.max_articles, int(s.enabled)) for s in sources]
        names = [r[0] for r in rows]
        clash = []
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            clash += [r[0] for r in self.db.execute(
                f"select name from sources where origin = 'opml' and name in "
                f"({','.join('?' * len(chunk))})", chunk)]
        if clash:
            raise ConfigError(f"source {clash[0]!r} is in monitor.yaml and was also "
                              f"imported from OPML: rename one (monitor sources remove "
                              f"{clash[0]} drops the imported one)")
        with self._write():
            self.db.conn.executemany(
                "insert into sources (name, kind, url, origin, interval, min_interval, "
                "max_interval, max_articles, enabled) values (?, ?, ?, 'config', ?, ?, ?, ?, ?) "
                "on conflict(name) do update set kind = excluded.kind, url = excluded.url, "
                "origin = 'config', min_interval = excluded.min_interval, "
                "max_interval = excluded.max_interval, max_articles = excluded.max_articles, "
                "enabled = excluded.enabled, interval = case when sources.interval is null "
                "or sources.url != excluded.url then excluded.interval else min(max("
                "sources.interval, excluded.min_interval), excluded.max_interval) end, "
                # a new URL (a source fixed after failing) starts afresh, due now
                "failures = case when sources.url != excluded.url then 0 else "
                "sources.failures end, failing_since = case when sources.url != "
                "excluded.url then null else sources.failing_since end, next_due_at = "
                "case when sources.url != excluded.url then null else sources.next_due_at end",
                rows)

    def import_sources(self, sources: Iterable[dict[str, Any]]) -> int:
        """Add or update sources imported from an OPML file (``origin`` 'opml').

        Args:
            sources: dicts with name, kind, url, title, category, interval,
                min_interval, max_interval, max_articles (seconds for the intervals).

        Returns:
            How many rows were added or updated.
        """
        rows = [(s["name"], s["kind"], s["url"], s.get("title"), s.get("category"),
                 s["interval"], s["min_interval"], s["max_interval"], s["max_articles"])
                for s in sources]
        with self._write():
            self.db.conn.executemany(
                "insert into sources (name, kind, url, origin, title, category, interval, "
                "min_interval, max_interval, max_articles, enabled) "
                "values (?, ?, ?, 'opml', ?, ?, ?, ?, ?, ?, 1) "
                "on conflict(name) do update set kind = excluded.kind, url = excluded.url, "
                "title = excluded.title, category = excluded.category, "
                "min_interval = excluded.min_interval, max_interval = excluded.max_interval, "
                "max_articles = excluded.max_articles", rows)
        return len(rows)

    def remove_sources(self, names: Iterable[str]) -> int:
        """Delete imported (OPML) sources by name; configured ones stay.

        Returns:
            How many were removed.
        """
        names = list(names)
        with self._write():
            cur = self.db.conn.executemany(
                "delete from sources where origin = 'opml' and name = ?",
                [(n,) for n in names])
        return cur.rowcount

    def imported_sources(self) -> list[dict[str, Any]]:
        """Returns: the OPML-imported source rows (dicts of the ``sources`` columns),
        ordered by name."""
        return list(self.db.query(
            "select * from sources where origin = 'opml' order by name"))

    def source_rows(self) -> dict[str, dict[str, Any]]:
        """Returns: every ``sources`` row by name (history and schedule)."""
        return {r["name"]: r for r in self.db.query("select * from sources")}

    def schedule_states(self, sources: Iterable[SourceConfig]) -> list[SourceState]:
        """The schedule state of each given source, from its row (a source never
        polled has ``next_due_at`` None and its configured interval).

        Args:
            sources: SourceConfig objects.

        Returns:
            :class:`monitor.schedule.SourceState` objects, in the order given.
        """
        from monitor.schedule import SourceState

        rows = self.source_rows()
        out = []
        for s in sources:
            r = rows.get(s.name, {})
            interval = r.get("interval") or s.interval
            out.append(SourceState(
                name=s.name, url=s.url,
                interval=min(max(interval, s.min_interval_s), s.max_interval_s),
                min_interval=s.min_interval_s, max_interval=s.max_interval_s,
                next_due_at=parse_iso(r.get("next_due_at")),
                failures=r.get("failures") or 0,
                failing_since=parse_iso(r.get("failing_since")),
                last_polled_at=parse_iso(r.get("last_polled_at")),
                last_ok_at=parse_iso(r.get("last_ok_at")),
                last_new_at=parse_iso(r.get("last_new_at")),
                last_error=r.get("last_error")))
        return out

    def save_schedule(self, states: Iterable[SourceState],
                      holds: dict[str, datetime] | None = None) -> None:
        """Write schedule states (and host holds) back, in one transaction.

        Args:
            states: :class:`monitor.schedule.SourceState` objects.
            holds: host -> held-until datetime; replaces the stored holds when given.

        Raises:
            sqlite3.OperationalError: the database stayed locked (or full) past the
                busy timeout; nothing was written, call again later.
        """
        rows = [(s.interval, iso(s.next_due_at), s.failures, iso(s.failing_since),
                 iso(s.last_polled_at), iso(s.last_ok_at), iso(s.last_new_at),
                 iso(s.last_polled_at), "error" if s.failures or s.last_error else "ok",
                 s.last_error,
                 s.name) for s in states]
        with self._write():
            self.db.conn.executemany(
                "update sources set interval = ?, next_due_at = ?, failures = ?, "
                "failing_since = ?, last_polled_at = ?, last_ok_at = ?, last_new_at = ?, "
                "last_crawl_at = coalesce(?, last_crawl_at), last_status = ?, "
                "last_error = ? where name = ?", rows)
            if holds is not None:
                self.db.execute("delete from host_holds")
                self.db.conn.executemany(
                    "insert into host_holds (host, until) values (?, ?)",
                    [(h, iso(u)) for h, u in holds.items()])

    def save_moved(self, moves: dict[str, str | None]) -> None:
        """Record where sources' documents permanently redirect to (None: they do not
        any more), in one transaction.

        Raises:
            sqlite3.OperationalError: the database stayed locked (or full).
        """
        with self._write():
            self.db.conn.executemany("update sources set moved_to = ? where name = ?",
                                     [(url, name) for name, url in moves.items()])

    def host_holds(self) -> dict[str, datetime]:
        """Returns: host -> held until (Retry-After), for holds not yet over."""
        return self._holds("host_holds", "host", clock.utcnow())

    def save_fetch_states(self, validators: Iterable[tuple[str, str | None, str | None]]
                          ) -> None:
        """Remember several documents' validators (url, etag, last_modified) at once."""
        now = iso(clock.utcnow())
        with self._write():
            self.db.conn.executemany(
                "insert into fetch_state (url, etag, last_modified, checked_at) "
                "values (?, ?, ?, ?) on conflict(url) do update set etag = excluded.etag, "
                "last_modified = excluded.last_modified, checked_at = excluded.checked_at",
                [(u, e, m, now) for u, e, m in validators])

    def record_crawl(self, source: str, ok: bool, error: str | None = None) -> None:
        """Record the end of one crawl of ``source``: status ok or error, with the error text."""
        self.db.table("sources").upsert({"name": source, "last_crawl_at": iso(clock.utcnow()),
                                   "last_status": "ok" if ok else "error",
                                   "last_error": error}, pk="name")

    def fetch_state(self, url: str) -> dict[str, str | None]:
        """Returns: {"etag": str|None, "last_modified": str|None} last seen for ``url``."""
        rows = list(self.db.query(
            "select etag, last_modified from fetch_state where url = ?", [url]))
        return rows[0] if rows else {"etag": None, "last_modified": None}

    def save_fetch_state(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators a feed or sitemap answered with, for the next conditional GET."""
        self.save_fetch_states([(url, etag, last_modified)])

    # -- pages (the seen-link filter) ---------------------------------------------------

    def _page_rows(self, links: Iterable[str], columns: str, where: str = "",
                   args: Iterable[Any] = ()) -> dict[str, tuple[Any, ...]]:
        """The ``pages`` row of each link, found by its identity key or, for a row
        recorded before keys were (a link as written), by the link itself.

        Args:
            links: links as listed or fetched.
            columns: the columns to read after ``url``, e.g. ``"retry_at"``.
            where: more conditions (SQL), ANDed; ``args`` are their parameters.

        Returns:
            link -> the row's columns (a tuple), for the links with a row (the keyed
            row when both exist). One query per 250 links.
        """
        links = list(dict.fromkeys(links))
        keys = {link: url_key(link) for link in links}
        args = list(args)
        found: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(links), 250):
            chunk = links[i:i + 250]
            wanted = list(dict.fromkeys([*(keys[u] for u in chunk), *chunk]))
            marks = ",".join("?" * len(wanted))
            found.update((r[0], tuple(r[1:])) for r in self.db.execute(
                f"select url, {columns} from pages where url in ({marks}) {where}",
                [*wanted, *args]).fetchall())
        out = {}
        for link in links:
            row = found.get(keys[link], found.get(link))
            if row is not None:
                out[link] = row
        return out

    def unseen(self, urls: Iterable[str], now: datetime | None = None) -> set[str]:
        """The links among ``urls`` never fetched, or whose transient outcome is due for
        a retry.

        A link is known by its identity key (:func:`monitor.urls.url_key`), so the same
        article listed with a tracking parameter, a fragment or another letter case of
        its host is seen; a link recorded before keys were (a database from before the
        upgrade) is also found as written.

        Args:
            urls: links as listed by a feed, sitemap or front page.
            now: the time retries are due by (for tests); default the wall clock.

        Returns:
            The links to fetch, as given. One query per 250 links.
        """
        links = list(dict.fromkeys(urls))
        due = iso(now or clock.utcnow())
        done = self._page_rows(links, "1", "and (retry_at is null or retry_at > ?)", [due])
        return {u for u in links if u not in done}

    def page_retries(self, urls: Iterable[str]) -> dict[str, str | None]:
        """When each recorded link may be fetched again.

        Args:
            urls: links as listed or fetched.

        Returns:
            link -> its ``retry_at`` (ISO text), None when its outcome is final; links
            never recorded are left out.
        """
        return {u: r[0] for u, r in self._page_rows(urls, "retry_at").items()}

    def recent_pages(self, since: datetime, now: datetime) -> list[tuple[str, str, str | None]]:
        """The links first recorded since ``since``, or due for a retry after ``now``
        (what distributed workers must see as seen: :mod:`monitor.distributed.writer`).

        Returns:
            ``[(link key, first_seen, retry_at)]`` (ISO text; retry_at None: final).
        """
        return [tuple(r) for r in self.db.execute(
            "select url, first_seen, retry_at from pages where first_seen >= ? "
            "or retry_at > ?", [iso(since), iso(now)]).fetchall()]

    def record_page(self, url: str, source: str, status: str, reason: str | None = None,
                    detail: str | None = None, article_id: int | None = None,
                    transient: bool = False) -> None:
        """Record the outcome for a fetched link, under its identity key
        (:func:`monitor.urls.url_key`).

        A permanent outcome is final: later outcomes for the link are ignored. A
        transient one (``transient=True``) makes the link due again after ``RETRY_BASE``
        seconds, doubled at every try; after ``RETRY_MAX_ATTEMPTS`` tries it is final
        too. A later outcome replaces a transient one. A row recorded before keys were
        (the link as written) is moved to the key, keeping its attempts.
        """
        now = clock.utcnow()
        key = url_key(url)
        execute = self.db.execute
        rows = {r[0]: r[1:] for r in execute(
            "select url, attempts, retry_at from pages where url in (?, ?)",
            [key, url]).fetchall()}
        row = rows.get(key, rows.get(url))
        if row is not None and row[1] is None:
            return  # final already
        if key not in rows and url in rows:
            execute("update pages set url = ? where url = ?", [key, url])
        attempts = (row[0] or 0) + 1 if row is not None else 1
        retry_at = None
        if transient and attempts < RETRY_MAX_ATTEMPTS:
            retry_at = iso(now + timedelta(seconds=RETRY_BASE * 2 ** (attempts - 1)))
        execute(
            "insert into pages (url, source, first_seen, status, reason, detail, article_id, "
            "attempts, retry_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict(url) do update "
            "set status = excluded.status, reason = excluded.reason, detail = excluded.detail, "
            "article_id = excluded.article_id, attempts = excluded.attempts, "
            "retry_at = excluded.retry_at",
            [key, source, iso(now), status, reason, detail, article_id, attempts, retry_at])

    def record_rejection(self, rejection: Rejection, transient: bool | None = None) -> None:
        """Record a page that was read but not stored, with its reason.

        Args:
            rejection: the page and why it is not stored.
            transient: whether a later fetch may succeed; default: True for the reasons
                in :data:`monitor.models.TRANSIENT_REASONS`.
        """
        if transient is None:
            transient = rejection.reason in TRANSIENT_REASONS
        self.record_page(rejection.url, rejection.source, "rejected", rejection.reason,
                         rejection.detail, transient=transient)

    def changed(self, marks: dict[str, str]) -> set[str]:
        """The links among ``marks`` already seen whose feed or sitemap now lists a newer
        version mark than the one kept with them (re-alert on edit).

        Args:
            marks: link -> the version mark listed now (see :func:`version_is_newer`).

        Returns:
            The links to fetch again, as given. A link with no mark kept (recorded
            before marks were, or listed without one) is not among them.
        """
        kept = self._page_rows([u for u, m in marks.items() if m], "version",
                               "and version is not null")
        return {u for u, (version,) in kept.items() if version_is_newer(marks[u], version)}

    def record_version(self, urls: Iterable[str], version: str) -> None:
        """Keep ``version`` as the version mark of the links ``urls`` (rows of ``pages``
        already recorded, found by key or as written; others are left alone)."""
        self.db.conn.executemany(
            "update pages set version = ? where url in (?, ?)",
            [(version, url_key(u), u) for u in dict.fromkeys(urls)])

    # -- reads for status, reports and health -------------------------------------------

    def validators(self, urls: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """The conditional-GET validators kept for documents.

        Args:
            urls: feed, sitemap or front-page URLs.

        Returns:
            url -> (etag, last_modified), for those among ``urls`` with a row.
        """
        wanted = set(urls)
        return {u: (e, m) for u, e, m in self.db.execute(
            "select url, etag, last_modified from fetch_state") if u in wanted}

    def source_health_rows(self) -> list[tuple[Any, ...]]:
        """Every ``sources`` row as the health check reads it.

        Returns:
            Tuples ``(name, kind, url, enabled (1 when unset), failures (0 when unset),
            failing_since, last_error, last_polled_at, moved_to, origin)``.
        """
        return self.db.execute(
            "select name, kind, url, coalesce(enabled, 1), coalesce(failures, 0), "
            "failing_since, last_error, last_polled_at, moved_to, origin from sources"
        ).fetchall()

    def enabled_source_states(self) -> list[tuple[str, int, str | None]]:
        """Returns: ``(name, failures in a row, last_error)`` of each enabled source,
        by name."""
        return self.db.execute(
            "select name, coalesce(failures, 0), last_error from sources "
            "where coalesce(enabled, 1) order by name").fetchall()

    def rejections_since(self, since: datetime) -> dict[str, dict[str, int]]:
        """Returns: source -> {reason ('?' when none): pages rejected} for links first
        recorded since ``since``."""
        out: dict[str, dict[str, int]] = {}
        for source, reason, n in self.db.execute(
                "select source, reason, count(*) from pages where status = 'rejected' and "
                "first_seen >= ? group by 1, 2", [iso(since)]):
            out.setdefault(source, {})[reason or "?"] = n
        return out

    def page_outcomes_since(self, since: datetime, recent: datetime
                            ) -> list[tuple[str, bool, str, str | None, str]]:
        """The outcomes of links first recorded since ``since``, newest first.

        Returns:
            ``(source, recorded since ``recent``, status, reason, link key)`` tuples.
        """
        return [(s, bool(r), st, why, u) for s, r, st, why, u in self.db.execute(
            "select source, first_seen >= ?, status, reason, url from pages "
            "where first_seen >= ? order by first_seen desc", [iso(recent), iso(since)])]
