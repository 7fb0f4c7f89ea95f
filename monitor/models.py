"""Plain data that flows through the core pipeline.

    Page -> extract -> Article | Rejection -> dedup -> match -> Hit -> store -> Alert

None of these types knows about Scrapy, Twisted or APScheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Page:
    """A fetched (or replayed) web page, before extraction.

    Attributes:
        url: the URL the page was fetched from, after redirects (for replay: the URL
            recorded beside the file, or a ``file://`` URL).
        body: the raw response body, bytes as received (not decoded).
        source: name of the configured source that led to this page ("replay" for files
            with no recorded source).
        headers: response headers, lower-cased names -> value (may be empty for replay).
        encoding: the charset declared by the response, or None to let extraction sniff.
        feed_title: the entry title given by the feed or sitemap that linked the page,
            if any; used as a fallback headline.
        feed_published: the entry's publication date given by the feed (or a Google News
            sitemap's ``news:publication_date``), timezone-aware, if any; used when the
            page gives none, or only a day guessed from its URL or links.
        feed_modified: the entry's ``lastmod`` in a sitemap that gives no publication
            date, timezone-aware, if any; used when nothing else dates the page.
        feed_language: the entry language given by the feed or sitemap (a Google News
            sitemap's ``news:language``, e.g. "en" or "zh-cn"), if any; used when the
            page names no language.
        path: the file path for replayed pages, else None.
        fetched_at: when the crawl side received the page (aware UTC), None for replay.
        run_id: the poll (:class:`monitor.records.PollTask`) that fetched it, or None.
        redirected_from: the links that redirected to ``url`` (recorded as seen once the
            page is written).
        feed_keywords: the entry's keywords given by the sitemap (a Google News
            sitemap's comma-separated ``news:keywords``), if any; used when the page
            gives none.
        version: the entry's version mark as the feed or sitemap lists it
            (``updated:<ISO time>``, ``sha1:<40 hex>`` of the entry's title and content,
            or ``lastmod:<ISO time>``; see :func:`monitor.store.version_is_newer`), or
            None when it gives none (replay). Kept with the link, so a later poll that
            lists a newer mark fetches the page again (re-alert on edit).
    """

    url: str
    body: bytes = field(repr=False)  # logs show the page, not its megabytes
    source: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    encoding: str | None = None
    feed_title: str | None = None
    feed_published: datetime | None = None
    feed_modified: datetime | None = None
    feed_language: str | None = None
    path: str | None = None
    fetched_at: datetime | None = None
    run_id: int | None = None
    redirected_from: tuple[str, ...] = ()
    feed_keywords: tuple[str, ...] = ()
    version: str | None = None


@dataclass
class Article:
    """An extracted news article.

    Attributes:
        url: canonical URL (rel=canonical, then og:url, then the request URL), normalised.
        request_url: the URL the page was fetched from.
        source: configured source name.
        title: the headline, whitespace-normalised.
        text: the body text, paragraphs separated by blank lines ("\\n\\n"); never empty.
        published: original publication time, timezone-aware (UTC when the page gives no
            zone), or None when the page carries no date.
        author: author names joined by "; ", or None.
        language: ISO 639-1 code (e.g. "en"), or None when unknown.
        partial: True when the body is a paywall stub (headline hits still count).
        comments: reader comments, kept apart from the body; watches ignore them unless
            they ask for the ``comments`` field. None when the page has none.
        description: the standfirst / meta description, or None.
        site_name: the outlet as the page names itself (og:site_name, then the JSON-LD
            publisher's name), e.g. "CBC News"; None when the page names none.
        keywords: the article's topic keywords as the page gives them (``news_keywords``,
            ``keywords`` and ``article:tag`` meta tags, JSON-LD ``keywords``), else the
            sitemap's ``news:keywords``; each once, in order; empty when none.
    """

    url: str
    request_url: str
    source: str
    title: str
    text: str
    published: datetime | None = None
    author: str | None = None
    language: str | None = None
    partial: bool = False
    comments: str | None = None
    description: str | None = None
    site_name: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    """A page that was read but is not stored as an article.

    Attributes:
        url: the request URL.
        source: configured source name.
        reason: a stable machine code, one of: ``not-html``, ``too-large``, ``http-error``,
            ``no-text``, ``too-short``, ``listing-page``, ``consent-wall``, ``duplicate``,
            ``robots``, ``off-site`` (a redirect left the source's allowed domains).
        detail: one human sentence with the evidence (sizes, counts, content type).
    """

    url: str
    source: str
    reason: str
    detail: str = ""


#: Rejection reasons of extraction that are final for a URL: the same URL gives the same
#: answer when fetched again.
PERMANENT_REASONS = frozenset({"not-html", "too-large", "listing-page"})
#: Rejection reasons of extraction after which the page may be an article when fetched
#: again later (a breaking-news stub grows, a consent wall is shown to some requests
#: only, a server sent an empty body once): the store retries these URLs.
TRANSIENT_REASONS = frozenset({"no-text", "too-short", "consent-wall"})


@dataclass(frozen=True)
class ExtractOptions:
    """Tunable limits for extraction (from the ``extraction`` section of monitor.yaml).

    Attributes:
        min_text_chars: bodies shorter than this many characters are rejected ``too-short``.
        max_page_bytes: bodies larger than this many bytes are rejected ``too-large``.
    """

    min_text_chars: int = 250
    max_page_bytes: int = 5_000_000


@dataclass(frozen=True)
class MatchSpan:
    """One occurrence of a watch term in an article.

    Attributes:
        field: "title", "text" or "comments".
        start: character offset of the first character in that field's text.
        end: offset one past the last character (Python slice convention).
        term: the query term or phrase that matched, as written in the watch.
        matched: the exact text that matched (``article.<field>[start:end]``).
    """

    field: str
    start: int
    end: int
    term: str
    matched: str


@dataclass
class Hit:
    """A watch matching an article.

    Attributes:
        watch_id: the watch's id from its rule file.
        watch_name: the human name of the watch.
        terms: distinct query terms that matched, in order of first occurrence.
        spans: every occurrence found, sorted by field then offset.
        entities: ids of entities (from rules/entities.yaml) seen in the article.
        snippet: about 200 characters of text around the first match, with every match
            marked as ``[[...]]``.
        channels: channel names this watch alerts on (empty tuple means all channels).
        mode: "immediate" or "digest".
        priority: "normal", or "urgent": its alerts bypass a channel's quiet hours,
            budget and burst grouping (see :mod:`monitor.policy`).
        matched: for a reader, one entry per term: the words that matched in the article,
            as written there, with the entity's name or the query term beside them when
            they differ, e.g. ``["Russia", "Pyongyang, DPRK (entity North Korea)",
            "sanctions (sanction*)"]``.
    """

    watch_id: str
    watch_name: str
    terms: list[str]
    spans: list[MatchSpan] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    snippet: str = ""
    channels: tuple[str, ...] = ()
    mode: str = "immediate"
    matched: list[str] = field(default_factory=list)
    priority: str = "normal"
    update: str | None = None


@dataclass(frozen=True)
class Alert:
    """A hit ready to be rendered and sent on a channel.

    Attributes:
        alert_id: the alert's number, the same on every channel: one per story and
            watch (the first outbox row of that story and watch); stable, so channels
            may use it for idempotency.
        watch_id, watch_name: the watch that fired.
        title: article headline.
        url: canonical article URL.
        source: source name.
        published: publication time (aware) or None.
        terms: matched terms, as written in the watch (``@russia``, ``sanction*``).
        snippet: text around the first match, matches marked ``[[...]]``.
        outlet: the outlet as the article's page names itself (og:site_name, JSON-LD
            publisher), or None: show ``source`` then.
        matched: the words that matched in the article, one entry per term, with the
            entity's name beside them (see :attr:`Hit.matched`); empty for alerts
            stored before this was kept: show ``terms`` then.
        update: for an alert on an edited article (a new version matched a watch the
            old one did not), ``"updated: now mentions ..."`` with the words it now
            matches; None for an alert on an article's first version.
    """

    alert_id: int
    watch_id: str
    watch_name: str
    title: str
    url: str
    source: str
    published: datetime | None
    terms: tuple[str, ...]
    snippet: str
    outlet: str | None = None
    matched: tuple[str, ...] = ()
    update: str | None = None


@dataclass(frozen=True)
class Notice:
    """A message about the monitor or the news flow itself, not about one article:
    a source-health condition or a spike (see :mod:`monitor.health`).

    Attributes:
        notice_id: the notice's number: its episode's, the same on every channel and for
            the start and the end (its own series, shown as "notice N").
        kind: ``source-failing``, ``source-silent``, ``extraction-drift``,
            ``source-moved``, ``network-down`` or ``spike``.
        event: ``start`` (the condition began) or ``end`` (it is over: a recovery).
        subject: what it is about: a source name, ``watch:ID``, ``entity:ID`` or
            ``network``.
        title: one line a reader understands on its own, e.g. "source bbc-world is
            failing: 4 polls in a row since 09:12 UTC".
        lines: the evidence, one line each (last error, example URLs, top stories).
        url: where to look (the source's URL, the top story), or None.
        started_at: when the condition began (aware UTC).
        ended_at: for an ``end`` notice, when it ended (aware UTC), else None.
    """

    notice_id: int
    kind: str
    event: str
    subject: str
    title: str
    lines: tuple[str, ...] = ()
    url: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class FollowUp:
    """More outlets carrying a story already alerted: added to the first alert's thread.

    Attributes:
        story_id: the story (``stories.id``).
        first: the story's first alert for this watch on this channel (its Message-ID,
            Slack post and webhook ``alert_id`` are what the follow-up refers to).
        outlets: the new outlets' names, oldest first (an outlet, else the source).
        urls: their article URLs, in the same order.
        thread_ref: the channel's own reference to the first post (a Slack ``ts``), or
            None when it keeps none.
    """

    story_id: int
    first: Alert
    outlets: tuple[str, ...]
    urls: tuple[str, ...]
    thread_ref: str | None = None

    @property
    def line(self) -> str:
        """The compact follow-up text, e.g. ``+3 outlets: A, B, C`` (``+1 outlet: A``)."""
        n = len(self.outlets)
        return f"+{n} outlet{'' if n == 1 else 's'}: {', '.join(self.outlets)}"
