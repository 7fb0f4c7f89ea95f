"""What a fetched source document really is, in words a person can act on.

Used when a source configured as a feed or sitemap did not read as one: the poll fails
with a message saying what was found and what to change, never "ok" with no articles.
Plain Python (no Scrapy).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

_ROOT = re.compile(rb"<\s*(?:[A-Za-z0-9_-]+:)?([A-Za-z]+)[\s>/]")
_ALTERNATE = re.compile(
    rb"<link\b[^>]*\btype\s*=\s*[\"']application/(?:rss|atom)\+xml[\"'][^>]*>", re.I)
_HREF = re.compile(rb"\bhref\s*=\s*[\"']([^\"']+)[\"']", re.I)


def document_kind(body: bytes) -> str:
    """Classify a document by its first element.

    Returns:
        One of ``gzip``, ``empty``, ``html``, ``rss``, ``atom``, ``rdf``, ``urlset``,
        ``sitemapindex``, ``xml`` (another XML root), ``text``.
    """
    if body[:2] == b"\x1f\x8b":
        return "gzip"
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "empty"
    lowered = head.lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered[:1024]:
        return "html"
    # skip the XML declaration, comments and processing instructions
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S)
    match = _ROOT.search(text)
    if not match:
        return "text"
    root = match.group(1).decode("ascii", "replace").lower()
    if root in ("rss", "feed", "rdf", "urlset", "sitemapindex", "html"):
        return {"feed": "atom"}.get(root, root)
    return "xml"


_WORDS = {"html": "an HTML page", "rss": "an RSS feed", "atom": "an Atom feed",
          "rdf": "an RSS 1.0 (RDF) feed", "urlset": "an XML sitemap (urlset)",
          "sitemapindex": "a sitemap index", "xml": "an XML document of another kind",
          "text": "plain text", "empty": "an empty document", "gzip": "gzip data"}


def describe(kind: str) -> str:
    """Words for a :func:`document_kind` result, e.g. "an HTML page"."""
    return _WORDS.get(kind, kind)


def feed_links(body: bytes, base_url: str) -> list[str]:
    """The RSS/Atom feeds an HTML page announces (``<link rel=alternate type=...>``),
    as absolute URLs, in page order."""
    out = []
    for tag in _ALTERNATE.findall(body[:200_000]):
        href = _HREF.search(tag)
        if href:
            url = urljoin(base_url, href.group(1).decode("utf-8", "replace").strip())
            if url not in out:
                out.append(url)
    return out


def wrong_kind_message(configured: str, body: bytes, url: str) -> str:
    """Why a document is not the configured kind, and what to change.

    Args:
        configured: ``feed``, ``sitemap`` or ``page``.
        body: the document as received (gunzipped when it was gzip-encoded).
        url: its URL.

    Returns:
        e.g. "is an XML sitemap (urlset), not a feed: set kind: sitemap".
    """
    kind = document_kind(body)
    found = describe(kind)
    if configured == "page":
        if kind in ("rss", "atom", "rdf"):
            return f"is {found}, not an HTML page: set kind: feed"
        if kind in ("urlset", "sitemapindex"):
            return f"is {found}, not an HTML page: set kind: sitemap"
        if kind == "html":
            return "is an HTML page with no article links (a front page lists linked " \
                   "headlines): give the URL of a section front page"
        return f"is {found}, not an HTML page"
    if configured == "feed":
        if kind in ("urlset", "sitemapindex"):
            return f"is {found}, not a feed: set kind: sitemap"
        if kind == "html":
            links = feed_links(body, url)
            hint = (f": its feed is announced at {links[0]}, use that as url" if links
                    else ": give the URL of the site's RSS or Atom feed")
            return f"is {found}, not a feed{hint}"
        return f"is {found}, not an RSS or Atom feed"
    if kind in ("rss", "atom", "rdf"):
        return f"is {found}, not a sitemap: set kind: feed"
    if kind == "html":
        return f"is {found}, not a sitemap: give the URL of an XML sitemap or robots.txt"
    if kind == "gzip":
        return "is gzip data that cannot be unpacked (truncated or corrupt)"
    return f"is {found}, not a sitemap"


class UnpackError(ValueError):
    """A gzip document that cannot be unpacked: truncated, corrupt or over the cap."""


def gunzip_capped(data: bytes, max_size: int) -> bytes:
    """Unpack gzip data (several members too), refusing to grow past ``max_size``.

    Scrapy's ``scrapy.utils.gz.gunzip`` caps the size too, but returns what it could
    unpack of a truncated file without saying so (a sitemap then silently lists fewer
    URLs, case 07); this one tells truncated, corrupt and too large apart.

    Args:
        data: the gzip bytes as received.
        max_size: the largest unpacked size allowed, in bytes.

    Returns:
        The unpacked bytes.

    Raises:
        UnpackError: the data is truncated or corrupt ("truncated"), or unpacks to more
            than ``max_size`` bytes (a gzip bomb); the message says which.
    """
    import zlib

    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = d.decompress(rest, max_size + 1 - len(out))
        except zlib.error as exc:
            raise UnpackError(f"gzip data is corrupt ({exc})") from None
        out += chunk
        if len(out) > max_size:
            raise UnpackError(f"gzip data unpacks to more than the {max_size}-byte cap")
        if d.unconsumed_tail:
            raise UnpackError(f"gzip data unpacks to more than the {max_size}-byte cap")
        if not d.eof:
            raise UnpackError(f"gzip data is truncated ({len(data)} bytes received)")
        rest = d.unused_data
        if rest[:2] != b"\x1f\x8b":
            break
    return bytes(out)


def robots_sitemaps(body: bytes, base_url: str) -> list[str]:
    """The ``Sitemap:`` URLs of a robots.txt, in order, each once.

    Handles what real files do: a UTF-8 byte-order mark, CRLF or bare CR line ends,
    any case (``sitemap:``, ``SITEMAP:``), a space before the colon (``Sitemap :``),
    relative URLs (resolved against ``base_url``) and comments after the URL. (Scrapy's
    ``sitemap_urls_from_robots`` misses the first line after a byte-order mark.) Used by
    the sitemap spider and ``monitor sources discover`` alike.
    """
    text = body.decode("utf-8-sig", errors="replace")
    out: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() != "sitemap":
            continue
        value = value.split("#", 1)[0].strip()
        if value:
            url = urljoin(base_url, value)
            if url not in out:
                out.append(url)
    return out
