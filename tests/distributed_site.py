"""A local news site for the distributed-mode tests and benchmark: feeds listing
articles that are all different stories (different words, so no two join one story)
and all match the shipped watch ``russia-north-korea``."""

from __future__ import annotations

import random

from tests.servers import Route, SiteServer

_WORDS = ("harbour council budget railway election minister farmers river festival "
          "engineers bridge hospital school teachers museum drought rainfall energy "
          "turbine coastline fishermen orchard vineyard highway tunnel airport pilots "
          "library archive painter sculptor theatre orchestra violin stadium league "
          "season coach referee market traders copper timber harvest wheat barley "
          "glacier volcano earthquake survey satellite telescope laboratory vaccine "
          "clinic nurses union strike wages pension housing tenants landlord mayor "
          "village valley mountain forest wildlife reserve rangers tourism hotel ferry "
          "island lighthouse canal lock barge cargo container port customs tariff "
          "currency inflation bank lending savings bonds auction gallery exhibition "
          "novel poet prize jury verdict court appeal lawyer witness police patrol "
          "firefighters storm flood shelter volunteers charity donation parliament "
          "committee report audit scandal resignation campaign rally debate ballot").split()


def article_html(n: int, url: str) -> bytes:
    """Article ``n``: a headline and about 150 words of its own, naming Russia,
    Pyongyang and sanctions (a hit of ``russia-north-korea``)."""
    rng = random.Random(n)
    paragraphs = []
    for _ in range(5):
        words = [rng.choice(_WORDS) for _ in range(30)]
        paragraphs.append(" ".join(words).capitalize() + ".")
    paragraphs.insert(2, f"Officials from Russia met counterparts in Pyongyang on day {n} "
                         f"to discuss sanctions.")
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    title = f"Dispatch {n}: Russia and Pyongyang weigh sanctions"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><link rel=\"canonical\" href=\"{url}\">"
            f'<meta property="og:title" content="{title}">'
            f'<meta property="article:published_time" content="2024-06-19T08:00:00+00:00">'
            f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
            ).encode()


def rss(urls: list[str], title: str) -> bytes:
    """An RSS 2.0 feed listing ``urls``."""
    items = "".join(f"<item><title>{title} {i}</title><link>{u}</link><guid>{u}</guid>"
                    f"<pubDate>Wed, 19 Jun 2024 08:12:41 GMT</pubDate></item>"
                    for i, u in enumerate(urls))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>http://127.0.0.1/</link>"
            f"<description>test</description>{items}</channel></rss>").encode()


def build_site(site: SiteServer, feeds: int, per_feed: int, delay: float = 0.0,
               first: int = 0) -> list[dict]:
    """Add ``feeds`` feeds of ``per_feed`` articles each to ``site``.

    Args:
        site: the server.
        feeds: how many feeds (one source each).
        per_feed: articles per feed.
        delay: seconds each article takes to answer.
        first: number of the first article (to add more later).

    Returns:
        The ``sources:`` entries for monitor.yaml (feed sources ``f0``, ``f1``...).
    """
    sources = []
    n = first
    for f in range(feeds):
        urls = []
        for _ in range(per_feed):
            path = f"/news/a{n}.html"
            url = site.url(path)
            site[path] = Route(200, "text/html; charset=utf-8", article_html(n, url),
                               delay=delay)
            urls.append(url)
            n += 1
        site[f"/feed{f}.xml"] = (200, "application/rss+xml", rss(urls, f"feed {f}"))
        sources.append({"name": f"f{f}", "kind": "feed", "url": site.url(f"/feed{f}.xml"),
                        "interval": "1h", "max_articles": 1000})
    return sources
