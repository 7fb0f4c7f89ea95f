"""Headline, canonical URL, author, language and description from page signals."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urljoin, urlsplit, urlunsplit

from courlan import normalize_url

from monitor.extract.metadata import PageMeta, clean_text, ld_names, ld_text

# separators between a headline and a site or section name in <title>/og:title
_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»:/]|::)\s+")
_ALNUM = re.compile(r"\W+")
_GENERIC_HOST_LABELS = {"www", "m", "amp", "mobile", "news", "edition", "com", "co", "org",
                        "net", "de", "uk", "www2"}


def _key(text: str) -> str:
    return _ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def site_names(pm: PageMeta, url: str) -> list[str]:
    """Keys (lower-case, letters and digits only) naming the site: og:site_name,
    application-name, the JSON-LD publisher and the distinctive labels of the host name."""
    names = [pm.first("og:site_name"), pm.first("application-name"),
             pm.first("apple-mobile-web-app-title"), pm.first("twitter:site"),
             pm.first("publisher"), pm.first("dc.publisher")]
    for obj in ([pm.article_ld] if pm.article_ld else []) + pm.jsonld:
        pub = obj.get("publisher")
        names.append(ld_text(pub) if pub else None)
        if any(t.lower() in ("organization", "newsmediaorganization", "website") for t in
               ([obj.get("@type")] if isinstance(obj.get("@type"), str) else obj.get("@type") or [])):
            names.append(ld_text(obj.get("name")))
    host = urlsplit(url).hostname or ""
    labels = [lab for lab in host.split(".")[:-1] if lab not in _GENERIC_HOST_LABELS]
    names.extend(labels)
    if labels:
        names.append("".join(labels))
    keys = []
    for name in names:
        key = _key(name.lstrip("@")) if name else ""
        if len(key) >= 2 and key not in keys:
            keys.append(key)
    return keys


def _is_site_part(part: str, sites: list[str]) -> bool:
    key = _key(part)
    if not key:
        return True
    if len(part.split()) > 6:
        return False
    for site in sites:
        if key == site:
            return True
        if len(site) >= 3 and (site in key or (len(key) >= 4 and key in site)):
            return True
    return False


def strip_site_name(title: str, sites: list[str]) -> str:
    """Remove site-name parts (" | CBC News", "BBC News - ") from either end of a title.

    A part is removed only when what is left is still a non-trivial headline.
    """
    title = clean_text(title)
    parts = _SEPARATOR.split(title)
    seps = _SEPARATOR.findall(title)
    if len(parts) < 2:
        return title
    changed = True
    while changed and len(parts) > 1:
        changed = False
        if _is_site_part(parts[-1], sites):
            parts, seps = parts[:-1], seps[:-1]
            changed = True
        elif _is_site_part(parts[0], sites):
            parts, seps = parts[1:], seps[1:]
            changed = True
    out = parts[0]
    for sep, part in zip(seps, parts[1:]):
        out += sep + part
    return out.strip() or title


def title_candidates(pm: PageMeta, url: str) -> dict[str, str]:
    """Headline candidates by source, each cleaned and stripped of site names."""
    sites = site_names(pm, url)
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
            value = strip_site_name(value, sites)
            if value:
                out[name] = value
    return out


def choose_title(cands: dict[str, str]) -> tuple[str | None, str]:
    """Pick the headline from candidates.

    A headline given the same way by two independent sources wins; then structured data
    (JSON-LD headline, og:title), then the h1 and the <title>.

    Returns:
        (headline or None, name of the source).
    """
    order = ["json-ld", "og", "h1", "twitter", "title"]
    keys = {name: _key(value) for name, value in cands.items()}
    for name in order:
        if name not in cands:
            continue
        agree = [o for o in cands if o != name and keys[o] == keys[name]]
        if agree:
            return cands[name], f"{name}+{agree[0]}"
    for name in order:
        if name in cands:
            return cands[name], name
    return None, "none"


def canonical_url(pm: PageMeta, page_url: str) -> str:
    """The page's canonical URL: rel=canonical, then og:url, resolved against the request
    URL, then the request URL; normalised (lower-case host, no fragment, no tracking
    parameters such as utm_*)."""
    for candidate in (pm.canonical, pm.first("og:url")):
        if not candidate:
            continue
        absolute = urljoin(page_url, candidate.strip())
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.netloc:
            return normalise_url(absolute)
    return normalise_url(page_url)


def normalise_url(url: str) -> str:
    """Normalise a URL for identity: courlan's normalisation, fragment dropped."""
    try:
        out = normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        out = url
    parts = urlsplit(out)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


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


def language(pm: PageMeta, detected: str | None = None) -> str | None:
    """ISO 639-1 language: trafilatura's finding, JSON-LD inLanguage, <html lang>,
    content-language or og:locale; None when the page names none."""
    values = [detected]
    if pm.article_ld:
        values.append(ld_text(pm.article_ld.get("inLanguage")))
    values += [pm.lang, pm.first("content-language"), pm.first("og:locale"), pm.first("language")]
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
