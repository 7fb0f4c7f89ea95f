"""The Slack channel: posts to an incoming webhook."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from monitor.alerts._http import JsonPoster, body_excerpt
from monitor.alerts.base import Channel
from monitor.alerts.render import render_digest_slack, render_slack
from monitor.alerts.retry import classify_status, http_failure
from monitor.models import Alert, Notice

logger = logging.getLogger(__name__)

#: Slack's error codes for a webhook that cannot work until someone changes it.
PERMANENT_ERRORS = frozenset({
    "invalid_payload", "invalid_blocks", "no_text", "user_not_found", "channel_not_found",
    "channel_is_archived", "action_prohibited", "posting_to_general_channel_denied",
    "too_many_attachments", "no_service", "no_team", "team_disabled", "invalid_token",
})


class SlackChannel(Channel):
    """Posts alerts to a Slack incoming webhook (fallback text plus Block Kit blocks).

    Every post carries an idempotency mark, the same each time one alert (or one digest)
    is posted: an ``Idempotency-Key`` request header (``alert-<id>-<hash>`` or
    ``digest-<hash>``) and the same key in each block's ``block_id`` (suffixed ``.1``,
    ``.2``...), which Slack keeps with the message; a post repeated after a crash can be
    recognised by it.

    Responses: 200 "ok" is success; 429 raises a DeliveryError with ``retry_after``
    from the Retry-After header (seconds); 400, 403, 404 and 410 (``invalid_payload``,
    ``no_service``, ``channel_not_found``, ``channel_is_archived``...) raise a permanent
    DeliveryError; 5xx, timeouts and connection errors raise a retryable one.

    Args:
        name: the channel's name.
        webhook_url: the webhook URL, already read from the environment. It is a secret:
            messages and logs show its host only.
        timeout: seconds for each network operation (connect, send, read).
    """

    def __init__(self, name: str, webhook_url: str, timeout: float = 10.0) -> None:
        self.name = name
        self._poster = JsonPoster("slack", name, webhook_url, timeout)
        self.timeout = self._poster.timeout

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r}, webhook_url={self._poster.where!r})"

    def close(self) -> None:
        self._poster.close()

    def send(self, alert: Alert) -> None:
        """Post one alert. Raises DeliveryError on failure."""
        self._post(render_slack(alert), idempotency_key(alert))

    def send_notice(self, notice: Notice) -> None:
        """Post a notice (source health, spike). Raises DeliveryError on failure."""
        from monitor.alerts.notices import notice_key, notice_slack

        self._post(notice_slack(notice), notice_key(notice))

    def send_digest(self, alerts: Sequence[Alert], title: str) -> None:
        """Post a digest as one message; an empty sequence posts nothing."""
        if alerts:
            self._post(render_digest_slack(alerts, title), digest_idempotency_key(alerts, title))

    def _post(self, payload: dict, key: str) -> None:
        payload = _mark_blocks(payload, key)
        response = self._poster.post(payload, headers={"Idempotency-Key": key})
        status = response.status_code
        body = body_excerpt(response)
        if 200 <= status < 300:
            if body != "ok":
                logger.warning("slack channel %r: %s answered %d %r instead of 'ok'",
                               self.name, self._poster.where, status, body)
            return
        if classify_status(status) == "transient":
            _, retry_after = http_failure(status, response.headers.get("retry-after"))
            if status == 429:
                raise self._poster.error(
                    f"rate limited (429 {body or 'rate_limited'}); retry after "
                    f"{retry_after if retry_after is not None else '?'} s",
                    retry_after=retry_after)
            raise self._poster.error(f"Slack error {status} {body}; will retry",
                                     retry_after=retry_after)
        if 300 <= status < 400:
            raise self._poster.error(
                f"redirected ({status}); the webhook URL is probably wrong", permanent=True)
        hint = {
            "no_service": "the webhook was removed or disabled; create a new one",
            "channel_not_found": "the channel no longer exists",
            "channel_is_archived": "the channel is archived",
            "invalid_payload": "Slack rejected the message format",
            "invalid_blocks": "Slack rejected the message blocks",
            "action_prohibited": "a workspace admin restricted this webhook",
        }.get(body, "")
        raise self._poster.error(
            f"{status} {body}" + (f" ({hint})" if hint else ""), permanent=True)


def idempotency_key(alert: Alert) -> str:
    """The idempotency mark of one alert: the same every time it is rendered.

    Returns:
        ``alert-<alert id>-<12 hex of the watch and URL>`` (the hash keeps alerts of a
        recreated database that reuse an id apart), at most 40 characters.
    """
    digest = hashlib.sha256(f"{alert.watch_id}\x1f{alert.url}".encode()).hexdigest()[:12]
    return f"alert-{alert.alert_id}-{digest}"


def digest_idempotency_key(alerts: Sequence[Alert], title: str) -> str:
    """The idempotency mark of a digest: the same for the same title and set of alerts."""
    ids = ",".join(str(a.alert_id) for a in sorted(alerts, key=lambda a: a.alert_id))
    return "digest-" + hashlib.sha256(f"{title}\x1f{ids}".encode()).hexdigest()[:16]


def _mark_blocks(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """The payload with ``block_id`` ``<key>.<n>`` on each block that has none."""
    blocks = payload.get("blocks")
    if not isinstance(blocks, list):
        return payload
    marked = [dict(b, block_id=b.get("block_id") or f"{key}.{i}") if isinstance(b, dict) else b
              for i, b in enumerate(blocks, 1)]
    return {**payload, "blocks": marked}
