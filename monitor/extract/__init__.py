"""Article extraction: a fetched page in, an Article or a Rejection with a reason out.

    from monitor.extract import extract, page_from_file
    result = extract(page_from_file("seeds/example.html"))

See docs/extraction.md for the signals used and the benchmark that justifies them.
"""

from monitor.extract.core import extract
from monitor.extract.files import page_from_file

__all__ = ["extract", "page_from_file"]
