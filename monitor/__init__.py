"""News monitor: watch news sources, match watch rules, alert by email, Slack and webhook.

The core pipeline (``monitor.pipeline``) takes a :class:`monitor.models.Page` and knows
nothing of Scrapy or the scheduler; the Scrapy adapter and ``monitor replay`` both feed it.
"""

__version__ = "0.1.0"
