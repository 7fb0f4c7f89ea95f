"""Scrapy spiders of the news monitor (``SPIDER_MODULES = ["spiders"]``).

- ``feeds``: RSS 0.9x/1.0/2.0 and Atom feeds, parsed with feedparser.
- ``sitemaps``: XML sitemaps, sitemap indexes, robots.txt and Google News sitemaps.
- ``pages``: section front pages of sites with neither (their article links).
- ``sources``: every kind, fed from the schedule (the crawl of ``monitor run``).
"""
