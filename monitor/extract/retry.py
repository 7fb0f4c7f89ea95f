"""The second try on a page whose first extraction was rejected.

A balanced trafilatura pass can take a cookie notice for the article (the notice is one
long paragraph, the article sits in an ``<aside>`` or another container trafilatura
discards) or drop a paywalled article's teaser (``class="teaser"``). Before such a page
is rejected as a consent wall, too short or empty, it is extracted once more from a
copy of the tree that

- has no consent blocks: the outermost element around each paragraph that reads as a
  cookie or consent notice, while the notice is most of that element's text;
- has the page's article containers made ordinary: an ``<aside>`` (or ``<nav>``,
  ``<footer>``, ``<dialog>``) that holds the page's ``<h1>`` or several paragraphs of
  prose becomes a ``<div>``;

with trafilatura's ``favor_recall``. The page is rejected only when this second body is
still rejected, i.e. when what remains is really consent text or really short.
"""

from __future__ import annotations

import copy

from lxml import etree
from lxml.html import HtmlElement

from monitor.extract.verdict import is_consent_paragraph

# an element is a consent block when the notice makes up this share of its text
_CONSENT_BLOCK_SHARE = 0.7
# containers trafilatura drops whole; kept when they hold the article
_DISCARDED_CONTAINERS = ("aside", "nav", "footer", "dialog")
# a container holds prose when its paragraphs have this many characters
_PROSE_CHARS = 300
_PROSE_PARAGRAPHS = 2


def _text(el: etree._Element) -> str:
    return " ".join("".join(el.itertext()).split())


def consent_blocks(tree: HtmlElement) -> list[etree._Element]:
    """The outermost elements that are cookie or consent notices: a paragraph-like
    element whose text reads as one (``verdict.is_consent_paragraph``), widened to its
    ancestors while the notice stays most of their text (the buttons, the wrapper)."""
    found: list[etree._Element] = []
    for el in tree.iter("p", "div", "section", "span", "li", "dialog", "form", "aside"):
        text = _text(el)
        if not text or len(text) > 3000 or not is_consent_paragraph(text):
            continue
        # the smallest element that is the notice: no child is one by itself
        if any(isinstance(c.tag, str) and is_consent_paragraph(_text(c)) for c in el):
            continue
        block, size = el, len(text)
        parent = block.getparent()
        while parent is not None and parent.tag not in ("body", "html", "article", "main"):
            if size < _CONSENT_BLOCK_SHARE * len(_text(parent)):
                break
            block, parent = parent, parent.getparent()
        if block not in found:
            found.append(block)
    return [el for el in found if not any(a in found for a in el.iterancestors())]


def recall_tree(tree: HtmlElement) -> tuple[HtmlElement, list[str]]:
    """A copy of the page prepared for the recall pass (see the module docstring).

    Args:
        tree: the parsed page (not modified).

    Returns:
        (the copy, what was changed, e.g. ``["consent-blocks", "aside"]``).
    """
    notes: list[str] = []
    drop = consent_blocks(tree)
    keep = []
    h1s = [h for h in tree.iter("h1") if _text(h)]
    for el in tree.iter(*_DISCARDED_CONTAINERS):
        paras = [_text(p) for p in el.iter("p")]
        prose = [p for p in paras if len(p) >= 80]
        holds_h1 = any(any(a is el for a in h.iterancestors()) for h in h1s)
        if holds_h1 or (len(prose) >= _PROSE_PARAGRAPHS and sum(map(len, prose)) >= _PROSE_CHARS):
            keep.append(el)
    out = copy.deepcopy(tree)
    # a deep copy has the same structure: walk both trees to find the copies
    twin = dict(zip(tree.iter(), out.iter(), strict=True))
    for el in keep:
        notes.append(el.tag)
        twin[el].tag = "div"
    for el in drop:
        if twin[el].getparent() is not None:
            twin[el].drop_tree()
        notes.append("consent-block")
    return out, sorted(set(notes))
