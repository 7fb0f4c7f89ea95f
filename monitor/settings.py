"""Scrapy settings for the news monitor (``scrapy.cfg``: ``default = monitor.settings``).

``monitor crawl`` and ``monitor run`` start from these and apply the ``crawl`` section
of monitor.yaml on top (see :func:`monitor.crawl.runner.scrapy_settings`).
"""

BOT_NAME = "news-monitor"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# The monitor config that ``scrapy crawl feeds`` reads when no daemon hands one over.
MONITOR_CONFIG = "monitor.yaml"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Only HTTP(S): a feed must never make the monitor read local files (file://), or reach
# FTP, S3 or data: URLs, and send what it read out in alerts.
DOWNLOAD_HANDLERS = {"file": None, "ftp": None, "s3": None, "data": None}

ITEM_PIPELINES = {"monitor.crawl.pipeline.CorePipeline": 300}

USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.25
DOWNLOAD_TIMEOUT = 20
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30
RETRY_TIMES = 1
# 429 and 503 are not retried at once: their Retry-After holds the whole host instead.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
# One crawl stays open for the life of the daemon: the store is the seen-URL filter,
# so Scrapy's in-memory fingerprint set (which would grow for ever) is off.
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
# Hand requests to the least busy host first, so one slow host never fills every slot.
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "monitor.crawl.middlewares.ExpiringRobotsTxtMiddleware": 100,
    "monitor.crawl.middlewares.HostHoldMiddleware": 50,
    "monitor.crawl.middlewares.SourceDomainsMiddleware": 60,
    # before robots.txt (100): no request at all to a refused address
    "monitor.crawl.private.PrivateNetworkMiddleware": 70,
    # Scrapy's decodes every HTML page to look for a meta refresh (monitor.crawl.refresh)
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "monitor.crawl.refresh.MetaRefreshMiddleware": 580,
}
ROBOTSTXT_MAX_AGE = 86400
# crawl.allow_private_networks, when no monitor config is at hand (monitor.crawl.private)
MONITOR_ALLOW_PRIVATE_NETWORKS = False
# Scrapy's periodic "Crawled N pages" lines mean little in a crawl that never ends.
LOGSTATS_INTERVAL = 0
# A callback yields at most a few requests or one page: Scrapy's default (100 parallel
# workers per response) only costs task creation on every poll.
CONCURRENT_ITEMS = 8
# Sitemaps may be large; article pages have their own cap (extraction.max_page_bytes).
DOWNLOAD_MAXSIZE = 50 * 1024 * 1024
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote-control HTTP endpoint (runs code on request): never in a daemon.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
# Scrapy 2.19's downloader sends every queued request of a host at once when there is no
# download delay, whatever CONCURRENT_REQUESTS_PER_DOMAIN says (monitor.crawl.downloader).
DOWNLOADER = "monitor.crawl.downloader.PoliteDownloader"
