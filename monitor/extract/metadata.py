"""What a news page says about itself beside the visible text.

Reads, from one parsed lxml tree: JSON-LD (schema.org NewsArticle and friends), Open
Graph and article meta tags, Dublin Core and other common meta names, the ``<html
lang>`` attribute, ``<link rel=canonical>``, ``<h1>`` and ``<title>``. Nothing here
fetches or guesses by site: every signal is generic.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

# JSON-LD @type values that describe one article
_ARTICLE_TYPE = re.compile(r"(?:Article|BlogPosting|Report|LiveBlogPosting|SocialMediaPosting)$",
                           re.I)
# JSON-LD @type values that describe a page listing other pages
LISTING_TYPES = {"collectionpage", "itemlist", "searchresultspage", "profilepage"}

# emoji and what joins into emoji sequences (variation selector 16, keycap, tags)
_EMOJI = ("\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2"
          "\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\ufe0f\u20e3"
          "\U0001f000-\U0001faff\U000e0020-\U000e007f")
# soft hyphen, zero-width space and non-joiner, word joiner, BOM, and a zero-width joiner
# unless it joins two emoji (👩‍👩‍👧 stays one family, not three people): a joiner inside a
# word would split it for the watches
_INVISIBLE = re.compile(f"[\u00ad\u200b\u200c\u2060\ufeff]|(?<![{_EMOJI}])\u200d"
                        f"|\u200d(?![{_EMOJI}])")
_INVISIBLE_CHARS = "\u00ad\u200b\u200c\u2060\ufeff\u200d"
_WITH_DATETIME = etree.XPath("//@datetime/..")


def _drop_invisible(text: str) -> str:
    # most texts have none of the characters: a scan for each (in C) is much cheaper
    # than the regex with its look-arounds
    if any(ch in text for ch in _INVISIBLE_CHARS):
        return _INVISIBLE.sub("", text)
    return text


def clean_text(value: Any, unescape: bool = False) -> str:
    """Whitespace-normalise a metadata string.

    Drops soft hyphens, zero-width spaces, non-joiners and word joiners (and joiners
    except between two emoji), turns no-break and other Unicode spaces into plain spaces
    and collapses runs.

    Args:
        value: the text (anything else is turned into text first; None gives "").
        unescape: decode HTML entities. Only for text no HTML parser has decoded yet
            (JSON-LD strings): text from elements and attributes was decoded once by
            lxml, and decoding it again would turn a headline's literal ``&lt;b&gt;``
            into ``<b>``.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if unescape and "&" in value:
        value = html.unescape(value)
    # str.split() and the regex \s agree on what whitespace is (str.isspace)
    return " ".join(_drop_invisible(value).split())


def clean_lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, each cleaned as by :func:`clean_text`.

    Args:
        text: lines separated by ``\n``.

    Returns:
        The cleaned lines, empty ones left out.
    """
    text = _drop_invisible(text)   # one pass: no match spans a line break
    return [line for line in (" ".join(raw.split()) for raw in text.split("\n")) if line]


@dataclass
class PageMeta:
    """Raw signals found in a page's head and structured data.

    Attributes:
        meta: lower-cased meta ``property``/``name``/``itemprop`` -> contents in page order.
        jsonld: every JSON-LD object that has an ``@type``, flattened from graphs and lists.
        article_ld: the JSON-LD object describing the article, or None.
        lang: the ``<html lang>`` attribute, or None.
        canonical: the ``<link rel=canonical>`` href, or None.
        title_tag: the ``<title>`` text.
        h1: texts of the page's ``<h1>`` elements, in order.
        time_datetimes: ``datetime`` attributes of ``<time>`` elements, in order.
    """

    meta: dict[str, list[str]] = field(default_factory=dict)
    jsonld: list[dict[str, Any]] = field(default_factory=list)
    article_ld: dict[str, Any] | None = None
    lang: str | None = None
    canonical: str | None = None
    title_tag: str = ""
    h1: list[str] = field(default_factory=list)
    time_datetimes: list[str] = field(default_factory=list)

    def first(self, *names: str) -> str | None:
        """The first non-empty meta content among ``names`` (tried in order)."""
        for name in names:
            for value in self.meta.get(name, ()):
                value = clean_text(value)
                if value:
                    return value
        return None

    @property
    def ld_types(self) -> set[str]:
        """All lower-cased JSON-LD @type names on the page."""
        out: set[str] = set()
        for obj in self.jsonld:
            out.update(t.lower() for t in _types(obj))
        return out


def article_signals(pm: PageMeta) -> list[str]:
    """The page's own claims to be one article (og:type article, JSON-LD Article, ...)."""
    found = []
    og_type = (pm.first("og:type") or "").lower()
    if og_type.startswith("article") or og_type in ("news", "newsarticle"):
        found.append(f"og:type {og_type}")
    if pm.article_ld is not None:
        found.append("JSON-LD article")
    if pm.first("article:published_time", "datepublished"):
        found.append("published time")
    return found


def read_meta(tree: HtmlElement) -> PageMeta:
    """Collect meta tags, JSON-LD, canonical link, title, h1 and time elements.

    Args:
        tree: the parsed page (not modified).

    Returns:
        The signals found; fields are empty when the page has none.
    """
    pm = PageMeta()
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree
    lang = root.get("lang") or root.get("xml:lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    pm.lang = lang.strip() if lang else None
    for el in tree.iter("meta", "link", "script", "title", "h1", "time"):
        tag = el.tag
        if tag == "meta":
            content = el.get("content")
            if content is None:
                content = el.get("datetime")
            if content is None:
                continue
            for attr in ("property", "name", "itemprop", "http-equiv"):
                key = el.get(attr)
                if key:
                    pm.meta.setdefault(key.strip().lower(), []).append(content)
        elif tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if "canonical" in rel and pm.canonical is None and el.get("href"):
                pm.canonical = el.get("href").strip()
        elif tag == "script":
            if "ld+json" in (el.get("type") or "").lower() and el.text:
                pm.jsonld.extend(_parse_jsonld(el.text))
        elif tag == "title":
            if not pm.title_tag and el.text_content():
                pm.title_tag = clean_text(el.text_content())
        elif tag == "h1":
            text = clean_text(el.text_content())
            if text:
                pm.h1.append(text)
        elif tag == "time":
            value = el.get("datetime")
            if value:
                pm.time_datetimes.append(value.strip())
    for el in _WITH_DATETIME(tree):   # elements with a datetime (few), in page order
        if el.tag != "meta" and el.get("itemprop"):
            pm.meta.setdefault(el.get("itemprop").strip().lower(), []).append(el.get("datetime"))
    pm.article_ld = _pick_article(pm.jsonld)
    return pm


def _parse_jsonld(raw: str) -> list[dict[str, Any]]:
    raw = raw.strip()
    if raw.startswith("<!--") or raw.startswith("//<![CDATA["):
        raw = re.sub(r"^(?:<!--|//<!\[CDATA\[)|(?:-->|//\]\]>)$", "", raw).strip()
    try:
        data = json.loads(raw)
    except ValueError:
        # common breakage: raw control characters (newlines) inside strings
        try:
            data = json.loads(re.sub(r"[\x00-\x1f]", " ", raw))
        except ValueError:
            return []
    return list(_walk(data, 0))


def _walk(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth + 1)
    elif isinstance(data, dict):
        if "@type" in data:
            yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "hasPart", "subjectOf"):
            sub = data.get(key)
            if isinstance(sub, (list, dict)):
                yield from _walk(sub, depth + 1)


def _types(obj: dict[str, Any]) -> list[str]:
    t = obj.get("@type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    return []


def is_article_ld(obj: dict[str, Any]) -> bool:
    """True when a JSON-LD object's @type names an article (NewsArticle, BlogPosting...)."""
    return any(_ARTICLE_TYPE.search(t) for t in _types(obj))


def _pick_article(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
    articles = [o for o in objs if is_article_ld(o)]
    if not articles:
        return None
    # the object with a headline and the longest body describes the page itself; teasers
    # for related stories carry neither
    def weight(obj: dict[str, Any]) -> tuple[bool, int, bool]:
        body = obj.get("articleBody")
        return (bool(obj.get("headline")), len(body) if isinstance(body, str) else 0,
                bool(obj.get("datePublished")))
    return max(articles, key=weight)


def ld_text(value: Any) -> str | None:
    """A JSON-LD value as text: strings as is, first of lists, @value or name of objects."""
    if isinstance(value, list):
        for item in value:
            got = ld_text(item)
            if got:
                return got
        return None
    if isinstance(value, dict):
        return ld_text(value.get("@value") or value.get("name"))
    if isinstance(value, (str, int, float)):
        text = clean_text(value, unescape=True)   # JSON-LD: not decoded by lxml
        return text or None
    return None


def ld_names(value: Any) -> list[str]:
    """Names from a JSON-LD author-like value (string, Person, or a list of them)."""
    out: list[str] = []
    if isinstance(value, list):
        for item in value:
            out.extend(ld_names(item))
    elif isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            out.append(clean_text(name, unescape=True))
        elif isinstance(name, list):
            out.extend(ld_names(name))
    elif isinstance(value, str):
        out.append(clean_text(value, unescape=True))
    return [n for n in out if n]
