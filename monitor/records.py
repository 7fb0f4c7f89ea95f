"""What crosses the line between the crawl side and the writer.

The crawl side (Scrapy, in ``monitor.crawl`` and ``spiders/``) fetches; the writer
(:mod:`monitor.writer`) extracts, deduplicates, matches, stores and schedules. They
exchange only these plain records (and :class:`monitor.models.Page`), so that a queue
can be put between them (Redis, for the distributed mode) without changing either side:

    writer -> crawl:  PollTask      a source due for a poll
    crawl -> writer:  Page          an article page as fetched (with its ``run_id``)
                      LinkOutcome   an article link that gave no page (404, robots.txt,
                                    too large, redirected) and whether to try it again
                      RunResult     the end of one poll of one source

Every record is a frozen dataclass of plain values (str, int, float, bool, aware
datetimes, tuples), so it can be serialised as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PollTask:
    """One source due for a poll.

    Attributes:
        run_id: identifies this poll; every Page and LinkOutcome of it carries it.
        source: the source name.
        kind: ``feed``, ``sitemap`` or ``page`` (a front page read for article links).
        url: the feed, sitemap or page URL.
        max_articles: at most this many new article pages in this poll.
        due_at: when the poll was due (aware UTC); lateness is measured from it.
        etag: the ETag the source document last answered with (for If-None-Match),
            kept only after a complete poll; None for an unconditional GET.
        last_modified: likewise its Last-Modified (for If-Modified-Since).
        allowed_domains: the source's ``allowed_domains`` (None: the default rule of
            :func:`monitor.urls.article_domains`).
    """

    run_id: int
    source: str
    kind: str
    url: str
    max_articles: int
    due_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    allowed_domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LinkOutcome:
    """An article link whose fetch gave no page to extract.

    Attributes:
        run_id: the poll it belongs to.
        url: the link as listed (before redirects).
        source: the source name.
        status: ``rejected`` or ``redirected``.
        reason: for rejected links, a :class:`monitor.models.Rejection` reason code
            (``http-error``, ``too-large``, ``robots``), else None.
        detail: one sentence with the evidence ("HTTP 404", "redirected to URL").
        transient: True when a later fetch may succeed (403, 429, 5xx): the link is
            fetched again after a back-off.
    """

    run_id: int
    url: str
    source: str
    status: str
    reason: str | None = None
    detail: str | None = None
    transient: bool = False


@dataclass(frozen=True)
class RunResult:
    """The end of one poll of one source.

    Attributes:
        run_id: the poll.
        source: the source name.
        url: the source's URL.
        ok: False when the source document could not be fetched or read (see ``error``).
        error: what went wrong, in words a person can act on, or None.
        new_links: new article links found in the source's documents.
        pages: article pages handed to the writer in this poll.
        complete: True when every new link was fetched (none left for a later poll, no
            network error); the writer also requires every page to have been written
            before it keeps the documents' validators.
        validators: ``(document url, etag, last_modified)`` of each feed or sitemap
            document read (saved for the next conditional GET only for a complete poll).
        started_at: when the poll began (aware UTC).
        finished_at: when its last request ended (aware UTC).
        due_at: when it was due (aware UTC).
        not_modified: True when every document answered 304.
        retry_after_host: a host that answered 429/503 with Retry-After, or None.
        retry_after_until: until when that host asked to be left alone, or None.
        moved_to: the URL the source's document permanently redirected to (301 or 308
            from the source's own URL), or None when it did not.
    """

    run_id: int
    source: str
    url: str
    ok: bool
    error: str | None
    new_links: int
    pages: int
    complete: bool
    started_at: datetime
    finished_at: datetime
    due_at: datetime
    validators: tuple[tuple[str, str | None, str | None], ...] = field(default=())
    not_modified: bool = False
    retry_after_host: str | None = None
    retry_after_until: datetime | None = None
    moved_to: str | None = None
