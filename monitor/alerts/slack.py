"""The Slack channel: posts to an incoming webhook."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from monitor.alerts._http import JsonPoster, body_excerpt, parse_retry_after
from monitor.alerts.base import Channel
from monitor.alerts.render import render_digest_slack, render_slack
from monitor.models import Alert

logger = logging.getLogger(__name__)

#: Slack's error codes for a webhook that cannot work until someone changes it.
PERMANENT_ERRORS = frozenset({
    "invalid_payload", "invalid_blocks", "no_text", "user_not_found", "channel_not_found",
    "channel_is_archived", "action_prohibited", "posting_to_general_channel_denied",
    "too_many_attachments", "no_service", "no_team", "team_disabled", "invalid_token",
})


class SlackChannel(Channel):
    """Posts alerts to a Slack incoming webhook (fallback text plus Block Kit blocks).

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
        self._post(render_slack(alert))

    def send_digest(self, alerts: Sequence[Alert], title: str) -> None:
        """Post a digest as one message; an empty sequence posts nothing."""
        if alerts:
            self._post(render_digest_slack(alerts, title))

    def _post(self, payload: dict) -> None:
        response = self._poster.post(payload)
        status = response.status_code
        body = body_excerpt(response)
        if 200 <= status < 300:
            if body != "ok":
                logger.warning("slack channel %r: %s answered %d %r instead of 'ok'",
                               self.name, self._poster.where, status, body)
            return
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise self._poster.error(
                f"rate limited (429 {body or 'rate_limited'}); retry after "
                f"{retry_after if retry_after is not None else '?'} s",
                retry_after=retry_after)
        if status >= 500 or status == 408:
            raise self._poster.error(f"Slack error {status} {body}; will retry")
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
