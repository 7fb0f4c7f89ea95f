"""Find a site's feeds and sitemaps (``monitor sources discover URL``).

Where a desk knows only a site's address, this finds what the monitor can poll:

1. the page itself, when it already is a feed or a sitemap;
2. the feeds the page announces (``<link rel="alternate" type="application/rss+xml">``
   and Atom/RDF kin, :func:`monitor.documents.feed_links`);
3. the feeds at the paths common CMSs use (``/feed``, ``/rss.xml``, ...:
   :data:`FEED_PATHS`), when the page announces none;
4. the sitemaps robots.txt names (``Sitemap:`` lines in any case, with a byte-order
   mark, CRLF or CR line ends), else those at :data:`SITEMAP_PATHS`; a Google News
   sitemap is marked as such (it lists the last two days: the best sitemap to poll);
5. when nothing else is found, the page itself as a ``page`` source if it has article
   links (:func:`monitor.frontpage.article_links`).

Each candidate is fetched and kept only when its content is what it claims
(:func:`monitor.documents.document_kind`). Fetching uses httpx with the monitor's
User-Agent and timeout; no Scrapy here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from monitor.documents import UnpackError, document_kind, feed_links, gunzip_capped, robots_sitemaps
from monitor.frontpage import article_links
from monitor.words import count

#: feed paths tried when a page announces no feed (WordPress, Ghost, Hugo, Jekyll, Drupal)
FEED_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml",
              "/feeds/posts/default", "/rss/index.xml")
#: sitemap paths tried when robots.txt names none
SITEMAP_PATHS = ("/sitemap.xml", "/sitemap_index.xml", "/news-sitemap.xml",
                 "/sitemap-news.xml")
#: at most this many bytes of a candidate are read
MAX_BYTES = 5 * 1024 * 1024

_NEWS_NS = re.compile(rb"sitemap-news/0\.9")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass(frozen=True)
class Found:
    """A source the monitor can poll.

    Attributes:
        kind: ``feed``, ``sitemap`` or ``page`` (as in monitor.yaml).
        url: the URL to give as the source's ``url``.
        how: how it was found, e.g. "announced by the page", "named in robots.txt".
        detail: what it is, e.g. "RSS feed, 20 items" or "Google News sitemap".
        title: the feed's or page's title, if any.
    """

    kind: str
    url: str
    how: str
    detail: str
    title: str | None = None


class DiscoverError(Exception):
    """The site could not be reached at all (the message names the URL and why)."""


def _describe(kind: str, body: bytes) -> str:
    if kind in ("rss", "atom", "rdf"):
        items = len(re.findall(rb"<(?:item|entry)[\s>]", body[:MAX_BYTES]))
        name = {"rss": "RSS feed", "atom": "Atom feed", "rdf": "RSS 1.0 feed"}[kind]
        return f"{name}, {count(items, 'item')}"
    if kind == "urlset":
        urls = body.count(b"<loc")
        news = "Google News sitemap" if _NEWS_NS.search(body[:4096]) else "sitemap"
        return f"{news}, {count(urls, 'URL')}"
    return "sitemap index"


def _title(body: bytes) -> str | None:
    found = _TITLE.search(body[:65536])
    if not found:
        return None
    text = re.sub(rb"<!\[CDATA\[|\]\]>", b"", found.group(1)).decode("utf-8", "replace")
    return " ".join(text.split()) or None


class _Fetcher:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.seen: dict[str, tuple[str, bytes, str] | None] = {}

    def probe(self, candidates: list[tuple[str, str]], kind: str) -> list[Found]:
        """Fetch each candidate and keep those that are a source of ``kind``.

        Args:
            candidates: ``(URL, how it was found)`` pairs, in order of preference.
            kind: ``feed`` (RSS, Atom or RDF) or ``sitemap`` (urlset or sitemapindex).

        Returns:
            One :class:`Found` per distinct final URL (after redirects) of that kind;
            feeds with their title.
        """
        kinds = ("rss", "atom", "rdf") if kind == "feed" else ("urlset", "sitemapindex")
        out: list[Found] = []
        for candidate, how in candidates:
            got = self.get(candidate)
            if got is None:
                continue
            final, doc, _ = got
            doc_kind = document_kind(doc)
            if doc_kind in kinds and all(f.url != final for f in out):
                out.append(Found(kind, final, how, _describe(doc_kind, doc),
                                 _title(doc) if kind == "feed" else None))
        return out

    def get(self, url: str) -> tuple[str, bytes, str] | None:
        """(final URL, body unpacked, content type), or None on any failure or non-200."""
        if url in self.seen:
            return self.seen[url]
        got = None
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code == 200:
                    buffer = bytearray()
                    for chunk in response.iter_bytes():
                        buffer += chunk
                        if len(buffer) > MAX_BYTES:
                            break
                    body = bytes(buffer)
                    if body[:2] == b"\x1f\x8b":
                        body = gunzip_capped(body, MAX_BYTES)
                    got = (str(response.url), body, response.headers.get("content-type", ""))
        except (httpx.HTTPError, UnpackError, ValueError):
            got = None
        self.seen[url] = got
        return got


def discover(url: str, *, user_agent: str = "news-monitor", timeout: float = 10.0,
             transport: httpx.BaseTransport | None = None) -> list[Found]:
    """Find the feeds and sitemaps of the site at ``url`` (see the module docstring).

    Args:
        url: a page of the site (home page or section front), or a feed or sitemap.
        user_agent: the User-Agent header.
        timeout: seconds per request.
        transport: an httpx transport (tests); default a real one.

    Returns:
        What was found, feeds first, then sitemaps (news sitemaps first), then a
        ``page`` source only when nothing else was found. Empty when the site has none.

    Raises:
        DiscoverError: the URL itself cannot be fetched (names the URL and the error), or
            it answers an HTTP error and the site's robots.txt and common paths give
            nothing either.
    """
    headers = {"User-Agent": user_agent}
    with httpx.Client(headers=headers, timeout=timeout, follow_redirects=True,
                      transport=transport) as client:
        fetch = _Fetcher(client)
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise DiscoverError(f"{url}: cannot be fetched: {exc or type(exc).__name__}") \
                from None
        page_url, body = str(response.url), response.content
        if response.status_code != 200:
            # a home page that refuses bots (403) or is gone (404): the site's robots.txt
            # and common paths may still answer
            refused = f"{url}: answered HTTP {response.status_code}"
            body = b""
        else:
            refused = None
        fetch.seen[url] = fetch.seen[page_url] = (
            page_url, body, response.headers.get("content-type", ""))
        kind = document_kind(body)
        how_itself = "the URL itself" if page_url == url else f"where {url} redirects"
        if kind in ("rss", "atom", "rdf"):
            return [Found("feed", page_url, how_itself, _describe(kind, body),
                          _title(body))]
        if kind in ("urlset", "sitemapindex"):
            return [Found("sitemap", page_url, how_itself, _describe(kind, body))]
        found: list[Found] = []
        root = f"{urlsplit(page_url).scheme}://{urlsplit(page_url).netloc}"
        announced = feed_links(body, page_url) if kind == "html" else []
        candidates = [(u, "announced by the page") for u in announced]
        if not announced:
            candidates += [(root + p, "at a common feed path") for p in FEED_PATHS]
        found += fetch.probe(candidates, "feed")
        robots = fetch.get(root + "/robots.txt")
        named = robots_sitemaps(robots[1], root + "/robots.txt") if robots else []
        tried = [(u, "named in robots.txt") for u in named] or \
            [(root + p, "at a common sitemap path") for p in SITEMAP_PATHS]
        sitemaps = fetch.probe(tried, "sitemap")
        sitemaps.sort(key=lambda s: not s.detail.startswith("Google News"))
        found += sitemaps
        if not found and refused:
            raise DiscoverError(f"{refused}, and the site's robots.txt and common feed "
                                f"and sitemap paths give nothing")
        if not found and kind == "html":
            links = article_links(body, page_url,
                                  content_type=response.headers.get("content-type"))
            if len(links) >= 3:
                found.append(Found("page", page_url, "the page's own story links",
                                   f"front page, {len(links)} article links", _title(body)))
        return found


def source_name(url: str, kind: str, taken: set[str]) -> str:
    """A source name for monitor.yaml from the URL's host and kind
    (``www.example.com`` feed -> ``example-com``, then ``example-com-sitemap``...),
    unique among ``taken`` (which it extends)."""
    host = (urlsplit(url).hostname or "source").lower()
    host = re.sub(r"^www\d?\.", "", host)
    base = re.sub(r"[^a-z0-9]+", "-", host).strip("-") or "source"
    name = base if kind == "feed" else f"{base}-{kind}"
    n = 2
    while name in taken:
        name = f"{base}-{kind}-{n}"
        n += 1
    taken.add(name)
    return name


def as_yaml(found: list[Found], taken: set[str] | None = None) -> str:
    """Ready-to-paste ``sources:`` entries for monitor.yaml, a comment above each saying
    what it is and how it was found."""
    import yaml

    taken = set(taken or ())
    lines = ["sources:"]
    for item in found:
        entry = {"name": source_name(item.url, item.kind, taken), "kind": item.kind,
                 "url": item.url}
        title = f" \"{item.title}\"" if item.title else ""
        lines.append(f"  # {item.detail}{title}; {item.how}")
        text = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True)
        lines += ["  " + line for line in text.rstrip().splitlines()]
    return "\n".join(lines) + "\n"
