"""Shared HTTP plumbing for the Slack and webhook channels (httpx, JSON POST)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from monitor.alerts._redact import protect_url, redact_url, scrub
from monitor.alerts.retry import parse_retry_after  # noqa: F401 - re-exported
from monitor.errors import DeliveryError
from monitor.urls import is_web_url

USER_AGENT = "news-monitor/0.1 (+alerts)"


def check_url(kind: str, name: str, url: str) -> None:
    """Raise ValueError (naming the channel, never the full URL) unless ``url`` is an
    absolute http(s) URL."""
    if not is_web_url(url):
        raise ValueError(f"{kind} channel {name!r}: URL must be an absolute http(s) URL, "
                         f"got {redact_url(url) if url else 'an empty value'}")


class JsonPoster:
    """POSTs JSON to one secret URL with a shared, lazily created httpx client.

    Args:
        kind: "slack" or "webhook", for messages.
        name: the channel's name.
        url: the destination; only its host appears in messages and logs.
        timeout: seconds for each of connect, write, read and pool acquisition.
        headers: extra request headers (may hold secrets; never logged).
    """

    def __init__(self, kind: str, name: str, url: str, timeout: float,
                 headers: dict[str, str] | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"{kind} channel {name!r}: timeout must be positive seconds, "
                             f"not {timeout!r}")
        check_url(kind, name, url)
        self.kind = kind
        self.name = name
        self._url = url
        self.timeout = float(timeout)
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        protect_url(url)

    @property
    def where(self) -> str:
        """The destination with its path hidden, e.g. ``https://hooks.slack.com/…``."""
        return redact_url(self._url)

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, follow_redirects=False,
                                            headers=self._headers)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def error(self, problem: str, **kwargs: Any) -> DeliveryError:
        """A DeliveryError naming the channel and the redacted destination."""
        return DeliveryError(
            f"{self.kind} channel {self.name!r}: {self.where}: "
            f"{scrub(problem, self._url)}", **kwargs)

    def post(self, payload: dict[str, Any] | bytes,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """POST ``payload`` and return the response, whatever its status.

        Args:
            payload: a dict sent as JSON, or the exact bytes of a JSON body (sent as
                they are, with ``Content-Type: application/json``; a signed body).
            headers: headers of this request only.

        Raises:
            DeliveryError: retryable, when the request could not be completed
                (connection refused, DNS failure, timeout, protocol error).
        """
        client = self._get_client()
        try:
            if isinstance(payload, bytes):
                return client.post(self._url, content=payload, headers={
                    "Content-Type": "application/json", **(headers or {})})
            return client.post(self._url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            # "from None": the httpx exception carries the request and its full URL.
            raise self.error(f"timed out after {self.timeout:g} s "
                             f"({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise self.error(f"request failed: {type(exc).__name__}: {exc}") from None


def body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The first ``limit`` characters of a response body, on one line."""
    text = " ".join(response.text.split())
    return text[:limit] + ("\u2026" if len(text) > limit else "")
