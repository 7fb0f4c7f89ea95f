"""The one retry policy (monitor.alerts.retry), and every channel and notices using it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.alerts import build_channel
from monitor.alerts.retry import (
    BASE_BACKOFF,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    backoff,
    classify_status,
    parse_retry_after,
    retry_delay,
)
from monitor.errors import DeliveryError
from tests.alert_fixtures import ALERT
from tests.servers import WebhookServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("status, kind", [
    (200, "ok"), (204, "ok"), (408, "transient"), (425, "transient"), (429, "transient"),
    (500, "transient"), (503, "transient"), (301, "permanent"), (400, "permanent"),
    (401, "permanent"), (404, "permanent"), (410, "permanent")])
def test_http_statuses_are_transient_or_permanent(status, kind):
    assert classify_status(status) == kind


def test_backoff_doubles_is_capped_and_jitter_only_stretches_it():
    assert [backoff(n, rng=lambda: 0.0) for n in range(4)] == [30.0, 60.0, 120.0, 240.0]
    assert backoff(50, rng=lambda: 0.0) == MAX_BACKOFF
    assert backoff(0, rng=lambda: 0.999) == pytest.approx(BASE_BACKOFF * 1.25, rel=1e-3)
    waits = {round(backoff(2), 3) for _ in range(50)}
    assert len(waits) > 1 and all(120.0 <= w < 150.0 for w in waits)


def test_retry_after_is_waited_exactly_at_least_the_backoff_and_capped():
    assert retry_delay(DeliveryError("429", retry_after=300), 0, 8) == 300.0
    assert retry_delay(DeliveryError("429", retry_after=30), 0, 8, rng=lambda: 0.9) == 30.0
    # a shorter Retry-After does not shorten the backoff
    assert retry_delay(DeliveryError("429", retry_after=1), 3, 8, rng=lambda: 0.9) == 240.0
    assert retry_delay(DeliveryError("429", retry_after=10 ** 7), 0, 8) == MAX_RETRY_AFTER


def test_permanent_failures_and_the_last_attempt_give_up():
    assert retry_delay(DeliveryError("404", permanent=True), 0, 8) is None
    assert retry_delay(DeliveryError("timeout"), 7, 8) is None
    assert retry_delay(DeliveryError("timeout"), 6, 8) is not None


def test_retry_after_header_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status, headers, permanent, retry_after", [
    (503, {"Retry-After": "90"}, False, 90.0),
    (429, {"Retry-After": "5"}, False, 5.0),
    (500, {}, False, None),
    (404, {"Retry-After": "5"}, True, None),
    (401, {}, True, None),
])
@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_http_channels_share_the_policy(kind, status, headers, permanent, retry_after):
    with WebhookServer(responses=[(status, "nope", headers)]) as server:
        key = "url" if kind == "webhook" else "webhook_url"
        channel = build_channel(kind, "ch", **{key: server.url})
        with pytest.raises(DeliveryError) as info:
            channel.send(ALERT)
        channel.close()
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
