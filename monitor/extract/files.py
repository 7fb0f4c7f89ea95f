"""Pages from files: saved ``.html`` / ``.html.gz`` with an optional JSON sidecar."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from monitor.errors import MonitorError
from monitor.extract.dates import parse_date
from monitor.models import Page


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".html.gz", ".htm.gz", ".html", ".htm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def page_from_file(path: str | Path) -> Page:
    """Read a saved page for replay.

    ``<stem>.html`` or ``<stem>.html.gz`` is read as the body. A sidecar ``<stem>.json``
    beside it, when present, gives ``url``, ``source`` and ``published`` (ISO 8601, used
    as the feed date); without one the URL is the file's ``file://`` URI and the source
    is ``"replay"``.

    Args:
        path: the page file.

    Returns:
        The Page, with ``path`` set to the file path.

    Raises:
        MonitorError: the file cannot be read, is not valid gzip, or its sidecar is not a
            JSON object.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        body = gzip.decompress(raw) if path.name.lower().endswith(".gz") else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise MonitorError(f"{path}: cannot read page: {exc}") from exc
    url, source, published = path.resolve().as_uri(), "replay", None
    sidecar = path.with_name(_stem(path) + ".json")
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MonitorError(f"{sidecar}: cannot read sidecar: {exc}") from exc
        if not isinstance(meta, dict):
            raise MonitorError(f"{sidecar}: sidecar must be a JSON object with url, source, "
                               f"published")
        url = meta.get("url") or url
        source = meta.get("source") or source
        if meta.get("published"):
            published = parse_date(str(meta["published"]))
    return Page(url=url, body=body, source=source, feed_published=published, path=str(path))
