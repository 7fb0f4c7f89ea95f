"""Article extraction: a fetched page in, an Article or a Rejection with a reason out.

    from monitor.extract import extract, page_from_file
    result = extract(page_from_file("seeds/example.html"))

A Rejection's ``reason`` is a stable code (monitor.models.Rejection). ``not-html``,
``too-large`` and ``listing-page`` are permanent for a URL (``PERMANENT_REASONS``);
``no-text``, ``too-short`` and ``consent-wall`` may change when the page is fetched again
later, as a breaking-news stub grows (``TRANSIENT_REASONS``), and are retried by the store.

See docs/extraction.md for the signals used and the benchmark that justifies them.
"""

from monitor.extract.core import extract
from monitor.extract.files import page_from_file
from monitor.models import PERMANENT_REASONS, TRANSIENT_REASONS

__all__ = ["PERMANENT_REASONS", "TRANSIENT_REASONS", "extract", "page_from_file"]
