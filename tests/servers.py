"""Real local servers for tests: SMTP (aiosmtpd), a news site, a JSON webhook and two
Slack look-alikes (pytest-httpserver).

Each class is a context manager that listens on 127.0.0.1 on a port the OS chooses
(port 0), serves from a daemon thread and accepts connections once ``__enter__`` returns.
What a test inspects is recorded on arrival, and ``wait_for`` waits on a condition
variable, never a sleep loop. TLS certificates for :class:`SmtpServer` come from
``trustme`` (see tests/test_alerts_email.py).

- :class:`SmtpServer`: aiosmtpd's controller on a port-0 socket; scripted DATA replies,
  refused recipients, AUTH, STARTTLS or implicit TLS.
- :class:`SiteServer`: feeds, sitemaps, articles and robots.txt from a route table that
  tests may change while it runs; conditional GET (ETag, Last-Modified), HEAD, slow
  answers.
- :class:`WebhookServer`: a JSON webhook with scripted replies.
- :class:`SlackServer`: Slack's incoming webhooks (200 "ok", scripted 429 / 404 / 500, 404
  "no_service"); each payload is checked with slack_sdk's Block Kit models
  (:func:`check_slack_limits`).
- :class:`SlackApiServer`: Slack's Web API ``chat.postMessage`` for a bot token; a reply
  to an unknown ``thread_ts`` is refused.

Example:
    >>> with SiteServer({"/feed.xml": (200, "application/rss+xml", b"<rss/>")}) as site:
    ...     feed_url = site.url("/feed.xml")
    ...     # run the crawler against feed_url, then:
    ...     site.wait_for(1, path="/feed.xml")
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pytest_httpserver import HTTPServer
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from werkzeug import Request, Response
from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler

__all__ = [
    "SLACK_PATH",
    "HttpRequest",
    "Route",
    "SiteServer",
    "SlackApiServer",
    "SlackServer",
    "SmtpEnvelope",
    "SmtpServer",
    "WebhookServer",
    "check_slack_limits",
]

LOCALHOST = "127.0.0.1"
ANY_PATH = re.compile("")  # a pytest-httpserver URI pattern matching every path


class _Recorder:
    """A lock-protected list with a condition to wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Any] = []

    def append(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self._items)

    def wait_for(self, n: int, timeout: float, what: str,
                 predicate: Callable[[Any], bool] | None = None) -> list[Any]:
        def matching() -> list[Any]:
            return [i for i in self._items if predicate is None or predicate(i)]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= n, timeout):
                raise TimeoutError(f"waited {timeout:g} s for {n} {what}, "
                                   f"got {len(matching())}")
            return matching()


# =============================================================================== SMTP


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd logs "Session.login_data is deprecated" on every successful AUTH (its own
    code sets the attribute); hide that one line so test output stays readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_LOGIN_DATA_FILTER = _DropLoginDataWarning()


@dataclass(frozen=True)
class SmtpEnvelope:
    """What the SMTP server saw besides the message itself.

    Attributes:
        mail_from: the MAIL FROM address.
        rcpt_tos: the accepted RCPT TO addresses.
        login: the AUTH login name, or None when the client did not log in.
        tls: True when the session was encrypted (STARTTLS or implicit TLS).
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    login: str | None
    tls: bool


class _Handler:
    """aiosmtpd handler: records messages, plays scripted replies."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self._server.refuse_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self._server._next_data_reply()
        if not reply.startswith("250"):
            return reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        login = getattr(session.auth_data, "login", None)
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        self._server._envelopes.append(SmtpEnvelope(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
            login=login, tls=session.ssl is not None or self._server.implicit_tls))
        self._server._messages.append(msg)
        return reply


class _BoundController(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller serving on a socket bound beforehand to port 0.

    aiosmtpd 1.4 takes a fixed port and, once started, connects to it to check the
    server is up (with port 0 it would connect to port 0); handing a bound socket to
    ``create_server(sock=...)`` avoids that and the race of "find a free port, close it,
    hope nobody takes it".
    """

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(handler, hostname=LOCALHOST, port=sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock,
                                       ssl=self.ssl_context)


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

    Args:
        auth: ``(username, password)`` to accept with AUTH PLAIN/LOGIN; None disables
            AUTH. AUTH needs TLS first when ``tls_context`` is given, else not (so AUTH
            over plain SMTP can be tested).
        tls_context: a server TLS context (e.g. from a ``trustme`` certificate). Without
            ``implicit_tls`` the server offers STARTTLS with it.
        implicit_tls: speak TLS from the first byte (SMTPS, like port 465).
        require_starttls: refuse mail until the client has done STARTTLS.
        data_replies: replies for the next DATA commands in order, e.g.
            ``["451 4.3.0 Try again later"]``; when used up, "250 OK". A non-250 reply
            means the message is not recorded.
        refuse_recipients: addresses that RCPT TO refuses with 550.

    Attributes:
        host: "127.0.0.1".
        port: the bound port (valid after ``__enter__``).

    Raises:
        ValueError: ``implicit_tls`` or ``require_starttls`` without a ``tls_context``.
    """

    def __init__(self, *, auth: tuple[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 require_starttls: bool = False, data_replies: Iterable[str] = (),
                 refuse_recipients: Iterable[str] = ()) -> None:
        if (implicit_tls or require_starttls) and tls_context is None:
            raise ValueError("implicit_tls and require_starttls need a tls_context")
        self.host = LOCALHOST
        self.port = 0
        self.auth = auth
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.refuse_recipients = {a.lower() for a in refuse_recipients}
        self._replies_lock = threading.Lock()
        self._data_replies: deque[str] = deque(data_replies)
        self._messages = _Recorder()
        self._envelopes = _Recorder()
        self._controller: _BoundController | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages received so far, oldest first (a copy; safe to iterate)."""
        return self._messages.snapshot()

    @property
    def envelopes(self) -> list[SmtpEnvelope]:
        """One :class:`SmtpEnvelope` per received message, same order as ``messages``."""
        return self._envelopes.snapshot()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``n`` messages have arrived.

        Args:
            n: how many messages in total.
            timeout: seconds to wait at most.

        Returns:
            All messages received so far.

        Raises:
            TimeoutError: fewer than ``n`` arrived in time (says how many did).
        """
        return self._messages.wait_for(n, timeout, "SMTP messages")

    def script_data(self, *replies: str) -> None:
        """Queue replies for the next DATA commands (e.g. ``"554 5.7.1 Rejected"``)."""
        with self._replies_lock:
            self._data_replies.extend(replies)

    def _next_data_reply(self) -> str:
        with self._replies_lock:
            return self._data_replies.popleft() if self._data_replies else "250 OK"

    def _authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                       auth_data: Any) -> AuthResult:
        if self.auth is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def __enter__(self) -> SmtpServer:
        sock = socket.create_server((LOCALHOST, 0))
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ready_timeout": 5.0}
        if self.implicit_tls:
            kwargs["ssl_context"] = self.tls_context
        elif self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=self.require_starttls)
        if self.auth is not None:
            logging.getLogger("mail.log").addFilter(_LOGIN_DATA_FILTER)  # added once
            kwargs.update(authenticator=self._authenticator,
                          auth_require_tls=self.tls_context is not None)
        self._controller = _BoundController(_Handler(self), sock, **kwargs)
        try:
            self._controller.start()  # returns once the server answered a connection
        except BaseException:
            sock.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# =============================================================================== HTTP


@dataclass(frozen=True)
class HttpRequest:
    """One request as a test HTTP server saw it on arrival.

    Attributes:
        method: "GET", "HEAD", "POST"...
        path: the request target as sent (path plus query string).
        headers: the request headers (werkzeug ``Headers``: look-ups ignore case).
        body: the request body (empty for GET/HEAD).
        at: when it arrived (``time.time()``, seconds).
        host: the Host header as sent.
    """

    method: str
    path: str
    headers: Headers
    body: bytes = b""
    at: float = 0.0
    host: str = ""


class _WerkzeugRequestLines(logging.Filter):
    """werkzeug logs each request at INFO, path included; tests that check a webhook's
    secret path never reaches the logs would find it there. Warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_REQUEST_LINES_FILTER = _WerkzeugRequestLines()


class _StampingHandler(WSGIRequestHandler):
    """werkzeug's request handler, noting when the request line arrived (as
    ``environ["tests.arrived"]``) before werkzeug builds the request: tests compare
    arrival times to a few milliseconds."""

    def parse_request(self) -> bool:
        self.arrived = time.time()
        return super().parse_request()

    def make_environ(self) -> dict[str, Any]:
        return {**super().make_environ(), "tests.arrived": self.arrived}


class _LocalHttp(HTTPServer):
    """pytest-httpserver's server on 127.0.0.1, port 0, a thread per request, recording
    each request on arrival (before any slow answer) so tests can wait for it."""

    def __init__(self) -> None:
        super().__init__(LOCALHOST, 0, threaded=True)
        self._requests = _Recorder()
        logging.getLogger("werkzeug").addFilter(_REQUEST_LINES_FILTER)  # added once

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid after ``__enter__``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[HttpRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def thread_target(self) -> None:
        """Serve with :class:`_StampingHandler` (pytest-httpserver passes no handler class
        to werkzeug), checking for ``stop()`` every 50 ms (werkzeug's default: 500 ms)."""
        assert self.server is not None
        self.server.RequestHandlerClass = _StampingHandler
        self.server.serve_forever(poll_interval=0.05)

    def application(self, request: Request) -> Response:
        """Record the request, then answer it through pytest-httpserver's handlers."""
        environ = request.environ
        self._requests.append(HttpRequest(
            request.method, environ["RAW_URI"], Headers(request.headers),
            request.get_data(), environ["tests.arrived"], request.host))
        return super().application(request)


# ============================================================================== Slack

SLACK_PATH = "/services/T000/B000/XXXX"
SLACK_MAX_BLOCKS = 50        # per message (chat.postMessage); slack_sdk checks per block
SLACK_MAX_TEXT = 40_000      # Slack cuts a longer message text


def check_slack_limits(payload: Any) -> str | None:
    """Check a Slack message as Slack would, each block with slack_sdk's Block Kit models.

    Every block goes through ``slack_sdk.models.blocks.Block.parse(...).to_dict()``, which
    runs the validators of the block and of each text object in it (a section's text at
    most 3,000 characters, a header's 150, at most 10 fields or context elements, no
    empty text...); a block type slack_sdk does not know, or a key it would drop, is
    refused too. The limits of the message itself (text, at most 50 blocks) are checked
    here, as slack_sdk has no maintained message model.

    Args:
        payload: the decoded JSON body of a webhook post or a ``chat.postMessage`` call.

    Returns:
        None when Slack would take it, else the error Slack answers: ``invalid_payload``
        (not an object; text not a string or over 40,000 characters), ``no_text``
        (neither text nor blocks) or ``invalid_blocks``.
    """
    if not isinstance(payload, dict):
        return "invalid_payload"
    text, blocks = payload.get("text"), payload.get("blocks")
    if not text and not blocks:
        return "no_text"
    if text is not None and (not isinstance(text, str) or len(text) > SLACK_MAX_TEXT):
        return "invalid_payload"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > SLACK_MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        try:
            model = Block.parse(block) if isinstance(block, dict) else None
            if model is None or model.to_dict() != block:
                return "invalid_blocks"
        except (SlackObjectFormationError, TypeError):
            return "invalid_blocks"
    return None


Reply = tuple[int, str, Mapping[str, str]]


class WebhookServer(_LocalHttp):
    """Receives JSON POSTs on one path, records them, and replies as scripted.

    A POST to ``path`` is parsed as JSON and recorded in ``.posts`` (the raw request,
    headers included, is in ``.requests``); the reply is the next scripted one, else
    200 "ok". A GET on ``path`` gets 405; any other path 404; a body that is
    not JSON gets 400 and is not recorded in ``.posts``.

    Args:
        path: the path to accept, e.g. ``/hooks/abc123``.
        responses: scripted replies, consumed one per recorded POST, as
            ``(status, body, headers)``, e.g. ``[(500, "oops", {}), (204, "", {})]``.
            A ``Content-Type`` in headers replaces the default ``text/plain``.
    """

    not_found_body = "not found"
    bad_json_body = "invalid JSON"

    def __init__(self, path: str = "/hooks/test-token", responses: Iterable[Reply] = ()
                 ) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        self._responses: deque[Reply] = deque(responses)
        self._posts = _Recorder()
        self.expect_request(path, method="POST").respond_with_handler(self._answer)
        self.expect_request(path).respond_with_data("method not allowed", 405,
                                                    {"Allow": "POST"})
        self.expect_request(ANY_PATH).respond_with_data(self.not_found_body, 404)

    @property
    def url(self) -> str:
        """The full URL to POST to, e.g. ``http://127.0.0.1:PORT/hooks/test-token``."""
        return self.base_url + self.path

    @property
    def posts(self) -> list[Any]:
        """The JSON bodies POSTed to ``path``, oldest first (a copy)."""
        return self._posts.snapshot()

    def script(self, *responses: Reply) -> None:
        """Queue more ``(status, body, headers)`` replies for the next POSTs."""
        with self._lock:
            self._responses.extend(responses)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Any]:
        """Wait until at least ``n`` JSON bodies were posted; returns all of them.

        Args:
            n: how many posts in total.
            timeout: seconds to wait at most.

        Raises:
            TimeoutError: fewer arrived in time.
        """
        return self._posts.wait_for(n, timeout, "posts")

    def _answer(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return Response(self.bad_json_body, 400)
        self._posts.append(payload)
        with self._lock:
            scripted = self._responses.popleft() if self._responses else None
        status, body, headers = scripted or self._check(payload) or (200, "ok", {})
        return Response(body, status, dict(headers))

    def _check(self, payload: Any) -> Reply | None:
        """Subclasses may refuse a payload that no script answered; None accepts it."""
        return None


class SlackServer(WebhookServer):
    """Answers like a Slack incoming webhook at ``/services/T000/B000/XXXX``.

    As :class:`WebhookServer`, with Slack's answers: 200 "ok" by default; 404
    "no_service" for another path; 400 "invalid_payload" for a body that is not JSON;
    and 400 "no_text" / "invalid_blocks" for a payload that :func:`check_slack_limits`
    refuses, unless a scripted reply comes first.

    Args:
        responses: scripted replies, consumed one per recorded POST, as
            ``(status, body, headers)``, e.g.
            ``[(429, "rate_limited", {"Retry-After": "1"}), (200, "ok", {})]``.
    """

    not_found_body = "no_service"
    bad_json_body = "invalid_payload"

    def __init__(self, responses: Iterable[Reply] = ()) -> None:
        super().__init__(SLACK_PATH, responses)

    def _check(self, payload: Any) -> Reply | None:
        problem = check_slack_limits(payload)
        return (400, problem, {}) if problem else None


class SlackApiServer(_LocalHttp):
    """Answers like Slack's Web API method ``chat.postMessage`` (at
    ``/api/chat.postMessage``, base URL :attr:`api_url`), for a bot token.

    Checks what Slack checks: ``Authorization: Bearer <token>`` (else ``invalid_auth``),
    a known ``channel`` (else ``channel_not_found``), the message
    (:func:`check_slack_limits`: ``no_text``, ``invalid_blocks``...) and, for a reply, a
    ``thread_ts`` that is the ``ts`` of an earlier top-level post in the same channel
    (else ``thread_not_found``). A post that passes is recorded in :attr:`posts` and
    answered ``{"ok": true, "channel", "ts"}`` with a new ``ts`` (``"1700000000.0000NN"``,
    increasing); a failure is answered ``{"ok": false, "error"}`` with status 200, as
    Slack does, and not recorded.

    Args:
        token: the bot token to accept.
        channel: the channel id to accept.
    """

    def __init__(self, token: str = "xoxb-test-token", channel: str = "C0NEWS") -> None:
        super().__init__()
        self.token = token
        self.channel = channel
        self._lock = threading.Lock()
        self._posts = _Recorder()
        self._top: set[str] = set()
        self._n = 0
        method = "/api/chat.postMessage"
        self.expect_request(method, method="POST", headers={
            "Authorization": f"Bearer {token}"}).respond_with_handler(self._post)
        self.expect_request(method, method="POST").respond_with_json(
            {"ok": False, "error": "invalid_auth"})
        self.expect_request(ANY_PATH).respond_with_data("not found", 404)

    @property
    def api_url(self) -> str:
        """The Web API base URL, e.g. ``http://127.0.0.1:PORT/api``."""
        return self.base_url + "/api"

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The accepted payloads, oldest first, each with the ``ts`` it was given under
        the key ``"_ts"`` (a copy)."""
        return self._posts.snapshot()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` posts were accepted; returns all of them.

        Raises:
            TimeoutError: fewer arrived in ``timeout`` seconds.
        """
        return self._posts.wait_for(n, timeout, "Slack Web API posts")

    def _post(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return self._answer(error="invalid_json")
        if not isinstance(payload, dict) or payload.get("channel") != self.channel:
            return self._answer(error="channel_not_found")
        problem = check_slack_limits(payload)
        if problem:
            return self._answer(error=problem)
        with self._lock:
            thread = payload.get("thread_ts")
            if thread is not None and thread not in self._top:
                return self._answer(error="thread_not_found")
            self._n += 1
            ts = f"1700000000.{self._n:06d}"
            if thread is None:
                self._top.add(ts)
        self._posts.append({**payload, "_ts": ts})
        return self._answer(channel=self.channel, ts=ts)

    @staticmethod
    def _answer(**fields: str) -> Response:
        data = {"ok": "error" not in fields, **fields}
        return Response(json.dumps(data), 200, content_type="application/json; charset=utf-8")


# =============================================================================== Site


@dataclass
class Route:
    """What :class:`SiteServer` answers for one path.

    Attributes:
        status: HTTP status code.
        content_type: the Content-Type header.
        body: the response body, bytes.
        etag: an ETag (quotes included, e.g. ``'"v1"'``); a GET with a matching
            If-None-Match (weak comparison) gets 304.
        headers: extra response headers, e.g. ``{"Location": "/new"}`` for a 301, or
            ``{"Last-Modified": "Wed, 01 May 2024 12:00:00 GMT"}`` (a GET with
            If-Modified-Since at or after it gets 304).
        delay: seconds to wait before answering (to test timeouts).
    """

    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


RouteLike = Route | tuple


def _as_route(value: RouteLike) -> Route:
    if isinstance(value, Route):
        return value
    if isinstance(value, tuple) and len(value) in (3, 4):
        status, content_type, body = value[:3]
        if isinstance(body, str):
            body = body.encode("utf-8")
        return Route(status, content_type, body, headers=dict(value[3] if value[3:] else {}))
    raise TypeError(f"a route is a Route or (status, content_type, body[, headers]), "
                    f"not {value!r}")


class SiteServer(_LocalHttp):
    """A small website: serves a table of routes that tests may change while it runs.

    Routes are looked up by the full request target (path and query) first, then by the
    path alone; anything else gets 404. A 200 route answers conditional GETs with 304
    (werkzeug's ``Response.make_conditional``: If-None-Match against its ETag,
    If-Modified-Since against a Last-Modified header) and HEAD with the headers alone.
    Every request is logged in ``.requests``.

    Args:
        routes: ``path -> Route`` or ``path -> (status, content_type, body)`` or
            ``(status, content_type, body, headers)``.

    Example:
        >>> with SiteServer() as site:
        ...     site["/robots.txt"] = (200, "text/plain", b"User-agent: *\\nAllow: /\\n")
        ...     site.set("/feed.xml", b"<rss/>", content_type="application/rss+xml",
        ...              etag='"v1"')
        ...     url = site.url("/feed.xml")
    """

    def __init__(self, routes: Mapping[str, RouteLike] | None = None) -> None:
        super().__init__()
        self._routes: dict[str, Route] = {p: _as_route(r) for p, r in (routes or {}).items()}
        self.expect_request(ANY_PATH).respond_with_handler(self._serve)

    def url(self, path: str = "/") -> str:
        """The absolute URL for ``path`` on this server."""
        return self.url_for(path)

    def set(self, path: str, body: bytes | str, *, status: int = 200,
            content_type: str = "text/html; charset=utf-8", etag: str | None = None,
            headers: Mapping[str, str] | None = None, delay: float = 0.0) -> None:
        """Add or replace a route, also while serving. See :class:`Route`."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._routes[path] = Route(status, content_type, body, etag, dict(headers or {}),
                                   delay)

    def __setitem__(self, path: str, value: RouteLike) -> None:
        self._routes[path] = _as_route(value)

    def wait_for(self, n: int, timeout: float = 5.0, *, path: str | None = None,
                 method: str | None = None) -> list[HttpRequest]:
        """Wait until at least ``n`` requests (optionally for one path / method) arrived.

        Args:
            n: how many matching requests in total.
            timeout: seconds to wait at most.
            path: count only requests whose path (query ignored) equals this.
            method: count only this method (e.g. "GET").

        Returns:
            The matching requests so far.

        Raises:
            TimeoutError: fewer arrived in time.
        """
        def match(req: HttpRequest) -> bool:
            return ((path is None or req.path.split("?", 1)[0] == path)
                    and (method is None or req.method == method))

        return self._requests.wait_for(n, timeout, f"requests for {path or 'any path'}",
                                       match)

    def _serve(self, request: Request) -> Response:
        target = request.environ.get("RAW_URI") or request.full_path
        route = self._routes.get(target) or self._routes.get(target.split("?", 1)[0])
        if route is None:
            return Response("not found", 404)
        if route.delay:
            time.sleep(route.delay)
        response = Response(route.body, route.status, route.headers,
                            content_type=route.content_type)
        if route.etag:
            response.headers["ETag"] = route.etag
        if route.status == 200:
            response.make_conditional(request)
        return response
