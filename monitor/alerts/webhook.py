"""The generic webhook channel: POSTs the alert fields as JSON, signed when a secret
is configured."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from monitor.alerts._http import JsonPoster, body_excerpt
from monitor.alerts.base import Channel
from monitor.alerts.render import render_digest_webhook, render_followup_webhook, render_webhook
from monitor.alerts.retry import classify_status, http_failure
from monitor.models import Alert, FollowUp, Notice

#: The header carrying the signing time, POSIX seconds as decimal digits.
TIMESTAMP_HEADER = "X-Monitor-Timestamp"
#: The header carrying ``sha256=<64 hex>``, the HMAC-SHA256 of ``timestamp.body``.
SIGNATURE_HEADER = "X-Monitor-Signature"


def sign_body(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The signature of one webhook body, as sent in ``X-Monitor-Signature``.

    Args:
        secret: the shared secret (text is encoded as UTF-8).
        timestamp: POSIX seconds, as sent in ``X-Monitor-Timestamp``.
        body: the raw request body, byte for byte.

    Returns:
        ``"sha256=" + hex(HMAC-SHA256(secret, f"{timestamp}." + body))``.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookChannel(Channel):
    """POSTs each alert as JSON (see :func:`monitor.alerts.render.render_webhook`).

    Every request carries an ``Idempotency-Key`` header (``alert-<id>`` or
    ``digest-<hash>``), the same on a retry, so a receiver can drop duplicates.

    With a ``secret``, every request is signed: ``X-Monitor-Timestamp`` holds the POSIX
    time in seconds and ``X-Monitor-Signature`` holds ``sha256=<hex>``, the HMAC-SHA256
    of ``timestamp + "." + raw body`` (see :func:`sign_body`; the README shows how a
    receiver checks it). A retry is signed again with its own time.

    Responses are judged by :mod:`monitor.alerts.retry`: 2xx is success; 408, 425, 429
    and 5xx (with their Retry-After), timeouts and connection errors raise a retryable
    DeliveryError; any other status (3xx, 4xx) raises a permanent one.

    Args:
        name: the channel's name.
        url: the URL to POST to (may hold a token: messages and logs show its host only).
        timeout: seconds for each network operation (connect, send, read).
        headers: extra request headers, e.g. ``{"Authorization": "Bearer ..."}``; their
            values are never logged.
        secret: the signing secret (never logged); None sends unsigned requests.
        clock: returns the current POSIX time in seconds (for tests).

    Raises:
        ValueError: a bad URL or timeout, or an empty secret.
    """

    def __init__(self, name: str, url: str, timeout: float = 10.0,
                 headers: dict[str, str] | None = None, secret: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if secret is not None and not secret:
            raise ValueError(f"webhook channel {name!r}: the signing secret is empty")
        self.name = name
        self._secret = secret
        self._clock = clock
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

    def send_followup(self, followup: FollowUp) -> None:
        """POST a story's follow-up as an ``update`` event naming the story (see
        :func:`monitor.alerts.render.render_followup_webhook`); its Idempotency-Key is
        ``update-<alert id>-<hash of the URLs>``. Raises DeliveryError on failure."""
        urls = hashlib.sha256("\x1f".join(followup.urls).encode()).hexdigest()[:12]
        self._post(render_followup_webhook(followup),
                   f"update-{followup.first.alert_id}-{urls}")

    def send_notice(self, notice: Notice) -> None:
        """POST a notice (source health, spike). Raises DeliveryError on failure."""
        from monitor.alerts.notices import notice_key, notice_webhook

        self._post(notice_webhook(notice), notice_key(notice))

    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """POST a digest as one request; an empty sequence posts nothing."""
        if not alerts:
            return
        ids = ",".join(str(a.alert_id) for a in sorted(alerts, key=lambda a: a.alert_id))
        key = hashlib.sha256(f"{title}\x1f{ids}".encode()).hexdigest()[:16]
        self._post(render_digest_webhook(alerts, title), f"digest-{key}")

    def _post(self, payload: dict[str, Any], key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Idempotency-Key": key}
        if self._secret is not None:
            timestamp = int(self._clock())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign_body(self._secret, timestamp, body)
        response = self._poster.post(body, headers=headers)
        status = response.status_code
        kind = classify_status(status)
        if kind == "ok":
            return
        body_text = body_excerpt(response)
        permanent, retry_after = http_failure(status, response.headers.get("retry-after"))
        if permanent:
            raise self._poster.error(f"rejected with {status} {body_text}", permanent=True)
        if status == 429:
            raise self._poster.error(f"rate limited (429 {body_text})", retry_after=retry_after)
        raise self._poster.error(f"server error {status} {body_text}; will retry",
                                 retry_after=retry_after)
