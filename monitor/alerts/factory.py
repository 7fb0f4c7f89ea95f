"""Build a channel from its kind and settings (what the config layer calls)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from monitor.alerts.apprise_channel import AppriseChannel
from monitor.alerts.base import Channel
from monitor.alerts.console import ConsoleChannel
from monitor.alerts.mail import EmailChannel
from monitor.alerts.slack import SlackChannel
from monitor.alerts.webhook import WebhookChannel
from monitor.words import plural

#: Channel kinds as written in monitor.yaml, and the class each builds (each takes the
#: channel's ``name`` and its settings as keywords).
CHANNEL_KINDS: dict[str, Callable[..., Channel]] = {
    "console": ConsoleChannel,
    "email": EmailChannel,
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "apprise": AppriseChannel,
}


def build_channel(kind: str, name: str, **settings: Any) -> Channel:
    """Create a channel of the given kind.

    Secrets (``password``, ``webhook_url``, a token-bearing ``url``, a webhook's signing
    ``secret``, an Apprise ``url``) must already be
    resolved from their environment variables.

    Args:
        kind: one of ``console``, ``email``, ``slack``, ``webhook``, ``apprise`` (needs
            the optional ``apprise`` package).
        name: the channel's name.
        **settings: the constructor arguments of that kind's class, e.g. for email
            ``host``, ``port``, ``sender``, ``recipients``, ``security``, ``username``,
            ``password``, ``timeout`` (seconds).

    Returns:
        The channel.

    Raises:
        ValueError: the kind is unknown, a setting is unknown or missing, or a value is
            invalid; the message names the channel and kind.

    Example:
        >>> build_channel("console", "stdout")
        ConsoleChannel(name='stdout')
    """
    cls = CHANNEL_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"channel {name!r}: unknown channel kind {kind!r}; expected one "
                         f"of {', '.join(sorted(CHANNEL_KINDS))}")
    params = inspect.signature(cls.__init__).parameters
    accepted = {p for p in params if p not in ("self", "name")}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        what = "unknown setting" if len(unknown) == 1 else plural("unknown setting")
        raise ValueError(f"channel {name!r} ({kind}): {what} {', '.join(unknown)}; "
                         f"accepted: {', '.join(sorted(accepted))}")
    missing = sorted(p.name for p in params.values()
                     if p.name not in ("self", "name") and p.default is p.empty
                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                     and p.name not in settings)
    if missing:
        what = "missing setting" if len(missing) == 1 else plural("missing setting")
        raise ValueError(f"channel {name!r} ({kind}): {what} {', '.join(missing)}")
    return cls(name=name, **settings)
