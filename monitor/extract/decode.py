"""Decide whether a response is HTML, and turn its bytes into text."""

from __future__ import annotations

import re

from w3lib.encoding import html_to_unicode, http_content_type_encoding, resolve_encoding

from monitor.models import Page

# content types that are HTML (or XHTML) pages
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
# magic numbers of common non-HTML bodies served where a page was expected
_BINARY_MAGIC = (
    (b"%PDF", "PDF document"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"RIFF", "RIFF media"),
    (b"\x00\x00\x00", "binary data"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
)
_HTML_SNIFF = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta[\s/>]|<title[\s>]",
                         re.I)
_FEED_SNIFF = re.compile(rb"<(?:rss|feed|rdf:RDF|urlset|sitemapindex)[\s>]", re.I)


def content_type(page: Page) -> str | None:
    """The page's Content-Type header value, or None when the response gave none."""
    for name, value in page.headers.items():
        if name.lower() == "content-type" and value:
            return value
    return None


def not_html_reason(page: Page) -> str | None:
    """Say why a page is not HTML, or return None when it is.

    The Content-Type header decides when present; otherwise the first bytes of the body
    are sniffed (doctype or an html/head/body tag near the start, and no binary magic).

    Args:
        page: the fetched page.

    Returns:
        None for an HTML page, else a human sentence naming the evidence.
    """
    ctype = content_type(page)
    if ctype is not None:
        mime = ctype.split(";", 1)[0].strip().lower()
        if mime in _HTML_TYPES:
            return None
        # some servers label pages as text/plain or octet-stream; only trust the
        # header for types that are clearly something else
        if mime not in ("", "text/plain", "application/octet-stream", "binary/octet-stream"):
            return f"content type is {mime!r}, not HTML"
    head = page.body[:4096]
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            return f"body starts like a {what} ({len(page.body)} bytes)"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        return "body is empty"
    if stripped[:1] in (b"{", b"["):
        return "body looks like JSON, not HTML"
    if _FEED_SNIFF.search(head) and not re.search(rb"<html[\s>]", head, re.I):
        return "body looks like a feed or sitemap (XML), not HTML"
    if not _HTML_SNIFF.search(head):
        where = f"content type {ctype!r}" if ctype else "no content type"
        return f"{where} and no HTML markup in the first {len(head)} bytes"
    return None


def decode_body(page: Page) -> str:
    """Decode the page body to text.

    The charset is taken, in order, from a byte-order mark, ``page.encoding`` (or the
    Content-Type header), a ``<meta charset>`` declaration, and finally sniffing
    (UTF-8, then a single-byte fallback), so decoding never fails.

    Args:
        page: the fetched page.

    Returns:
        The body as a str.
    """
    declared = page.encoding
    if declared and not resolve_encoding(declared):
        declared = None
    header = f"text/html; charset={declared}" if declared else content_type(page)
    if not http_content_type_encoding(header) and not page.body.startswith(
            (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        # a body that is valid UTF-8 is UTF-8, whatever its <meta charset> says: pages
        # re-encoded by proxies and archives keep their old declaration
        try:
            return page.body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    _, text = html_to_unicode(header, page.body, auto_detect_fun=_sniff_encoding)
    return text


def _sniff_encoding(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional
        return "cp1252"
    best = from_bytes(body[:200_000]).best()
    return best.encoding if best else "cp1252"
