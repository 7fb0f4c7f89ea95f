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
datetimes, tuples, and the string enums below, which are their own string values), so it
can be serialised as it is.

Inside the crawl side, the article links a feed, sitemap or front page lists travel as
:class:`Link` records.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class StrCode(str, enum.Enum):
    """A stable code stored and logged as its string value: ``LinkStatus.REJECTED ==
    "rejected"``, ``str()`` and f-strings give ``"rejected"`` (as ``enum.StrEnum`` does
    from Python 3.11; this runs on 3.10), and JSON and SQLite see the plain string."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class PageStatus(StrCode):
    """What became of a page or article link (:class:`monitor.pipeline.Outcome`), and
    what ``pages.status`` keeps for each link (all but ``queued``)."""

    STORED = "stored"            #: a new article
    UPDATED = "updated"          #: a new version of a stored article, its text changed
    DUPLICATE = "duplicate"      #: its canonical URL was stored before
    REJECTED = "rejected"        #: read but not an article, or not fetched (a reason)
    REDIRECTED = "redirected"    #: a link that redirected to a page stored under its URL
    QUEUED = "queued"            #: extracted by a distributed worker, sent to the writer


class LinkStatus(StrCode):
    """The status of a :class:`LinkOutcome`: an article link that gave no page."""

    REJECTED = "rejected"        #: refused, with a :class:`LinkReason`
    REDIRECTED = "redirected"    #: redirected to a URL recorded in its place


class LinkReason(StrCode):
    """Why the crawl side rejected an article link before any page was read (the
    extraction's own reasons, such as ``no-text``, are :data:`monitor.models.Rejection`
    codes of :mod:`monitor.extract`)."""

    HTTP_ERROR = "http-error"            #: an HTTP error status (404 and 410 are final)
    TOO_LARGE = "too-large"              #: larger than ``extraction.max_page_bytes``
    OFF_SITE = "off-site"                #: redirected off the source's allowed domains
    PRIVATE_ADDRESS = "private-address"  #: to a private or local network address
    ROBOTS = "robots"                    #: forbidden by the site's robots.txt


class Link(NamedTuple):
    """An article link as a feed, sitemap or front page lists it (crawl side only).

    Attributes:
        url: the absolute article URL.
        title: the entry's headline, or None.
        published: its publication time (aware UTC), or None.
        language: a Google News sitemap's ``news:language``, or None.
        lastmod: a sitemap's ``lastmod`` (aware), which orders entries without a
            publication date, or None.
        keywords: a Google News sitemap's ``news:keywords``.
        version: the version mark of the entry (a feed entry's updated time or content
            hash, a sitemap's lastmod), for re-alerts on edit; None when not asked for.
    """

    url: str
    title: str | None = None
    published: datetime | None = None
    language: str | None = None
    lastmod: datetime | None = None
    keywords: tuple[str, ...] = ()
    version: str | None = None

    def timestamp(self) -> float:
        """Orders a document's links: the publication time, else ``lastmod``, else 0
        (POSIX seconds)."""
        when = self.published or self.lastmod
        return when.timestamp() if when else 0.0


class Validator(NamedTuple):
    """A source document's validators for the next conditional GET."""

    url: str                      #: the document's URL
    etag: str | None              #: its ETag, or None
    last_modified: str | None     #: its Last-Modified, or None


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
        status: a :class:`LinkStatus` (``rejected`` or ``redirected``).
        reason: for rejected links, a :class:`LinkReason` (``http-error``,
            ``too-large``, ``off-site``, ``private-address``, ``robots``), else None.
        detail: one sentence with the evidence ("HTTP 404", "redirected to URL").
        transient: True when a later fetch may succeed (403, 429, 5xx): the link is
            fetched again after a back-off.
    """

    run_id: int
    url: str
    source: str
    status: LinkStatus
    reason: LinkReason | None = None
    detail: str | None = None
    transient: bool = False

    def __post_init__(self) -> None:
        # codes read back from JSON (the distributed queue) become enum members again;
        # an unknown code raises ValueError
        object.__setattr__(self, "status", LinkStatus(self.status))
        if self.reason is not None:
            object.__setattr__(self, "reason", LinkReason(self.reason))


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
    validators: tuple[Validator, ...] = field(default=())
    not_modified: bool = False
    retry_after_host: str | None = None
    retry_after_until: datetime | None = None
    moved_to: str | None = None

    def __post_init__(self) -> None:
        # (url, etag, last_modified) sequences, as read back from JSON, become Validators
        object.__setattr__(self, "validators", tuple(Validator(*v) for v in self.validators))
