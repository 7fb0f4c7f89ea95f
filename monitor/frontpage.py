"""Article links on a section front page (sources of kind ``page``).

A site with neither feed nor sitemap still has front pages: a home page or a section
(``/world/``) listing its newest stories as linked teasers. :func:`article_links` reads
such a page and keeps the links that look like articles:

- on the same site as the page (registered domain, :func:`monitor.urls.site_of`);
- not in navigation markup (``<nav>``, ``<header>``, ``<footer>``, ``role=navigation``,
  menus, breadcrumbs, pagination, share bars);
- not a navigation, tag, author, category or archive URL, nor a login, search or
  feed URL (courlan's ``is_navigation_page``, ``is_not_crawlable`` and ``check_url``,
  plus :data:`NOT_ARTICLE` for the path words courlan does not know);
- with an article-like path: a long slug (``putin-visits-pyongyang``), a numeric id of
  five or more digits, a date (``/2024/06/19/``), or a page name ending ``.html``;
- with a headline as link text (at least :data:`MIN_WORDS` words, or
  :data:`MIN_CHARS` characters for scripts written without spaces), unless the link
  sits in a heading or an ``<article>`` element, where a shorter text will do.

No Scrapy here: the ``page`` spider and ``monitor sources discover`` both use it.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.html
from courlan import check_url, is_navigation_page, is_not_crawlable
from lxml.html import HtmlElement

from monitor.records import Link
from monitor.urls import is_web_url, normalise_url, site_of

#: a headline has at least this many words...
MIN_WORDS = 4
#: ...or this many characters when the script is written without spaces (CJK, Thai)
MIN_CHARS = 12
#: at most this many links are read from one page (a front page has a few hundred)
MAX_LINKS = 5000

# containers whose links are navigation, not stories
_NAV_TAGS = {"nav", "header", "footer", "menu", "form", "select"}
_NAV_ATTR = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|menubar|breadcrumbs?|pagination|pager|"
    r"footer|masthead|share|sharing|social|skip|subnav|megamenu|toolbar|cookie|consent|"
    r"login|signin|newsletter)(?:$|[\s_-])", re.I)
# path segments that mark a page as a list or a utility page, not a story (courlan's
# is_navigation_page knows tag/category/author/page/archive in several languages)
NOT_ARTICLE = re.compile(
    r"/(?:topics?|themen|thema|tags?|schlagworte?|sections?|ressorts?|rubri[ck]en?|"
    r"authors?|autor(?:en|in|es)?|auteurs?|writers?|people|profiles?(?:-\d+)?|"
    r"contributors?|staff|specials?|dossiers?|estaticos|web-stories|whatsapp[\w-]*|"
    r"search|suche|recherche|subscribe|subscription|abo|newsletters?|podcasts?/?$|"
    r"about|impressum|imprint|contact|kontakt|privacy|datenschutz|terms|agb|"
    r"cookies?|help|faq|jobs|careers|advertis\w*|shop|account|login|register|"
    r"live-?tv|weather|wetter|horoscope|games?|puzzles?|crosswords?)(?:/|$)", re.I)
_DATE_PATH = re.compile(r"/(?:19|20)\d\d[/-](?:0?[1-9]|1[0-2])(?:[/-]|$)")
_LONG_ID = re.compile(r"\d{5,}")
_PAGE_NAME = re.compile(r"\.(?:s?html?|php|aspx?|ece|cms)$", re.I)
_SPACELESS = re.compile(r"[\u0E00-\u0E7F\u3040-\u30FF\u3400-\u9FFF\uAC00-\uD7AF]")


def _is_nav(element: HtmlElement) -> bool:
    """True when the link sits in navigation markup."""
    for parent in element.iterancestors():
        tag = parent.tag if isinstance(parent.tag, str) else ""
        if tag.lower() in _NAV_TAGS:
            return True
        if (parent.get("role") or "").lower() in ("navigation", "menu", "menubar", "banner",
                                                  "contentinfo"):
            return True
        marks = f"{parent.get('class') or ''} {parent.get('id') or ''}"
        if marks.strip() and _NAV_ATTR.search(marks):
            return True
        if tag.lower() in ("article", "main"):
            return False
    return False


def _in_story_markup(element: HtmlElement) -> bool:
    """True when the link is (in) a heading or sits in an ``<article>`` element."""
    for parent in element.iterancestors():
        tag = parent.tag.lower() if isinstance(parent.tag, str) else ""
        if tag in ("h1", "h2", "h3", "h4", "article"):
            return True
        if tag in ("body", "main"):
            return False
    return False


def _headline(element: HtmlElement) -> str:
    """The link's text, else its title or a contained image's alt text."""
    text = " ".join(element.text_content().split())
    if not text:
        text = " ".join((element.get("title") or "").split())
    if not text:
        for img in element.iter("img"):
            text = " ".join((img.get("alt") or "").split())
            if text:
                break
    return text


def _long_enough(text: str, relaxed: bool) -> bool:
    words = len(text.split())
    if _SPACELESS.search(text):
        return len(text.replace(" ", "")) >= (MIN_CHARS // 2 if relaxed else MIN_CHARS)
    return words >= (2 if relaxed else MIN_WORDS)


def article_like_url(url: str) -> bool:
    """True when a URL's path looks like one story's page rather than a list.

    A story path has a long slug (three or more words joined by hyphens or
    underscores, or a segment of 25+ characters), a numeric id of five or more digits,
    a date (``/2024/06/19/``) or a page name ending ``.html``/``.php``/``.ece``; and it
    is not a navigation, tag, author or utility page (courlan's checks and
    :data:`NOT_ARTICLE`).
    """
    parts = urlsplit(url)
    path = parts.path
    if not path.strip("/"):
        return False
    if is_navigation_page(url) or is_not_crawlable(url) or NOT_ARTICLE.search(path):
        return False
    # courlan's check_url judges the path (file types, feeds, admin pages) but also
    # refuses IP addresses and private names as hosts: give it the path on a placeholder
    probe = "https://www.example.com" + path + (f"?{parts.query}" if parts.query else "")
    if check_url(probe, strict=True) is None:
        return False
    last = [s for s in path.split("/") if s]
    slug = last[-1] if last else ""
    if _PAGE_NAME.search(slug) and len(slug) > 8:
        return True
    if _DATE_PATH.search(path) or _LONG_ID.search(path):
        return True
    return any(len(re.findall(r"[-_]", s)) >= 2 or len(s) >= 25 for s in last)


def article_links(html: bytes | str, url: str, max_links: int = MAX_LINKS,
                  content_type: str | None = None) -> list[Link]:
    """The article links of a front page, in page order, each once.

    Args:
        html: the page (bytes as received, or text).
        url: the page's URL (links are resolved against it, or against ``<base>``).
        max_links: at most this many ``<a>`` elements are read.
        content_type: the response's Content-Type (its charset counts); bytes are
            decoded like article pages (:func:`monitor.extract.decode.decode_body`).

    Returns:
        A :class:`monitor.records.Link` per story (absolute ``url`` and the headline as
        ``title``; a front page gives no publication date). Empty when the page has
        no article links or cannot be parsed.
    """
    if not html.strip():
        return []
    if isinstance(html, bytes):
        from monitor.extract.decode import decode_body
        from monitor.models import Page

        headers = {"content-type": content_type} if content_type else {}
        html = decode_body(Page(url=url, body=html, source="", headers=headers))
        html = re.sub(r"^\s*<\?xml[^>]*>", "", html)  # lxml refuses a str with one
    try:
        doc = lxml.html.fromstring(html, base_url=url)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = url
    for tag in doc.iter("base"):
        if tag.get("href"):
            base = urljoin(url, tag.get("href"))
            break
    site = site_of(url)
    own = normalise_url(url)
    found: dict[str, str] = {}
    for count, element in enumerate(doc.iter("a")):
        if count >= max_links:
            break
        href = (element.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        link = urljoin(base, href)
        if not is_web_url(link) or site_of(link) != site:
            continue
        key = normalise_url(link)
        if key == own or not article_like_url(key) or _is_nav(element):
            continue
        text = _headline(element)
        if not _long_enough(text, _in_story_markup(element)):
            # an image link or a "read more" next to the headline: the headline's own
            # link (same URL) may still come
            continue
        if len(text) > len(found.get(key) or ""):
            found[key] = text
    return [Link(link, title) for link, title in found.items()]
