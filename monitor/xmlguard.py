"""Caps on source documents (feeds, sitemaps) before and while they are parsed.

A source document may be hostile or just huge: a feed of 349,000 items just under the
download cap cost about 1 GB and minutes per poll to parse in full, although a poll uses
``max_articles`` links; an XML document may declare entities that expand a kilobyte
into gigabytes ("billion laughs"), or nest elements thousands deep. Here documents are
read incrementally (lxml ``iterparse``, entities never resolved, no network) and:

- a document that declares entities (``<!ENTITY`` in its DOCTYPE), or nests elements
  deeper than :data:`MAX_DEPTH`, is refused with :class:`DocumentRefused` (no feed or
  sitemap needs either); the poll fails with that message, never "ok" with 0 links;
- a feed is cut to its first ``max_items`` entries before feedparser sees it
  (:func:`cut_feed`); feeds list their newest entries first.

Plain Python (lxml), no Scrapy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import lxml.etree

#: The deepest element nesting accepted in a feed or sitemap (real ones: under 10).
MAX_DEPTH = 100

#: Entry element names of RSS (0.9x, 1.0, 2.0) and Atom.
FEED_ENTRIES = frozenset({"item", "entry"})


class DocumentRefused(Exception):
    """A source document that is not read at all: it declares XML entities, or nests
    elements deeper than :data:`MAX_DEPTH`. The message says which, in words for the
    source's last error."""


def local_name(elem: Any) -> str:
    """The local name of an element ("" for comments and the like): no namespace, and
    no prefix that lxml kept because the document never declared it."""
    tag = elem.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2]


def iter_checked(body: bytes, *, recover: bool = False,
                 max_depth: int = MAX_DEPTH) -> Iterator[tuple[str, Any, int]]:
    """Stream an XML document's elements, refusing entity declarations and deep nesting.

    Args:
        body: the document (already unpacked).
        recover: let libxml2 recover from markup errors (as a browser would) instead
            of raising ``lxml.etree.XMLSyntaxError``.
        max_depth: the deepest nesting allowed (the root element is depth 1).

    Yields:
        ``(event, element, depth)`` for each "start" and "end" event; ``depth`` is the
        element's own depth. The caller may free elements it has read.

    Raises:
        DocumentRefused: the DOCTYPE declares entities, or elements nest deeper than
            ``max_depth``.
        lxml.etree.XMLSyntaxError: the document is not well-formed XML (and
            ``recover`` is false), or is empty.
    """
    events = lxml.etree.iterparse(
        BytesIO(body), events=("start", "end"), recover=recover, resolve_entities=False,
        no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
        remove_pis=True, remove_blank_text=True, collect_ids=False)
    depth = 0
    checked = False
    for event, elem in events:
        if event == "start":
            depth += 1
            if not checked:
                checked = True
                dtd = elem.getroottree().docinfo.internalDTD
                if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
                    raise DocumentRefused(
                        "declares XML entities (<!ENTITY> in its DOCTYPE), which no feed "
                        "or sitemap needs: refused (entity expansion)")
            if depth > max_depth:
                raise DocumentRefused(f"nests elements more than {max_depth} deep: "
                                      "refused")
            yield event, elem, depth
        else:
            yield event, elem, depth
            depth -= 1


_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z0-9_.-]+:)?(?:item|entry)[\s>/]")
_ENTITY_DECL = re.compile(rb"<!ENTITY\b")


def cut_feed(body: bytes, max_items: int) -> tuple[bytes, int]:
    """Check a feed and cut it to its first ``max_items`` entries.

    The feed is streamed until its ``max_items + 1``-th entry: the rest is never parsed,
    so the cost of a poll follows ``max_items``, not the size of the document. A feed
    with no more entries than that is returned as it is (byte for byte), so feedparser
    reads what the site sent. A feed that is not well-formed XML (feedparser's loose
    parser reads many such) is cut at the byte offset of its ``max_items + 1``-th entry
    tag instead, after a check for entity declarations.

    Args:
        body: the feed document as received.
        max_items: the most entries (RSS ``item``, Atom ``entry``) kept.

    Returns:
        ``(document, total)``: the document to parse (the original bytes, or the channel
        with its first ``max_items`` entries, re-serialised as UTF-8) and how many
        entries were seen (``max_items + 1`` when it was cut: the rest were not
        counted).

    Raises:
        DocumentRefused: the feed declares entities or nests too deeply.
    """
    seen = 0
    root = None
    try:
        for event, elem, depth in iter_checked(body):
            if root is None:
                root = elem
            if event == "end" and depth <= 3 and local_name(elem) in FEED_ENTRIES:
                seen += 1
                if seen > max_items:
                    parent = elem.getparent()
                    while elem.getnext() is not None:   # parsed ahead in the same chunk
                        parent.remove(elem.getnext())
                    parent.remove(elem)
                    return lxml.etree.tostring(root, encoding="utf-8",
                                               xml_declaration=True), seen
    except lxml.etree.XMLSyntaxError:
        return _cut_bytes(body, max_items)
    return body, seen


def _cut_bytes(body: bytes, max_items: int) -> tuple[bytes, int]:
    """A feed that is not well-formed: refuse entity declarations, cut before the
    ``max_items + 1``-th entry tag (feedparser's loose parser reads the rest)."""
    if _ENTITY_DECL.search(body[:65536]):
        raise DocumentRefused("declares XML entities (<!ENTITY> in its DOCTYPE), which no "
                              "feed or sitemap needs: refused (entity expansion)")
    seen = 0
    for match in _ENTRY_TAG.finditer(body):
        seen += 1
        if seen > max_items:
            return body[:match.start()], seen
    return body, seen
