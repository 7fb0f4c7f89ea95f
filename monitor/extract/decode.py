"""Decide whether a response is HTML, and turn its bytes into text."""

from __future__ import annotations

import codecs
import re

from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

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
_HTML_SNIFF = re.compile(
    rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta[\s/>]|<title[\s>]", re.I)
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
    """Decode the page body to text, in the WHATWG order, so that the words come out
    right even when the declaration is wrong.

    The charset is taken from, in order: a byte-order mark; ``page.encoding`` or the
    Content-Type header; a ``<meta charset>`` / ``http-equiv`` declaration in the first
    1,024 bytes *or anywhere later in the head* (``declared_in_head``); charset
    detection (UTF-8 when the bytes are valid UTF-8, else charset_normalizer). Labels
    are resolved the WHATWG way by w3lib (``iso-8859-1`` = windows-1252, ``gb2312`` =
    GB18030).

    Where the declared charset and the bytes disagree, the bytes win:

    - bytes that are valid UTF-8 with multi-byte sequences are UTF-8, whatever a header
      or meta tag says (servers and proxies label UTF-8 pages ``iso-8859-1``, archives
      keep an old ``<meta charset>``); bytes that are plain ASCII are the same in both;
    - a page declared UTF-8 with a few stray bytes (a CMS pasting windows-1252 text into
      a UTF-8 template) keeps its UTF-8 and reads each stray byte as windows-1252; with
      many (over ``_MOSTLY_INVALID`` of its non-ASCII bytes) the page is detected anew;
    - a legacy multi-byte declaration (Shift_JIS, EUC-KR, Big5, GBK) that the bytes do not
      decode under is detected anew too.

    Decoding never fails.

    Args:
        page: the fetched page.

    Returns:
        The body as a str.
    """
    body = page.body
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return body[len(bom):].decode(bom_encoding, errors="replace")
    declared = resolve_encoding(page.encoding) if page.encoding else None
    if not declared:
        declared = http_content_type_encoding(content_type(page))
    if not declared:
        declared = declared_in_head(body)
    return _decode(body, declared)


# a page declared UTF-8 is detected anew when more than this share of its non-ASCII bytes
# are not UTF-8 (below it, the stray bytes are read as windows-1252 one by one)
_MOSTLY_INVALID = 0.2
_SINGLE_BYTE = re.compile(r"cp125\d|iso8859|latin|koi8|mac|cp8\d\d|tis|ascii", re.I)
_HEAD_END = re.compile(rb"<body[\s>]|</head\s*>", re.I)
_META_START = re.compile(rb"<meta[\s/]", re.I)
# the head is searched for a declaration up to this many bytes
_HEAD_LIMIT = 262_144


def declared_in_head(body: bytes) -> str | None:
    """The charset a ``<meta>`` declaration gives, in the first 1,024 bytes as the WHATWG
    prescan reads them (by w3lib), or anywhere later in the head (pages with long inline
    scripts or styles before their meta tags).

    Args:
        body: the raw page.

    Returns:
        The resolved codec name, or None.
    """
    found = html_body_declared_encoding(body[:4096])
    if found:
        return found
    end = _HEAD_END.search(body, 0, _HEAD_LIMIT)
    head = body[: end.start() if end else min(len(body), _HEAD_LIMIT)]
    for match in _META_START.finditer(head, 4096 - 64 if len(head) > 4096 else len(head)):
        found = html_body_declared_encoding(head[match.start(): match.start() + 1024])
        if found:
            return found
    return None


#: Every ASCII byte: ``body.translate(None, _ASCII_BYTES)`` keeps the others.
_ASCII_BYTES = bytes(range(0x80))


def _as_utf8(body: bytes) -> str | None:
    """The body decoded as UTF-8, or None when it is not valid UTF-8 (decoded once)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_utf8(body: bytes) -> bool:
    return _as_utf8(body) is not None


def _decode(body: bytes, declared: str | None) -> str:
    """Decode with the declared charset unless the bytes say otherwise (see
    ``decode_body``)."""
    codec = _codec(declared)
    if body.isascii():
        # ASCII reads the same in every ASCII-compatible charset
        wide = codec if codec is not None and codec.startswith(("utf-16", "utf-32")) else None
        return body.decode(wide or "utf-8", errors="replace")
    if codec is None:
        return body.decode(_sniff_encoding(body), errors="replace")
    if codec == "utf-8":
        text = _as_utf8(body)
        if text is not None:
            return text
        stray = len(body) - len(body.decode("utf-8", errors="ignore").encode("utf-8"))
        non_ascii = len(body.translate(None, _ASCII_BYTES))
        if stray > _MOSTLY_INVALID * non_ascii:
            return body.decode(_sniff_encoding(body), errors="replace")
        return body.decode("utf-8", errors=_CP1252_FALLBACK)
    text = _as_utf8(body)
    if text is not None:
        # declared something else, the bytes are valid UTF-8 with multi-byte sequences
        return text
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        if _SINGLE_BYTE.search(codec):
            return body.decode(codec, errors="replace")
        return body.decode(_sniff_encoding(body), errors="replace")


def _codec(declared: str | None) -> str | None:
    """A Python codec name for a declared label, or None when there is none to use."""
    if not declared:
        return None
    name = resolve_encoding(declared) or declared
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    return "utf-8" if name in ("utf-8", "utf_8") else name


def _cp1252_fallback(error: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler: read undecodable bytes as windows-1252 (stray bytes of a
    legacy text pasted into a UTF-8 page).

    Raises:
        UnicodeError: ``error`` itself when it is not a decoding error (the handler is
            registered for decoding only).
    """
    if not isinstance(error, UnicodeDecodeError):
        raise error
    chunk = error.object[error.start:error.end]
    return chunk.decode("cp1252", errors="replace"), error.end


_CP1252_FALLBACK = "monitor-cp1252-fallback"
codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


def _sniff_encoding(body: bytes) -> str:
    """Detect the charset of undeclared bytes: UTF-8 when they are valid UTF-8, else
    charset_normalizer's best guess, else windows-1252."""
    if _is_utf8(body):
        return "utf-8"
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of requests, always there
        return "cp1252"
    matches = list(from_bytes(body[:200_000]))
    if not matches:
        return "cp1252"
    best = matches[0]
    # the detector often cannot tell windows-1250 from windows-1252 (same chaos and
    # coherence on Western European text); a tie goes to windows-1252, the web's
    # commonest legacy charset and the WHATWG default for most locales
    # (the detector's language coherence differs by a few hundredths between them);
    # not for pages in a language written in windows-1250
    tied = [m.encoding for m in matches
            if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - _COHERENCE_TIE]
    lang = _HTML_LANG.search(body[:4096])
    central = lang is not None and lang.group(1).lower().decode() in _CP1250_LANGS
    return "cp1252" if "cp1252" in tied and not central else best.encoding


_COHERENCE_TIE = 0.05
_HTML_LANG = re.compile(rb"<html[^>]*?\slang\s*=\s*[\"']?([a-z]{2})", re.I)
# languages whose legacy pages are windows-1250 (Central European)
_CP1250_LANGS = {"pl", "cs", "sk", "hu", "sl", "hr", "ro", "bs", "sr", "sq"}
