"""The Scrapy adapter: spiders' shared machinery, the item pipeline that hands pages to
the core pipeline, and the crawl runner used by ``monitor crawl`` and ``monitor run``.

Nothing in ``monitor`` outside this package (and the daemon/CLI) imports Scrapy.
"""
