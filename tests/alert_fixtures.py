"""The alert the channel and renderer tests start from (change fields with ``replace``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from monitor.models import Alert

PUBLISHED = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)

ALERT = Alert(
    alert_id=42,
    watch_id="nk-pact",
    watch_name="North Korea defence pact",
    title="Pyongyang and Moscow sign mutual defence pact",
    url="https://news.example.org/world/2024/05/01/pact?ref=rss&lang=en",
    source="Example News",
    published=PUBLISHED,
    terms=("mutual defence", "pact"),
    snippet="Leaders signed a [[mutual defence]] [[pact]] on Tuesday, officials said.",
)


def alert_with(**changes) -> Alert:
    """:data:`ALERT` with some fields changed."""
    return replace(ALERT, **changes)
