"""Private networks guarded: no request to loopback, private, link-local or reserved
addresses unless ``crawl.allow_private_networks`` is true.

A feed, sitemap or page of a source could otherwise make the monitor fetch an intranet
page or the cloud metadata service (169.254.169.254) and send its text out in alerts.
The check is a downloader middleware, so it sees every request the crawl sends (source
documents, sitemap children, article links, robots.txt) and every redirect (Scrapy sends
each as a new request), and it judges the address the host name resolves to, not the
name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request


class PrivateAddressRefused(IgnoreRequest):
    """A request to a non-public address was refused (``crawl.allow_private_networks``
    is false); the message names the host, its address and what kind it is."""


def non_public(address: str) -> str | None:
    """What kind of non-public address ``address`` is, or None for a public one.

    Args:
        address: an IPv4 or IPv6 address as text (an IPv4-mapped IPv6 address is read
            as the IPv4 address it maps).

    Returns:
        "a loopback address", "a link-local address", "a private address" or "a
        reserved address" (multicast, unspecified, shared 100.64.0.0/10 and every other
        range that is not globally routable); None when it is public.

    Raises:
        ValueError: ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def host_port(url: str) -> tuple[str, int] | None:
    """(lower-case host, port) of an http(s) URL, the scheme's port when none is given;
    None when the URL has no host or a bad port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


class PrivateNetworkMiddleware:
    """Refuse requests to loopback, private, link-local and reserved addresses.

    The host is resolved through the crawl's own resolver (Scrapy's ``DNS_RESOLVER``,
    which caches the answer), so the connection then goes to the address that was
    checked. ``localhost``, a name whose DNS answer is 127.0.0.1, and odd spellings
    such as ``2130706433`` are refused like the literal address.

    Allowed all the same: everything when ``crawl.allow_private_networks`` is true (the
    ``MONITOR_ALLOW_PRIVATE_NETWORKS`` setting when no monitor config is at hand); and
    the host and port of each source being crawled: its URL was given explicitly, so a
    source on an intranet or on 127.0.0.1 works, with its links and redirects on that
    same host and port. A host name that cannot be resolved is let through: the
    download then fails with the usual DNS error.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._trusted: tuple[int, frozenset[tuple[str, int]]] = (0, frozenset())

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkMiddleware:
        """Scrapy's factory."""
        return cls(crawler)

    def _context(self) -> Any:
        return getattr(getattr(self.crawler, "spider", None), "context", None)

    def allowed_everywhere(self) -> bool:
        """True when private addresses may be fetched (the config says so)."""
        config = getattr(self._context(), "config", None)
        if config is not None:
            return config.crawl.allow_private_networks
        return self.crawler.settings.getbool("MONITOR_ALLOW_PRIVATE_NETWORKS", False)

    def trusted(self) -> frozenset[tuple[str, int]]:
        """The (host, port) pairs of the sources being crawled (recomputed when the
        context's list of sources changes)."""
        sources = getattr(self._context(), "sources", None) or []
        if self._trusted[0] != id(sources):
            self._trusted = (id(sources), frozenset(
                hp for hp in (host_port(s.url) for s in sources) if hp is not None))
        return self._trusted[1]

    def _polled(self) -> set[tuple[str, int]]:
        """The (host, port) pairs of the sources of the polls under way (a worker of
        the distributed mode gets its sources with each poll, not as a list)."""
        runs = getattr(getattr(self.crawler, "spider", None), "_runs", None) or {}
        return {hp for hp in (host_port(r.task.url) for r in list(runs.values()))
                if hp is not None}

    def process_request(self, request: Request, spider: Spider | None = None
                        ) -> Awaitable[None] | None:
        """Let the request through (None), or refuse it. A host name not yet checked
        gives an awaitable (Scrapy awaits it) that resolves it first.

        Raises:
            PrivateAddressRefused: the request's host is, or resolves to, a non-public
                address and is not a source's own host and port.
        """
        if self.allowed_everywhere():
            return None
        where = host_port(request.url)
        if where is None or where in self.trusted() or where in self._polled():
            return None
        host = where[0]
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            return self._check_name(host)
        self._check(host, address)
        return None

    async def _check_name(self, host: str) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        from monitor.crawl.runner import installed_reactor

        try:
            address = await maybe_deferred_to_future(installed_reactor().resolve(host))
        except Exception:
            return None   # the download reports the DNS failure as usual
        self._check(host, address)
        return None

    def _check(self, host: str, address: str) -> None:
        kind = non_public(address)
        if kind is None:
            return
        self.crawler.stats.inc_value("monitor/refused_private_address")
        what = f"{host} is {kind}" if host == address else f"{host} is {address}, {kind}"
        raise PrivateAddressRefused(f"{what}: not fetched (crawl.allow_private_networks "
                                    "is false)")
