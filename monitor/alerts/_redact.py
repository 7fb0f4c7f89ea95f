"""Keep secret URLs (Slack and webhook URLs carry their token in the path) out of
messages and logs."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """Reduce a URL to scheme, host and port: the path and query may hold a token.

    Args:
        url: any URL (possibly malformed).

    Returns:
        e.g. ``https://hooks.slack.com/…`` for ``https://hooks.slack.com/services/T/B/X``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    scheme = parts.scheme or "?"
    return f"{scheme}://{host}{port}/\u2026"


def scrub(text: str, secret: str) -> str:
    """Replace a secret URL (and its path alone) in ``text`` with the redacted form."""
    if not secret:
        return text
    text = text.replace(secret, redact_url(secret))
    try:
        path = urlsplit(secret).path
    except ValueError:
        path = ""
    if len(path) > 1:
        text = text.replace(path, "/\u2026")
    return text


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


class _SecretUrlFilter(logging.Filter):
    """Rewrites log records that mention a registered secret URL.

    httpx logs every request at INFO as ``HTTP Request: POST <full URL> ...``; with a
    Slack webhook that would print the token. This filter sits on the ``httpx`` logger.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, url: str) -> None:
        with self._lock:
            self._secrets.add(url)

    def _clean(self, value: object) -> object:
        if isinstance(value, (str, int, float)) or value is None:
            if not isinstance(value, str):
                return value
            text = value
        else:
            text = str(value)
        changed = text
        # longest paths first: a short path ("/h") replaced first would break a longer
        # one ("/hooks/token") that contains it, and leave its token readable
        for secret in sorted(self._secrets, key=lambda u: len(_path(u)), reverse=True):
            if secret in changed or urlsplit(secret).path in changed:
                changed = scrub(changed, secret)
        return changed if changed != text else value

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            if not self._secrets:
                return True
            record.msg = self._clean(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self._clean(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True


_FILTER = _SecretUrlFilter()
_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


def protect_url(url: str) -> None:
    """Register a secret URL so the ``httpx`` logger never prints it in full."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if not _INSTALLED:
            logging.getLogger("httpx").addFilter(_FILTER)
            _INSTALLED = True
    _FILTER.add(url)
