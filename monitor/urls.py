"""Article URLs as identities: tracking parameters removed, canonical links validated.

The canonical URL is an article's identity (dedup keeps one article per URL), so two
links to the same story must normalise to the same string, and a garbled canonical link
must never become one. courlan does the normalisation (lower-case host, default port,
its own tracker list: ``utm_*``, ``fbclid``, ``ref``, ``source``, ...); this module adds
a declared list of the referral, share and campaign parameters courlan keeps
(``TRACKING_PARAMS``, ``TRACKING_PREFIXES``) and checks what a ``<link rel=canonical>``
holds before it is used. No Scrapy here; the crawl side may use the same functions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from courlan import normalize_url

# Query parameters that say how a reader reached a page, never which page it is. On top
# of courlan's list; compared lower-cased. Each was seen on news article links:
TRACKING_PARAMS = frozenset({
    "from",          # ?from=referral_ch2artbottom, ?from=rss, ?from=home (Chinese portals)
    "share", "shared", "sharing", "sharetype", "share_type", "sr_share",
    "via", "fromshare", "sharesource", "shareid",
    "cmp", "cmpid", "cmp_id", "intcmp", "int_cmp", "icid", "ocid", "ncid",
    "smid", "smtyp",         # New York Times share links
    "spm", "scm",            # Alibaba / Taobao share links
    "ito", "taid", "dicbo", "ftag", "mbid",
    "wt.mc_id", "wt.mc_ev", "wt_mc", "s_cid", "s_kwcid",
    "rss", "rss_id", "feed_id", "feedtype",
    "trk", "trkid", "tracking", "tracking_id", "tracksource",
    "_hsenc", "_hsmi", "hsctatracking", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_conv", "vero_id", "ss_source", "ss_campaign_id",
    "amp_js_v", "usqp", "__twitter_impression", "ns_campaign", "ns_mchannel",
    "ns_source", "ns_linkname", "ns_fee",
})
# parameter name prefixes of analytics suites (AT Internet, comScore, Matomo/Piwik,
# HubSpot ads, Webtrends, Sailthru)
TRACKING_PREFIXES = ("at_", "ns_", "pk_", "mtm_", "matomo_", "hsa_", "wt.", "wt_", "stm_",
                     "share_", "sc_")

# a host: dot-separated labels of letters (any script), digits and hyphens, or an IP
_HOST = re.compile(r"(?:[\w-]{1,63}\.)*[\w-]{1,63}\.?|\[[0-9a-f:.]+\]", re.I)
# several URLs written in one attribute: split at whitespace, or at a comma that starts
# another URL
_URL_SEPARATOR = re.compile(r"\s+|,(?=\s*(?:https?:)?//)", re.I)


def is_web_url(url: str) -> bool:
    """Whether ``url`` is an absolute http or https URL with a host: the one test of
    "http(s)" in the monitor (feed and sitemap links, front-page links, channel URLs,
    canonical links).

    The scheme is compared case-insensitively and must open the string (no leading
    space); the host must be non-empty and hold no whitespace. A URL that cannot be
    parsed (a malformed IPv6 host) is not a web URL.

    Args:
        url: the text to test, e.g. ``"https://example.com/a"``.

    Returns:
        True for ``http://host...`` and ``https://host...``; False for ``file:``,
        ``ftp:``, ``javascript:``, ``data:``, relative links and ``http:///path``.
    """
    head = url[:8].lower()
    if not head.startswith(("http://", "https://")):
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    return not any(c.isspace() for c in host)


def is_tracking_param(name: str) -> bool:
    """True when a query parameter name is in the declared tracking list (on top of
    courlan's, which ``normalise_url`` applies as well)."""
    key = name.strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """Remove the declared tracking parameters from a URL's query (and a fragment that
    is one, ``#xtor=RSS-3``); other parameters keep their order and values.

    Args:
        url: an absolute URL.

    Returns:
        The URL without those parameters (unchanged when it has none).
    """
    parts = urlsplit(url)
    fragment = parts.fragment
    if "=" in fragment and all(is_tracking_param(k) for k, _ in parse_qsl(fragment)):
        fragment = ""
    if not parts.query:
        return urlunsplit(parts._replace(fragment=fragment))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not is_tracking_param(k)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit(parts._replace(query=query, fragment=fragment))


def normalise_url(url: str) -> str:
    """Normalise a URL for identity: declared tracking parameters removed, then
    courlan's normalisation (lower-case host, default port, its tracker list), and the
    fragment dropped.

    Args:
        url: an absolute URL.

    Returns:
        The normalised URL; the input with its fragment dropped when courlan cannot read it.
    """
    try:
        out = normalize_url(strip_tracking(url), strict=False)
    except (ValueError, AttributeError):
        out = url
    try:
        parts = urlsplit(out)
    except ValueError:   # e.g. an empty or malformed [bracketed] host
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


# a link courlan leaves as it is: lower-case http(s) host, no port, a path of unreserved
# characters, no query or fragment (with "/." and "xn--" checked apart)
_NORMAL = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?:/[A-Za-z0-9\-._~]+)*/?")


def url_key(url: str) -> str:
    """The identity key of a link: the one string under which the monitor knows it.

    The seen-link filter (``pages``), articles (their canonical URL) and the Redis seen
    keys of distributed crawling all use it, so a link listed with a tracking parameter,
    a fragment or an upper-case host is the link seen before. It is :func:`normalise_url`,
    and applying it again changes nothing (``url_key(url_key(u)) == url_key(u)``).

    A link already in normal form (lower-case http(s) host without a port, a path of
    unreserved characters, no query, fragment, dot segment or punycode: about two links
    in three in the shared corpus of feeds and sitemaps) is its own key without going
    through courlan; the others are cached (65,536 links, about 20 MB at most): a feed
    or sitemap lists the same links at every poll, and normalising one costs about
    0.05 ms.

    Args:
        url: an absolute URL, as listed or fetched.

    Returns:
        The key, itself an absolute URL (the input unchanged when it cannot be read).
    """
    if _NORMAL.fullmatch(url) and "/." not in url and "xn--" not in url:
        return url
    return _cached_key(url)


@functools.lru_cache(maxsize=65536)
def _cached_key(url: str) -> str:
    return normalise_url(url)


def canonical_candidate(href: str | None, base: str) -> tuple[str | None, str | None]:
    """Read the URL a ``<link rel=canonical>`` (or ``og:url``) means.

    Templates write several URLs into one attribute (``"/a, https://x/a?amp=1,
    https://m.x/a"``): the first one is taken, resolved against ``base``. A value that
    is not a well-formed http(s) URL once resolved (no or a malformed host, spaces,
    control characters, a bad port) is refused.

    Args:
        href: the attribute as written.
        base: the URL of the page, for resolving a relative link.

    Returns:
        ``(absolute URL, None)``, or ``(None, why)`` when the value cannot be used.
    """
    if not href or not href.strip():
        return None, "empty"
    first = _URL_SEPARATOR.split(href.strip(), maxsplit=1)[0].rstrip(",;")
    if not first:
        return None, f"no URL in {href!r}"
    if any(ord(c) < 32 or c in "<>\"{}|\\^`" for c in first):
        return None, f"not a URL: {href!r}"
    if re.match(r"[a-z][a-z0-9+.-]*:", first, re.I) and not urlsplit(first).netloc \
            and not first.lower().startswith(("javascript:", "mailto:", "data:", "tel:")):
        return None, f"a scheme without a host: {href!r}"
    try:
        absolute = urljoin(base, first)
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None, f"not a URL: {href!r}"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None, f"not an http(s) URL: {href!r}"
    if not _HOST.fullmatch(parts.hostname) or ".." in parts.hostname:
        return None, f"malformed host in {href!r}"
    return absolute, None


# The Public Suffix List snapshot shipped with tldextract (no network: a monitor must not
# fetch the list at start); private suffixes count, so two blogspot.com blogs are two sites.
_SITES = None


def site_of(url: str) -> str:
    """The site a URL belongs to: its registered domain (``www.bbc.co.uk`` ->
    ``bbc.co.uk``, ``a.blogspot.com`` -> ``a.blogspot.com``), or the bare host for an IP
    address or a single-label name (``127.0.0.1``, ``localhost``); "" without a host.

    Uses tldextract's bundled Public Suffix List snapshot (never the network).
    """
    global _SITES
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return ""
    if _SITES is None:
        import tldextract

        _SITES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                       include_psl_private_domains=True)
    found = _SITES(host)
    return found.top_domain_under_public_suffix or host


def host_in_domains(url: str, domains: Iterable[str]) -> bool:
    """True when the URL's host is one of ``domains`` or a subdomain of one
    (``news.example.com`` is in ``example.com``); ``"*"`` in ``domains`` allows every
    host. The port is ignored (Scrapy's ``url_is_from_any_domain`` compares the netloc,
    port included, so ``example.com:8080`` would never match)."""
    domains = [d.lower().strip().lstrip(".") for d in domains]
    if "*" in domains:
        return True
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and any(host == d or host.endswith("." + d) for d in domains)


def article_domains(source_url: str, link: str, allowed: tuple[str, ...] | None,
                    redirectors: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The domains an article page reached from ``link`` may be on (after redirects).

    Args:
        source_url: the feed, sitemap or page URL of the source that listed the link.
        link: the article link as listed.
        allowed: the source's ``allowed_domains``, or None when it declares none.
        redirectors: hosts of link shorteners and feed proxies (``crawl.redirectors``).

    Returns:
        When the source declares ``allowed_domains``: those, plus the source's own site
        (its own links are always followed) and the redirector hosts (a hop through a
        shortener is followed; where it lands must be allowed); ``("*",)`` allows any.
        Otherwise the source's own site and the link's own site: a link may point to
        another site, but a redirect must not take it to a third one. A link on a
        redirector host may land anywhere (``("*",)``), as the feed sends readers there.
    """
    if allowed:
        if "*" in allowed:
            return ("*",)
        own = site_of(source_url)
        return tuple(dict.fromkeys([*allowed, *([own] if own else []), *redirectors]))
    if redirectors and host_in_domains(link, redirectors):
        return ("*",)
    return tuple(sorted({d for d in (site_of(source_url), site_of(link)) if d}))
