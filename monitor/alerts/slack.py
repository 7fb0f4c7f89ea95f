"""The Slack channel: posts to an incoming webhook, or with a bot token through the Web
API (``chat.postMessage``), which can reply in a story's thread."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from monitor.alerts._http import JsonPoster, body_excerpt
from monitor.alerts.base import Channel
from monitor.alerts.render import (
    SLACK_MAX_BLOCKS,
    followup_digest_line_slack,
    render_digest_slack,
    render_followup_slack,
    render_slack,
)
from monitor.alerts.retry import classify_status, http_failure
from monitor.models import Alert, FollowUp, Notice

logger = logging.getLogger(__name__)

#: Slack's error codes for a webhook that cannot work until someone changes it.
PERMANENT_ERRORS = frozenset({
    "invalid_payload", "invalid_blocks", "no_text", "user_not_found", "channel_not_found",
    "channel_is_archived", "action_prohibited", "posting_to_general_channel_denied",
    "too_many_attachments", "no_service", "no_team", "team_disabled", "invalid_token",
})

#: Web API errors of a bot token or channel that cannot work until someone changes it.
API_PERMANENT_ERRORS = frozenset({
    "not_in_channel", "not_authed", "invalid_auth", "account_inactive", "token_revoked",
    "missing_scope", "is_archived", "msg_too_long", "invalid_arguments",
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

    With a bot token and a channel, alerts go through the Web API's
    ``chat.postMessage`` instead (``Authorization: Bearer``; JSON ``{"ok": true, "ts"}``
    back, ``{"ok": false, "error"}`` on failure, judged like the webhook's answers), and
    :meth:`send` returns the post's ``ts``, so a story's follow-ups become thread
    replies (``thread_ts``). Without one, follow-ups ride in the channel's next digest
    as compact lines (:attr:`followups_in_digest`).

    Args:
        name: the channel's name.
        webhook_url: the webhook URL, already read from the environment. It is a secret:
            messages and logs show its host only. None with a bot token.
        timeout: seconds for each network operation (connect, send, read).
        bot_token: a bot token (``xoxb-...``), already read from the environment; never
            logged. None: post to the webhook.
        channel: with ``bot_token``, the Slack channel to post in (``C0123...`` or
            ``#news``).
        api_url: the Web API's base URL (a local look-alike in tests).

    Raises:
        ValueError: neither a webhook URL nor a bot token with a channel, a bad URL or
            timeout.
    """

    def __init__(self, name: str, webhook_url: str | None = None, timeout: float = 10.0,
                 bot_token: str | None = None, channel: str | None = None,
                 api_url: str = "https://slack.com/api") -> None:
        self.name = name
        if bot_token is not None and not (bot_token and channel):
            raise ValueError(f"slack channel {name!r}: a bot token needs a channel to post in")
        self._channel = channel
        if bot_token is not None:
            self._poster = JsonPoster("slack", name, api_url.rstrip("/") + "/chat.postMessage",
                                      timeout, {"Authorization": f"Bearer {bot_token}"})
        elif webhook_url:
            self._poster = JsonPoster("slack", name, webhook_url, timeout)
        else:
            raise ValueError(f"channel {name!r} (slack): missing setting webhook_url "
                             f"(or bot_token with channel)")
        self._bot = bot_token is not None
        self.followups_in_digest = not self._bot
        self.timeout = self._poster.timeout

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r}, webhook_url={self._poster.where!r})"

    def close(self) -> None:
        self._poster.close()

    def send(self, alert: Alert) -> str | None:
        """Post one alert.

        Returns:
            With a bot token, the post's ``ts`` (its thread for follow-ups); else None.

        Raises:
            DeliveryError: on failure.
        """
        return self._post(render_slack(alert), idempotency_key(alert))

    def send_followup(self, followup: FollowUp) -> None:
        """Reply in the story's thread (``thread_ts`` of the first alert's post; a plain
        post when that ``ts`` is unknown) with ``+N outlets: ...``. Needs a bot token:
        without one, follow-ups go into the next digest (:meth:`send_digest`).

        Raises:
            DeliveryError: on failure; a permanent one without a bot token.
        """
        if not self._bot:
            raise self._poster.error("a thread reply needs a bot token", permanent=True)
        payload = render_followup_slack(followup)
        if followup.thread_ref:
            payload["thread_ts"] = followup.thread_ref
        digest = hashlib.sha256("\x1f".join(followup.urls).encode()).hexdigest()[:12]
        self._post(payload, f"update-{followup.first.alert_id}-{digest}")

    def send_notice(self, notice: Notice) -> None:
        """Post a notice (source health, spike). Raises DeliveryError on failure."""
        from monitor.alerts.notices import notice_key, notice_slack

        self._post(notice_slack(notice), notice_key(notice))

    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """Post a digest as one message; with nothing in it, posts nothing.

        Args:
            alerts: the alerts, in order.
            title: the digest's heading.
            followups: stories' follow-ups, each shown as one compact line after the
                alerts (at most 20 lines; the rest are counted).
        """
        if not alerts and not followups:
            return
        payload = render_digest_slack(alerts, title)
        if followups:
            lines = [followup_digest_line_slack(f) for f in followups[:20]]
            if len(followups) > 20:
                lines.append(f"\u2026 and {len(followups) - 20} more stories with new outlets")
            blocks = payload["blocks"][:SLACK_MAX_BLOCKS - 1]
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                        "text": "\n".join(lines)[:2900]}})
            payload = {**payload, "blocks": blocks}
        ids = ",".join(sorted(u for f in followups for u in f.urls))
        self._post(payload, digest_idempotency_key(alerts, title + ids))

    def _post(self, payload: dict[str, Any], key: str) -> str | None:
        payload = _mark_blocks(payload, key)
        if self._bot:
            payload = {"channel": self._channel, **payload}
        response = self._poster.post(payload, headers={"Idempotency-Key": key})
        status = response.status_code
        body = body_excerpt(response)
        if self._bot and 200 <= status < 300:
            return self._api_answer(response)
        if 200 <= status < 300:
            if body != "ok":
                logger.warning("slack channel %r: %s answered %d %r instead of 'ok'",
                               self.name, self._poster.where, status, body)
            return None
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

    def _api_answer(self, response: httpx.Response) -> str:
        """The ``ts`` of a Web API answer ``{"ok": true, "ts": "..."}``.

        Raises:
            DeliveryError: ``ok`` is false (permanent for the errors in
                :data:`PERMANENT_ERRORS` and ``not_in_channel``, ``not_authed``,
                ``invalid_auth``, ``account_inactive``, ``token_revoked``, else
                retryable), or the answer is not such JSON (retryable).
        """
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._poster.error(f"Web API answered {body_excerpt(response)!r}, not JSON")
        if data.get("ok") is True and isinstance(data.get("ts"), str):
            return data["ts"]
        error = str(data.get("error") or "no ts in the answer")
        permanent = error in PERMANENT_ERRORS or error in API_PERMANENT_ERRORS
        raise self._poster.error(f"Web API error {error}", permanent=permanent)


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
