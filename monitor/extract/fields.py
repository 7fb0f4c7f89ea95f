"""Headline, canonical URL, author, language and description from page signals."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit

from monitor.extract.metadata import PageMeta, clean_text, ld_names, ld_text
from monitor.urls import canonical_candidate, normalise_url

# separators between a headline and a site or section name in <title>/og:title
_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»:/]|::)\s+")
_ALNUM = re.compile(r"\W+")
_GENERIC_HOST_LABELS = {"www", "m", "amp", "mobile", "news", "edition", "com", "co", "org",
                        "net", "de", "uk", "www2"}


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe",
                           "å": "aa"})
_DATE_PART = re.compile(
    r"^\W*(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.? \w+ \d{4}|\w+ \d{1,2}, \d{4})\W*$")
_BYLINE_PART = re.compile(r"^(?:by|von|par|por|di|av|door)\s+\S", re.I)


def _key(text: str) -> str:
    """Lower-case letters and digits only, umlauts spelled out (Börse -> boerse)."""
    return _ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold().translate(_TRANSLIT))


def _key_plain(text: str) -> str:
    """Like _key but with accents dropped instead (Börse -> borse)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _ALNUM.sub("", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def site_names(pm: PageMeta, url: str) -> list[str]:
    """Keys (lower-case, letters and digits only) naming the site: og:site_name,
    application-name, the JSON-LD publisher and the distinctive labels of the host name."""
    names = [pm.first("og:site_name"), pm.first("application-name"),
             pm.first("apple-mobile-web-app-title"), pm.first("twitter:site"),
             pm.first("publisher"), pm.first("dc.publisher")]
    for obj in ([pm.article_ld] if pm.article_ld else []) + pm.jsonld:
        pub = obj.get("publisher")
        names.append(ld_text(pub) if pub else None)
        types = obj.get("@type")
        types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
        if any(isinstance(t, str)
               and t.lower() in ("organization", "newsmediaorganization", "website")
               for t in types):
            names.append(ld_text(obj.get("name")))
    host = urlsplit(url).hostname or ""
    labels = [lab for lab in host.split(".")[:-1] if lab not in _GENERIC_HOST_LABELS]
    names.extend(labels)
    if labels:
        names.append("".join(labels))
    keys = []
    for name in names:
        if not name:
            continue
        for key in (_key(name.lstrip("@")), _key_plain(name.lstrip("@"))):
            if len(key) >= 2 and key not in keys:
                keys.append(key)
    return keys


def _is_site_part(part: str, sites: list[str]) -> bool:
    keys = {_key(part), _key_plain(part)}
    if not any(keys):
        return True
    if len(part.split()) > 6:
        return False
    for key in keys:
        for site in sites:
            if key == site:
                return True
            if len(site) >= 3 and (site in key or (len(key) >= 4 and key in site)):
                return True
    return False


def _is_tail_junk(part: str) -> bool:
    """Parts that follow a site name in titles: dates and bylines."""
    return bool(_DATE_PART.match(part) or _BYLINE_PART.match(part))


def strip_site_name(title: str, sites: list[str], site_texts: Sequence[str] = ()) -> str:
    """Remove site-name parts (" | CBC News", "BBC News - ") from either end of a title.

    Parts are split at spaced separators (``|``, ``-``, ``–``, ``—``, ``:``, ``·``,
    ``»``, ``/``); a part is a site name when it matches og:site_name, application-name,
    the JSON-LD publisher or the host name. Dates and bylines after a site name go with
    it. A site name glued to the title with unspaced punctuation ("…：朝日新聞デジタル")
    is removed too. The headline itself is never removed.
    """
    title = clean_text(title)
    for text in site_texts:
        if text and len(text) >= 2 and title.endswith(text) and len(title) > len(text) + 8:
            head = title[: -len(text)]
            stripped = re.sub(r"\s*[|\-–—:：·•»/｜]\s*$", "", head)
            if stripped != head:
                title = stripped.strip()
                break
    parts = _SEPARATOR.split(title)
    seps = _SEPARATOR.findall(title)
    if len(parts) < 2:
        return title
    changed = True
    while changed and len(parts) > 1:
        changed = False
        # a site name among the last parts, with only dates or bylines after it
        for i in range(len(parts) - 1, 0, -1):
            if _is_site_part(parts[i], sites) and all(_is_tail_junk(p) for p in parts[i + 1:]):
                # section names between headline and site go too ("- Politik - SZ.de")
                while i > 1 and len(parts[i - 1].split()) <= 2 and len(parts[i - 1]) <= 20:
                    i -= 1
                parts, seps = parts[:i], seps[: i - 1]
                changed = True
                break
            if not _is_tail_junk(parts[i]):
                break
        if not changed and _is_site_part(parts[0], sites):
            parts, seps = parts[1:], seps[1:]
            changed = True
    out = parts[0]
    for sep, part in zip(seps, parts[1:], strict=True):   # a separator between two parts
        out += sep + part
    return out.strip() or title


def title_candidates(pm: PageMeta, url: str) -> dict[str, str]:
    """Headline candidates by source, each cleaned and stripped of site names."""
    sites = site_names(pm, url)
    site_texts = [t for t in (pm.first("og:site_name"), pm.first("application-name")) if t]
    raw = {
        "json-ld": ld_text(pm.article_ld.get("headline")) if pm.article_ld else None,
        "og": pm.first("og:title"),
        "twitter": pm.first("twitter:title"),
        "h1": pm.h1[0] if pm.h1 else None,
        "title": pm.title_tag,
    }
    out = {}
    for name, value in raw.items():
        if value:
            value = strip_site_name(value, sites, site_texts)
            if value:
                out[name] = value
    return out


def choose_title(cands: dict[str, str]) -> tuple[str | None, str]:
    """Pick the headline from candidates.

    og:title and the JSON-LD headline are the editor's headlines. When both exist and
    differ, the one that merely repeats the ``<title>`` is taken for the SEO variant and
    the other one wins (on the corpus benchmark this beats any fixed order and any
    majority vote). Otherwise og:title, JSON-LD headline, h1, <title>, twitter:title.

    Returns:
        (headline or None, name of the source).
    """
    og, ld, tag = cands.get("og"), cands.get("json-ld"), cands.get("title")
    if og and ld:
        k_og, k_ld = _key(og), _key(ld)
        if k_og != k_ld and k_ld and (k_og.startswith(k_ld) or k_og.endswith(k_ld)):
            return ld, "json-ld (og:title has extra words)"
        if k_og != k_ld and k_og and (k_ld.startswith(k_og) or k_ld.endswith(k_og)):
            return og, "og (json-ld has extra words)"
    if og and ld and _key(og) != _key(ld) and tag:
        if _key(tag) == _key(og):
            return ld, "json-ld (og:title repeats <title>)"
        if _key(tag) == _key(ld):
            return og, "og (json-ld repeats <title>)"
    for name in ("og", "json-ld", "h1", "title", "twitter"):
        if cands.get(name):
            return cands[name], name
    return None, "none"


# paths that are a site's (or a language edition's) front page, never an article
_HOME_PATH = re.compile(
    r"/?(?:[a-z]{2}(?:[-_][a-z]{2})?/?)?(?:(?:index|default|home)(?:\.[a-z]{2,5})?)?/?", re.I)


def canonical_problem(candidate: str) -> str | None:
    """Say why a canonical link (rel=canonical or og:url), already resolved against the
    request URL, cannot be the article's identity; None when it can.

    The pipeline treats every later page with the same canonical URL as a duplicate (not
    stored, not alerted), so a wrong canonical silently drops articles. Refused:

    - a scheme other than http(s) (``javascript:``, ``mailto:``, a ``file:`` URL resolved
      against a replayed file) or no host;
    - a front page: an empty path or ``/``, with or without a query (``/?ref=rss``), an
      index file (``/index.html``, ``/default.aspx``) or a language edition's front page
      (``/en/``, ``/de-de``): templates that put the home page in every article;

    A canonical on another host than the request is kept when it passes these checks (an
    article-like path: more than one character and not a front page): syndicated and wire
    copies point at the original on purpose, and storing them as the original's duplicate
    is what the dedup step wants.
    """
    parts = urlsplit(candidate)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {candidate!r}"
    if _HOME_PATH.fullmatch(parts.path):
        return f"a site front page: {candidate!r}"
    return None


def canonical_url(pm: PageMeta, page_url: str) -> str:
    """The page's canonical URL: rel=canonical, then og:url, resolved against the request
    URL, then the request URL; normalised (``monitor.urls.normalise_url``: lower-case
    host, no fragment, no tracking parameters).

    A candidate is skipped for the next one when ``monitor.urls.canonical_candidate``
    cannot read a well-formed http(s) URL in it (garbage; of several URLs written in one
    attribute the first is taken) or ``canonical_problem`` refuses it (a site front page).
    """
    for candidate in (pm.canonical, pm.first("og:url")):
        absolute, _ = canonical_candidate(candidate, page_url)
        if absolute and canonical_problem(absolute) is None:
            return normalise_url(absolute)
    return normalise_url(page_url)


def authors(pm: PageMeta) -> str | None:
    """Author names joined by "; " (JSON-LD author, then author meta tags), or None."""
    names: list[str] = []
    if pm.article_ld:
        names = ld_names(pm.article_ld.get("author"))
    if not names:
        for key in ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author",
                    "byl"):
            for value in pm.meta.get(key, ()):
                value = clean_text(value)
                if value and not value.startswith(("http://", "https://")):
                    names.extend(v.strip() for v in re.split(r"\s*[;|]\s*", value) if v.strip())
            if names:
                break
    cleaned = []
    for name in names:
        name = re.sub(r"^(?:by|von|par|por|di)\s+", "", name, flags=re.I).strip()
        if name and len(name) < 100 and name not in cleaned:
            cleaned.append(name)
    return "; ".join(cleaned) or None


def language(pm: PageMeta, detected: str | None = None,
             fallback: str | None = None) -> str | None:
    """ISO 639-1 language: trafilatura's finding, JSON-LD inLanguage, <html lang>,
    content-language or og:locale, then ``fallback``; None when none names one.

    Args:
        pm: the page's meta signals.
        detected: a language detected in the text, if any (checked first).
        fallback: the language the feed or sitemap gives for the entry (a Google News
            sitemap's ``news:language``), used when the page names none.
    """
    values = [detected]
    if pm.article_ld:
        values.append(ld_text(pm.article_ld.get("inLanguage")))
    values += [pm.lang, pm.first("content-language"), pm.first("og:locale"), pm.first("language"),
               fallback]
    for value in values:
        if value:
            code = re.split(r"[-_,;\s]", value.strip().lower(), maxsplit=1)[0]
            if re.fullmatch(r"[a-z]{2}", code):
                return code
    return None


def description(pm: PageMeta) -> str | None:
    """The standfirst: og:description, meta description or JSON-LD description."""
    got = pm.first("og:description", "description", "twitter:description")
    if not got and pm.article_ld:
        got = ld_text(pm.article_ld.get("description"))
    return got or None


#: An outlet name longer than this is not a name (a slogan, a sentence): ignored.
_MAX_OUTLET_CHARS = 80


def outlet(pm: PageMeta) -> str | None:
    """The outlet as the page names itself, for alerts: ``og:site_name``, else the
    name of the JSON-LD article's ``publisher``, else the name of a JSON-LD
    ``NewsMediaOrganization`` or ``Organization`` on the page.

    Args:
        pm: the page's signals.

    Returns:
        The name as written (whitespace-normalised, a leading ``@`` kept), e.g.
        "CBC News"; None when the page names no outlet (or only a URL or a long text).
    """
    candidates = [pm.first("og:site_name")]
    if pm.article_ld is not None:
        candidates.append(ld_text(pm.article_ld.get("publisher")))
    for kind in ("newsmediaorganization", "organization"):
        for obj in pm.jsonld:
            types = obj.get("@type")
            types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
            if any(isinstance(t, str) and t.lower() == kind for t in types):
                candidates.append(ld_text(obj.get("name")))
    for name in candidates:
        if name and len(name) <= _MAX_OUTLET_CHARS and not re.match(r"^https?://", name):
            return name
    return None


#: at most this many keywords are kept (tag soups list hundreds)
MAX_KEYWORDS = 30


def keywords(pm: PageMeta, fallback: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The article's topic keywords: the ``news_keywords``, ``keywords`` and
    ``article:tag`` meta tags and the JSON-LD article's ``keywords`` (a list or a
    comma-separated string), else ``fallback`` (a news sitemap's ``news:keywords``).

    Args:
        pm: the page's signals.
        fallback: keywords from the feed or sitemap entry.

    Returns:
        Up to :data:`MAX_KEYWORDS` keywords, whitespace-normalised, each once
        (case-insensitively), in the order found; empty when there are none.
    """
    raw: list[str] = []
    for name in ("news_keywords", "keywords", "article:tag"):
        raw += pm.meta.get(name, [])
    if pm.article_ld is not None:
        value = pm.article_ld.get("keywords")
        raw += value if isinstance(value, list) else [value] if isinstance(value, str) else []
    out: list[str] = []
    seen: set[str] = set()
    for value in raw or list(fallback):
        for word in str(value).split(","):
            word = " ".join(word.split())
            if word and len(word) <= 80 and word.lower() not in seen:
                seen.add(word.lower())
                out.append(word)
    return tuple(out[:MAX_KEYWORDS])
