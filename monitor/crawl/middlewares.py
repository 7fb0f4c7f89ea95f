"""Downloader middlewares of the long-lived crawl.

- :class:`ExpiringRobotsTxtMiddleware`: Scrapy's robots.txt middleware, but a host's
  robots.txt is fetched again once it is ``crawl.robots_max_age`` seconds old (default
  a day), instead of being kept for the life of the crawl.
- :class:`HostHoldMiddleware`: no request goes to a host held by a ``Retry-After``
  (429/503) until the hold ends, and none at all once the monitor is stopping; such a
  request is given up as a network error, so its poll is incomplete and its link is
  fetched again on a later poll.
- :class:`SourceDomainsMiddleware`: an article request (or a redirect of one) to a
  host outside the domains its source allows (``request.meta["allowed_domains"]``) is
  refused with :class:`OffSite`, which the spider records as a final ``off-site``
  rejection.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.utils.httpobj import urlparse_cached

from monitor.clock import utcnow


class ExpiringRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RobotsTxtMiddleware whose per-host parsers expire after ``ROBOTSTXT_MAX_AGE``
    seconds (setting; default 86400)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._max_age = crawler.settings.getfloat("ROBOTSTXT_MAX_AGE", 86400.0)
        self._fetched: dict[str, float] = {}
        self._next_sweep = time.monotonic() + self._max_age

    def _sweep(self, now: float) -> None:
        """Forget hosts not asked about for ``max_age`` (a months-long crawl meets many)."""
        self._next_sweep = now + self._max_age
        for netloc, fetched in list(self._fetched.items()):
            parser = self._parsers.get(netloc)
            if now - fetched > self._max_age and not hasattr(parser, "callback"):
                del self._fetched[netloc]
                self._parsers.pop(netloc, None)

    async def robot_parser(self, request: Request) -> Any:
        """The host's robots.txt parser, fetched again once older than the max age."""
        netloc = urlparse_cached(request).netloc
        now = time.monotonic()
        if now > self._next_sweep:
            self._sweep(now)
        fetched = self._fetched.get(netloc)
        if fetched is None or now - fetched > self._max_age:
            parser = self._parsers.get(netloc)
            if fetched is not None and parser is not None and not hasattr(parser, "callback"):
                del self._parsers[netloc]  # stale: fetch it again
            elif fetched is not None and parser is None:
                del self._parsers[netloc]  # an unreachable robots.txt is retried too
            self._fetched[netloc] = now
        return await super().robot_parser(request)


class HostHoldMiddleware:
    """Refuse requests to hosts the spider holds (``spider.holds``: host -> until)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostHoldMiddleware:
        """Scrapy's factory."""
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Raises:
            IgnoreRequest: the monitor is stopping, or the request's host is held until
                a time not yet reached (the message names the host and the time).
        """
        context = getattr(self.crawler.spider, "context", None)
        if context is not None and getattr(context, "stopping", False):
            # a stop: what has not been sent yet is not sent (its poll is due again)
            raise IgnoreRequest("the monitor is stopping")
        holds = getattr(self.crawler.spider, "holds", None)
        if not holds:
            return None
        host = urlparse_cached(request).netloc.lower()
        until = holds.get(host)
        if until is None:
            return None
        if until <= utcnow():
            holds.pop(host, None)
            return None
        raise IgnoreRequest(f"host {host} asked to wait (Retry-After) until "
                            f"{until.isoformat(timespec='seconds')}")


class OffSite(IgnoreRequest):
    """An article request (usually a redirect) to a host its source does not allow."""


class SourceDomainsMiddleware:
    """Refuse article requests whose host is outside ``request.meta["allowed_domains"]``
    (set by the spider from :func:`monitor.urls.article_domains`; absent: no check).

    Runs for every request, so a redirect is checked before it is sent: an off-site
    page is never fetched, stored or matched.
    """

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Raises:
            OffSite: the host is not in the allowed domains; the message names the URL,
                the link it came from and the domains allowed.
        """
        from monitor.urls import host_in_domains

        allowed = request.meta.get("allowed_domains")
        if allowed is None or host_in_domains(request.url, allowed):
            return None
        from monitor.urls import site_of

        link = request.meta.get("link") or request.url
        via = f"{link} redirected to {request.url}" if request.url != link else link
        raise OffSite(f"{via}: outside the source's domains ({', '.join(allowed)}); "
                      f"add {site_of(request.url)} to the source's allowed_domains to "
                      f"follow it")
