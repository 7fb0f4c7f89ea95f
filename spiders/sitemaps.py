"""The ``sitemaps`` spider: XML sitemaps (incl. Google News), indexes, robots.txt."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response

from monitor.clock import iso, parse_iso
from monitor.crawl.spider import DocumentRequests, Run, SourceSpiderMixin
from monitor.documents import UnpackError, gunzip_capped, robots_sitemaps, wrong_kind_message
from monitor.extract.dates import parse_date
from monitor.records import Link, Validator
from monitor.urls import is_web_url
from monitor.xmlguard import DocumentRefused, iter_checked, local_name

log = logging.getLogger(__name__)


def _lastmod(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def _texts(elem: Any) -> list[str]:
    """The text pieces of an element and its descendants, in document order, without
    entity references (left unresolved by the parser: XPath ``string()`` would expand
    them)."""
    out = [elem.text or ""]
    for child in elem:
        if isinstance(child.tag, str):
            out += _texts(child)
        out.append(child.tail or "")
    return out


def _text(elem: Any) -> str:
    """All text in an element (CDATA included, entity references left out), whitespace
    collapsed."""
    return " ".join("".join(_texts(elem)).split())


def _news(news: Any) -> dict[str, Any]:
    """The ``title``, ``publication_date`` (aware datetime or None), ``language`` and
    ``keywords`` (a tuple, split at commas) of a Google News sitemap's ``<news:news>``
    element, those it gives."""
    got: dict[str, Any] = {}
    for el in news.iter():
        name = local_name(el)
        if name in ("title", "language") and name not in got:
            got[name] = _text(el) or None
        elif name == "keywords" and name not in got:
            got[name] = tuple(k.strip() for k in _text(el).split(",") if k.strip())
        elif name == "publication_date" and name not in got:
            got[name] = parse_date(_text(el))
    return got


def _url_element(elem: Any) -> dict[str, Any]:
    """A ``<url>`` or ``<sitemap>`` element as a dict: ``loc`` and ``lastmod`` (text,
    stripped) and, from a ``<news:news>`` child, what :func:`_news` reads."""
    d: dict[str, Any] = {}
    for el in elem:
        name = local_name(el)
        if name == "news":
            for key, value in _news(el).items():
                d.setdefault(key, value)
        elif name in ("loc", "lastmod") and name not in d:
            d[name] = el.text.strip() if el.text else ""
    return d


def _xml_sitemap(body: bytes, max_items: int | None = None
                 ) -> tuple[str | None, list[dict[str, Any]]]:
    """Read an XML urlset or sitemap index.

    Parsed like Scrapy's ``Sitemap`` (which keeps only the text of an entry's direct
    children, so not the ``news:`` fields): streamed, each entry freed once read,
    forgiving of markup errors (a blank line before the XML declaration), and safely: no
    entities resolved, no network, no huge trees, and a document that declares entities
    or nests too deeply refused (:func:`monitor.xmlguard.iter_checked`).

    Args:
        body: the document, unpacked.
        max_items: keep at most this many entries, the newest (by publication date,
            else ``lastmod``; among entries without either, the last listed); memory
            then stays bounded whatever the document's length. None keeps all.

    Returns:
        (the root element's local name, or None when the body is not XML; the entries
        as :func:`_url_element` dicts, those with a ``loc``, in document order).

    Raises:
        DocumentRefused: entity declarations, or nesting deeper than the cap.
    """
    events = iter_checked(body, recover=True)
    try:
        _, root, _ = next(events)
    except (StopIteration, ValueError, SyntaxError):  # empty or not XML at all
        return None, []
    kind, kept, index = local_name(root), [], 0
    for event, elem, depth in events:
        if event == "start" or depth != 2:
            continue
        if local_name(elem) in ("url", "sitemap"):
            d = _url_element(elem)
            if d.get("loc"):
                index += 1
                if max_items is None:
                    kept.append((0.0, index, d))
                else:
                    when = d.get("publication_date") or _lastmod(d.get("lastmod"))
                    item = (when.timestamp() if when else 0.0, index, d)
                    if len(kept) < max_items:
                        heapq.heappush(kept, item)
                    elif item > kept[0]:
                        heapq.heapreplace(kept, item)
        elem.clear()
        while elem.getprevious() is not None:  # free what was read
            del root[0]
    if max_items is not None and index > max_items:
        log.info("sitemap lists %d entries: keeping the newest %d (crawl.max_document_items)",
                 index, max_items)
    return kind, [d for _, _, d in sorted(kept, key=lambda k: k[1])]


def _text_sitemap(body: bytes, max_items: int | None = None) -> list[Link]:
    """The URLs of a plain-text sitemap (one absolute URL a line; already unpacked); at
    most the last ``max_items`` lines are read (a text sitemap has no dates; sites
    append new URLs)."""
    if body.lstrip()[:4].lower() != b"http":
        return []
    if max_items is not None:
        body = body.rstrip()
        cut = len(body)
        for _ in range(max_items):   # the newline before the max_items-th line from the end
            cut = body.rfind(b"\n", 0, cut)
            if cut < 0:
                break
        if cut > 0:
            log.info("text sitemap longer than %d lines: reading the last ones "
                     "(crawl.max_document_items)", max_items)
            body = body[cut + 1:]
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines or not all(is_web_url(line) and " " not in line
                            for line in lines):
        return []
    return [Link(line) for line in lines]


def sitemap_entries(body: bytes, url: str,
                    max_items: int | None = None) -> tuple[str | None, list[Link]]:
    """Read a sitemap document: an XML urlset or sitemap index, or a plain-text list.

    Args:
        body: the document, already gunzipped for XML (Scrapy's ``_get_sitemap_body``).
        url: its URL, to resolve relative locations.
        max_items: keep at most this many entries (the newest; see
            :func:`_xml_sitemap`); None keeps all.

    Returns:
        ``(kind, entries)``: kind is "urlset" (plain-text lists too), "sitemapindex", or
        None when the document is not a sitemap; entries are
        :class:`monitor.records.Link` records (absolute ``url``, ``title``,
        ``published``, ``language``, ``lastmod``, ``keywords``), a sitemap index's newest
        ``lastmod`` first. A Google News entry gives its ``news:title``, ``news:publication_date``
        (aware datetime; a date without a zone is read as UTC), ``news:language`` and
        ``news:keywords`` (a tuple); lastmod is an aware datetime. What an entry does
        not give is None (keywords: an empty tuple).

    Raises:
        monitor.xmlguard.DocumentRefused: the document declares XML entities or nests
            elements too deeply.
    """
    links = _text_sitemap(body, max_items)
    if links:
        return "urlset", links
    kind, found = _xml_sitemap(body, max_items) if body else (None, [])
    if kind not in ("sitemapindex", "urlset"):
        return None, []
    entries = [Link(urljoin(url, e["loc"]), e.get("title"), e.get("publication_date"),
                    e.get("language"), _lastmod(e.get("lastmod")), e.get("keywords") or ())
               for e in found]
    if kind == "sitemapindex":
        entries.sort(key=lambda e: e.lastmod.timestamp() if e.lastmod else 0.0, reverse=True)
    return kind, entries


def forget_validators(run: Run, url: str) -> None:
    """Keep no ETag/Last-Modified for ``url``: the next poll fetches it in full."""
    run.validators = [Validator(v.url, None, None) if v.url == url else v
                      for v in run.validators]


def lastmod_version(lastmod: datetime) -> str:
    """The version mark of a sitemap entry: ``lastmod:<ISO 8601 UTC>`` (seconds), which
    :func:`monitor.store.version_is_newer` compares by time."""
    return "lastmod:" + iso(lastmod)


class SitemapDocuments(SourceSpiderMixin):
    """Reading sitemap documents (mixed into the spiders that poll sitemaps)."""

    async def parse_sitemap(self, response: Response, run: Run) -> DocumentRequests:
        """Follow robots.txt and sitemap indexes; request new article URLs of a urlset.

        The document is parsed on a worker thread: a news sitemap can list tens of
        thousands of URLs, and parsing it in the reactor thread would stall downloads. A
        gzip document is unpacked with a cap (``DOWNLOAD_MAXSIZE``); one that is
        truncated, corrupt or over the cap, a robots.txt that names no sitemap, and a
        document of another kind each fail the poll with a message saying so.
        """
        source = run.task.source
        if urlsplit(response.url).path.endswith("/robots.txt"):
            forget_validators(run, response.url)
            cap = self.context.config.crawl.max_document_items
            urls = list(itertools.islice(
                robots_sitemaps(response.body, response.url), cap + 1))
            if len(urls) > cap:
                log.warning("source %s: %s names more than %d sitemaps: following the first "
                            "%d (crawl.max_document_items)", source, response.url,
                            cap, cap)
                urls = urls[:cap]
            if not urls:
                self.fail(run, response.url, "names no sitemap (no Sitemap: line): give "
                          "the sitemap's URL as the source's url")
            for url in urls:
                yield self.document_request(run, url)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            cap = response.meta.get("download_maxsize") or self.settings.getint(
                "DOWNLOAD_MAXSIZE", 50 * 1024 * 1024)
            try:
                body = gunzip_capped(body, cap)
            except UnpackError as exc:
                self.fail(run, response.url, f"cannot be read: {exc}")
                return
        loop = asyncio.get_running_loop()
        try:
            kind, entries = await loop.run_in_executor(
                None, sitemap_entries, body, response.url,
                self.context.config.crawl.max_document_items)
        except DocumentRefused as exc:
            self.fail(run, response.url, str(exc))
            return
        if kind is None:
            self.fail(run, response.url, wrong_kind_message("sitemap", body, response.url))
        elif kind == "sitemapindex":
            # An index (like robots.txt) is read in full every poll: it may stay the
            # same while its children change, and each child has its own validators.
            forget_validators(run, response.url)
            # newest child sitemaps first; news sites list months of archives
            for child in entries[:5]:
                yield self.document_request(run, child.url)
        else:
            # a link seen before comes through again when its lastmod moved later
            versions = {e.url: lastmod_version(e.lastmod) for e in entries
                        if e.lastmod is not None}
            for link in self.new_links(run, entries, versions):
                yield self.article_request(run, link._replace(version=versions.get(link.url)))


class NewsSitemapSpider(SitemapDocuments, SourceSpiderMixin, scrapy.Spider):
    """Poll each sitemap source (a urlset, a sitemap index, a plain-text sitemap or a
    robots.txt) once, and the new articles it lists, newest ``lastmod`` first.

    A Google News sitemap's ``news:title``, ``news:publication_date`` and
    ``news:language`` serve as the article's headline, publication date and language
    when the page gives none; the publication date also beats a day guessed from the
    article's URL. ``lastmod`` dates the article when nothing else does.

    Run: ``scrapy crawl sitemaps`` or ``scrapy crawl sitemaps -a sources=NAME``.
    """

    name = "sitemaps"
    kinds = ("sitemap",)

    async def parse_document(self, response: Response, run: Run) -> DocumentRequests:
        async for request in self.parse_sitemap(response, run):
            yield request
