"""The generic webhook channel: POSTs the alert fields as JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from monitor.alerts._http import JsonPoster, body_excerpt, parse_retry_after
from monitor.alerts.base import Channel
from monitor.alerts.render import render_digest_webhook, render_webhook
from monitor.models import Alert, Notice


class WebhookChannel(Channel):
    """POSTs each alert as JSON (see :func:`monitor.alerts.render.render_webhook`).

    Every request carries an ``Idempotency-Key`` header (``alert-<id>`` or
    ``digest-<hash>``), the same on a retry, so a receiver can drop duplicates.

    Responses: 2xx is success; 429 raises a DeliveryError with ``retry_after``; 408 and
    5xx, timeouts and connection errors raise a retryable one; any other status
    (3xx, 4xx) raises a permanent one.

    Args:
        name: the channel's name.
        url: the URL to POST to (may hold a token: messages and logs show its host only).
        timeout: seconds for each network operation (connect, send, read).
        headers: extra request headers, e.g. ``{"Authorization": "Bearer ..."}``; their
            values are never logged.
    """

    def __init__(self, name: str, url: str, timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.name = name
        self._poster = JsonPoster("webhook", name, url, timeout,
                                  {"Accept": "application/json, */*", **(headers or {})})
        self.timeout = self._poster.timeout

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, url={self._poster.where!r})"

    def close(self) -> None:
        self._poster.close()

    def send(self, alert: Alert) -> None:
        """POST one alert. Raises DeliveryError on failure."""
        self._post(render_webhook(alert), f"alert-{alert.alert_id}")

    def send_notice(self, notice: Notice) -> None:
        """POST a notice (source health, spike). Raises DeliveryError on failure."""
        from monitor.alerts.notices import notice_key, notice_webhook

        self._post(notice_webhook(notice), notice_key(notice))

    def send_digest(self, alerts: Sequence[Alert], title: str) -> None:
        """POST a digest as one request; an empty sequence posts nothing."""
        if not alerts:
            return
        ids = ",".join(str(a.alert_id) for a in sorted(alerts, key=lambda a: a.alert_id))
        key = hashlib.sha256(f"{title}\x1f{ids}".encode()).hexdigest()[:16]
        self._post(render_digest_webhook(alerts, title), f"digest-{key}")

    def _post(self, payload: dict, key: str) -> None:
        response = self._poster.post(payload, headers={"Idempotency-Key": key})
        status = response.status_code
        if 200 <= status < 300:
            return
        body = body_excerpt(response)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise self._poster.error(f"rate limited (429 {body})", retry_after=retry_after)
        if status >= 500 or status == 408:
            raise self._poster.error(f"server error {status} {body}; will retry",
                                     retry_after=parse_retry_after(
                                         response.headers.get("retry-after")))
        raise self._poster.error(f"rejected with {status} {body}", permanent=True)
