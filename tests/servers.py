"""Real local servers for tests: SMTP, a Slack incoming-webhook look-alike, and a website.

Each class is a context manager. ``__enter__`` binds a listening socket on 127.0.0.1 with
a free port chosen by the OS (port 0), starts serving in a daemon thread and returns once
the server accepts connections: no sleeping, no polling. ``__exit__`` shuts it down and
closes the socket. Everything a test inspects is recorded under a lock, and every
``wait_for`` waits on a condition variable rather than a sleep loop.

- :class:`SmtpServer`: aiosmtpd; received mail in ``.messages`` as ``EmailMessage``;
  optional STARTTLS / implicit TLS (see :func:`make_self_signed_cert`) and AUTH; scripted
  DATA replies and refused recipients for failure tests.
- :class:`SlackServer`: answers POSTs on ``/services/T000/B000/XXXX`` like Slack's
  incoming webhooks (200 "ok", scripted 429 / 404 / 500...), checks Block Kit limits,
  records the JSON bodies in ``.posts``.
- :class:`SlackApiServer`: Slack's Web API method ``chat.postMessage`` for a bot token
  (``ts`` answers, ``thread_ts`` replies checked against earlier posts).
- :class:`WebhookServer`: the same for any JSON webhook (one path, scripted replies).
- :class:`SiteServer`: serves a mutable ``path -> route`` table (feeds, sitemaps,
  articles, robots.txt) with ETag / Last-Modified conditional GET, HEAD and a request log.

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
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "Headers",
    "HttpRequest",
    "Route",
    "SiteServer",
    "SlackApiServer",
    "SlackServer",
    "SmtpEnvelope",
    "SmtpServer",
    "WebhookServer",
    "check_slack_limits",
    "make_self_signed_cert",
    "server_tls_context",
]

LOCALHOST = "127.0.0.1"


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

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def wait_for(self, n: int, timeout: float, what: str,
                 predicate: Callable[[Any], bool] | None = None) -> list[Any]:
        def matching() -> list[Any]:
            return [i for i in self._items if predicate is None or predicate(i)]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= n, timeout):
                raise TimeoutError(f"waited {timeout:g} s for {n} {what}, "
                                   f"got {len(matching())}")
            return matching()


# ================================================================================ TLS


def make_self_signed_cert(directory: str | Path,
                          hostnames: Iterable[str] = ("localhost", LOCALHOST),
                          ) -> tuple[Path, Path]:
    """Write a self-signed certificate and its key (PEM) for the given names.

    Needs the ``cryptography`` package. Uses an EC P-256 key, so it takes milliseconds.
    The certificate is its own CA: pass the certificate file as the client's CA file
    (e.g. ``EmailChannel(..., ca_file=str(cert))``) to trust it.

    Args:
        directory: where to write ``cert.pem`` and ``key.pem``.
        hostnames: DNS names and IP addresses to put in subjectAltName.

    Returns:
        (certificate path, key path).
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(hostnames)
    alt: list[x509.GeneralName] = []
    for host in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server-side TLS context for the given certificate and key files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


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


def _make_controller_class() -> type:
    from aiosmtpd.controller import Controller

    class BoundController(Controller):  # type: ignore[misc, valid-type]
        """A Controller serving on a socket we bound ourselves (port 0 -> free port).

        aiosmtpd's Controller takes a fixed port and, after starting, connects to it to
        check the server is up; with port=0 it would connect to port 0. Binding first and
        handing the socket to ``create_server(sock=...)`` avoids both that and the race
        of "find a free port, close it, hope nobody takes it".
        """

        def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
            self._sock = sock
            host, port = sock.getsockname()[:2]
            super().__init__(handler, hostname=host, port=port, **kwargs)

        def _create_server(self) -> Any:
            return self.loop.create_server(
                self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    return BoundController


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

    Args:
        auth: ``(username, password)`` to accept with AUTH PLAIN/LOGIN; None disables
            AUTH (a client that tries to log in gets "not supported").
        tls_context: a server TLS context (see :func:`server_tls_context`). Without
            ``implicit_tls`` the server offers STARTTLS with it.
        implicit_tls: speak TLS from the first byte (SMTPS, like port 465).
        require_starttls: refuse mail until the client has done STARTTLS.
        auth_require_tls: refuse AUTH on an unencrypted session. Defaults to True when
            TLS is configured, else False (so AUTH over plain SMTP can be tested).
        data_replies: replies for the next DATA commands in order, e.g.
            ``["451 4.3.0 Try again later"]``; when used up, "250 OK". A non-250 reply
            means the message is not recorded.
        refuse_recipients: addresses that RCPT TO refuses with 550.

    Attributes:
        host: "127.0.0.1".
        port: the bound port (valid after ``__enter__``).
    """

    def __init__(self, *, auth: tuple[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 require_starttls: bool = False, auth_require_tls: bool | None = None,
                 data_replies: Iterable[str] = (),
                 refuse_recipients: Iterable[str] = ()) -> None:
        if (implicit_tls or require_starttls) and tls_context is None:
            raise ValueError("implicit_tls and require_starttls need a tls_context")
        self.host = LOCALHOST
        self.port = 0
        self.auth = auth
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.auth_require_tls = (tls_context is not None if auth_require_tls is None
                                 else auth_require_tls)
        self.refuse_recipients = {a.lower() for a in refuse_recipients}
        self._replies_lock = threading.Lock()
        self._data_replies: deque[str] = deque(data_replies)
        self._messages = _Recorder()
        self._envelopes = _Recorder()
        self._controller: Any = None

    # -- inspection -----------------------------------------------------------------

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

    def clear(self) -> None:
        """Forget the messages received so far."""
        self._messages.clear()
        self._envelopes.clear()

    def _next_data_reply(self) -> str:
        with self._replies_lock:
            return self._data_replies.popleft() if self._data_replies else "250 OK"

    # -- lifecycle ------------------------------------------------------------------

    def _authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                       auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if self.auth is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.auth
        ok = (auth_data.login.decode() == user and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def __enter__(self) -> SmtpServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOCALHOST, 0))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test"}
        if self.implicit_tls:
            kwargs["ssl_context"] = self.tls_context
        elif self.tls_context is not None:
            kwargs["tls_context"] = self.tls_context
            kwargs["require_starttls"] = self.require_starttls
        if self.auth is not None:
            aiosmtpd_log = logging.getLogger("mail.log")
            if _LOGIN_DATA_FILTER not in aiosmtpd_log.filters:
                aiosmtpd_log.addFilter(_LOGIN_DATA_FILTER)
            kwargs["authenticator"] = self._authenticator
            kwargs["auth_require_tls"] = self.auth_require_tls
        controller_cls = _make_controller_class()
        self._controller = controller_cls(_Handler(self), sock, ready_timeout=5.0,
                                          **kwargs)
        try:
            self._controller.start()  # returns once the server answered a connection
        except BaseException:
            sock.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# ======================================================================= HTTP (shared)


class Headers(dict):
    """A dict of request headers whose keys are lower-cased and whose look-ups ignore
    case: ``h["If-None-Match"]``, ``h.get("if-none-match")`` and ``"ETag" in h`` all work.
    (A repeated header keeps its last value.)"""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class HttpRequest:
    """One request as a test server saw it.

    Attributes:
        method: "GET", "HEAD", "POST"...
        path: the request target as sent (path plus query string).
        headers: the request headers (:class:`Headers`: look-ups ignore case).
        body: the request body (empty for GET/HEAD).
        at: when it arrived (``time.time()``, seconds).
        host: the Host header as sent (names a virtual host on one server).
    """

    method: str
    path: str
    headers: Headers
    body: bytes = b""
    at: float = 0.0
    host: str = ""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: Any = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (Scrapy cancelling an over-size download)
        is normal here; anything else is printed as usual."""
        import sys
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _BaseHandler(BaseHTTPRequestHandler):
    server: _QuietServer
    server_version = "TestServer/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep pytest output clean

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self, body: bytes = b"") -> HttpRequest:
        req = HttpRequest(self.command, self.path, Headers(self.headers.items()), body,
                          time.time(), self.headers.get("Host", ""))
        self.server.owner._requests.append(req)
        return req

    def _reply(self, status: int, body: bytes, content_type: str,
               headers: Mapping[str, str] | None = None, send_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status not in (204, 304) and body:
            self.wfile.write(body)


class _ThreadedHttp:
    """Starts a ThreadingHTTPServer on 127.0.0.1:0; subclasses set ``_handler``."""

    _handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.host = LOCALHOST
        self.port = 0
        self._requests = _Recorder()
        self._httpd: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid after ``__enter__``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[HttpRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def _start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        # The constructor binds and listens, so connections queue up from here on and
        # the server is usable as soon as this returns.
        httpd = _QuietServer((LOCALHOST, 0), self._handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


# ============================================================================== Slack

SLACK_PATH = "/services/T000/B000/XXXX"


def check_slack_limits(payload: Any) -> str | None:
    """Check a webhook payload against Slack's documented limits.

    Returns:
        None when acceptable, else the error code Slack would answer with
        (``invalid_payload``, ``no_text`` or ``invalid_blocks``).
    """
    if not isinstance(payload, dict):
        return "invalid_payload"
    text = payload.get("text")
    blocks = payload.get("blocks")
    if not text and not blocks:
        return "no_text"
    if text is not None and (not isinstance(text, str) or len(text) > 40_000):
        return "invalid_payload"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    total = 0
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            t = block.get("text", {})
            if t.get("type") != "plain_text" or not 0 < len(t.get("text", "")) <= 150:
                return "invalid_blocks"
            total += len(t["text"])
        elif kind == "section":
            t = block.get("text")
            fields = block.get("fields")
            if t is None and not fields:
                return "invalid_blocks"
            if t is not None:
                if not 0 < len(t.get("text", "")) <= 3000:
                    return "invalid_blocks"
                total += len(t["text"])
            if fields is not None:
                if len(fields) > 10 or any(not 0 < len(f.get("text", "")) <= 2000
                                           for f in fields):
                    return "invalid_blocks"
                total += sum(len(f["text"]) for f in fields)
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                return "invalid_blocks"
            total += sum(len(e.get("text", "")) for e in elements)
        elif kind not in ("divider", "actions", "image", "rich_text"):
            return "invalid_blocks"
    if total > 13_000:  # Slack's observed msg_blocks_too_long threshold
        return "invalid_blocks"
    return None


class _JsonPostHandler(_BaseHandler):
    def do_POST(self) -> None:  # noqa: N802
        owner: WebhookServer = self.server.owner
        body = self._read_body()
        self._record(body)
        if self.path != owner.path:
            self._reply(404, owner.not_found_body.encode(), "text/plain")
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._reply(400, owner.bad_json_body.encode(), "text/plain")
            return
        owner._posts.append(payload)
        scripted = owner._next_response()
        if scripted is None:
            scripted = owner._check(payload)
        status, text, headers = scripted or owner.default_response
        content_type = dict((k.lower(), v) for k, v in headers.items()).get(
            "content-type", "text/plain; charset=utf-8")
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        self._reply(status, text.encode(), content_type, headers)

    def do_GET(self) -> None:  # noqa: N802
        owner: WebhookServer = self.server.owner
        self._record()
        if self.path == owner.path:
            self._reply(405, b"method not allowed", "text/plain", {"Allow": "POST"})
        else:
            self._reply(404, owner.not_found_body.encode(), "text/plain")


Response = tuple[int, str, Mapping[str, str]]


class WebhookServer(_ThreadedHttp):
    """Receives JSON POSTs on one path, records them, and replies as scripted.

    A POST to ``path`` is parsed as JSON and recorded in ``.posts`` (the raw request,
    headers included, is in ``.requests``); the reply is the next scripted response,
    else ``default_response``. A POST to another path gets 404; a body that is not JSON
    gets 400 and is not recorded in ``.posts``.

    Args:
        path: the path to accept, e.g. ``/hooks/abc123``.
        responses: scripted replies, consumed one per recorded POST, as
            ``(status, body, headers)``, e.g. ``[(500, "oops", {}), (204, "", {})]``.
            A ``Content-Type`` in headers replaces the default ``text/plain``.
        default_response: the reply once the script is used up.
    """

    _handler = _JsonPostHandler
    not_found_body = "not found"
    bad_json_body = "invalid JSON"

    def __init__(self, path: str = "/hooks/test-token", responses: Iterable[Response] = (),
                 *, default_response: Response = (200, "ok", {})) -> None:
        super().__init__()
        self.path = path
        self.default_response = default_response
        self._lock = threading.Lock()
        self._responses: deque[Response] = deque(responses)
        self._posts = _Recorder()

    def __enter__(self) -> WebhookServer:
        self._start()
        return self

    @property
    def url(self) -> str:
        """The full URL to POST to, e.g. ``http://127.0.0.1:PORT/hooks/test-token``."""
        return self.base_url + self.path

    @property
    def posts(self) -> list[Any]:
        """The JSON bodies POSTed to ``path``, oldest first (a copy)."""
        return self._posts.snapshot()

    def script(self, *responses: Response) -> None:
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

    def _next_response(self) -> Response | None:
        with self._lock:
            return self._responses.popleft() if self._responses else None

    def _check(self, payload: Any) -> Response | None:
        """Subclasses may reject a payload that no script answered; None accepts it."""
        return None


class SlackServer(WebhookServer):
    """Answers like a Slack incoming webhook at ``/services/T000/B000/XXXX``.

    As :class:`WebhookServer`, with Slack's answers: 200 "ok" by default; 404
    "no_service" for another path; 400 "invalid_payload" for a body that is not JSON;
    and (when ``validate``) 400 "no_text" / "invalid_blocks" for a payload breaking
    Slack's limits (see :func:`check_slack_limits`) unless a scripted reply comes first.

    Args:
        responses: scripted replies, consumed one per recorded POST, as
            ``(status, body, headers)``, e.g.
            ``[(429, "rate_limited", {"Retry-After": "1"}), (200, "ok", {})]``.
        validate: check payloads against Slack's size limits.

    Attributes:
        path: the webhook path.
    """

    not_found_body = "no_service"
    bad_json_body = "invalid_payload"

    def __init__(self, responses: Iterable[Response] = (), *, validate: bool = True) -> None:
        super().__init__(SLACK_PATH, responses, default_response=(200, "ok", {}))
        self.validate = validate

    def __enter__(self) -> SlackServer:
        self._start()
        return self

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Any]:
        """Wait until at least ``n`` JSON bodies were posted; returns all of them.

        Args:
            n: how many posts in total.
            timeout: seconds to wait at most.

        Raises:
            TimeoutError: fewer arrived in time.
        """
        return self._posts.wait_for(n, timeout, "Slack posts")

    def _check(self, payload: Any) -> Response | None:
        problem = check_slack_limits(payload) if self.validate else None
        return (400, problem, {}) if problem else None


class _SlackApiHandler(_BaseHandler):
    def do_POST(self) -> None:  # noqa: N802
        owner: SlackApiServer = self.server.owner
        body = self._read_body()
        self._record(body)
        if self.path != "/api/chat.postMessage":
            self._reply(404, b"not found", "text/plain")
            return
        if self.headers.get("Authorization") != f"Bearer {owner.token}":
            self._answer({"ok": False, "error": "invalid_auth"})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._answer({"ok": False, "error": "invalid_json"})
            return
        self._answer(owner._post(payload))

    def _answer(self, data: dict[str, Any]) -> None:
        self._reply(200, json.dumps(data).encode(), "application/json; charset=utf-8")


class SlackApiServer(_ThreadedHttp):
    """Answers like Slack's Web API method ``chat.postMessage`` (at
    ``/api/chat.postMessage``, base URL :attr:`api_url`), for a bot token.

    Checks what Slack checks: ``Authorization: Bearer <token>`` (else ``invalid_auth``),
    a known ``channel`` (else ``channel_not_found``), ``text`` or ``blocks`` (else
    ``no_text``), Block Kit limits (:func:`check_slack_limits`) and, for a reply, a
    ``thread_ts`` that is the ``ts`` of an earlier top-level post in the same channel
    (else ``thread_not_found``). A post that passes is recorded in :attr:`posts` and
    answered ``{"ok": true, "channel", "ts"}`` with a new ``ts`` (``"1700000000.0001NN"``,
    increasing); a failure is answered ``{"ok": false, "error"}`` with status 200, as
    Slack does, and not recorded.

    Args:
        token: the bot token to accept.
        channel: the channel id to accept.
    """

    _handler = _SlackApiHandler

    def __init__(self, token: str = "xoxb-test-token", channel: str = "C0NEWS") -> None:
        super().__init__()
        self.token = token
        self.channel = channel
        self._lock = threading.Lock()
        self._posts = _Recorder()
        self._top: set[str] = set()
        self._n = 0

    def __enter__(self) -> SlackApiServer:
        self._start()
        return self

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

    def _post(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or payload.get("channel") != self.channel:
            return {"ok": False, "error": "channel_not_found"}
        problem = check_slack_limits(payload)
        if problem:
            return {"ok": False, "error": problem}
        with self._lock:
            thread = payload.get("thread_ts")
            if thread is not None and thread not in self._top:
                return {"ok": False, "error": "thread_not_found"}
            self._n += 1
            ts = f"1700000000.{self._n:06d}"
            if thread is None:
                self._top.add(ts)
        self._posts.append({**payload, "_ts": ts})
        return {"ok": True, "channel": self.channel, "ts": ts}


# =============================================================================== Site


@dataclass
class Route:
    """What :class:`SiteServer` answers for one path.

    Attributes:
        status: HTTP status code.
        content_type: the Content-Type header.
        body: the response body, bytes.
        etag: an ETag (quotes included, e.g. ``'"v1"'``); when set, a GET with a
            matching If-None-Match gets 304.
        last_modified: when set, sent as Last-Modified, and a GET with If-Modified-Since
            at or after it (and no If-None-Match) gets 304.
        headers: extra response headers (e.g. ``{"Location": "/new"}`` for a 301).
        delay: seconds to wait before answering (to test timeouts).
    """

    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    etag: str | None = None
    last_modified: datetime | None = None
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
        route = Route(status=status, content_type=content_type, body=body)
        if len(value) == 4:
            extra = dict(value[3])
            route.etag = extra.pop("ETag", extra.pop("etag", None))
            lm = extra.pop("Last-Modified", extra.pop("last_modified", None))
            if isinstance(lm, str):
                lm = parsedate_to_datetime(lm)
            route.last_modified = lm
            route.headers = extra
        return route
    raise TypeError(f"a route is a Route or (status, content_type, body[, headers]), "
                    f"not {value!r}")


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``W/"x"`` matches ``"x"``; ``*`` matches any."""
    def strip(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    candidates = [t for t in header.split(",") if t.strip()]
    return any(t.strip() == "*" or strip(t) == strip(etag) for t in candidates)


class _SiteHandler(_BaseHandler):
    def _serve(self, send_body: bool) -> None:
        owner: SiteServer = self.server.owner
        self._record()
        route = owner._lookup(self.path)
        if route is None:
            self._reply(404, b"not found", "text/plain", send_body=send_body)
            return
        if route.delay:
            time.sleep(route.delay)
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = format_datetime(
                route.last_modified.astimezone(timezone.utc), usegmt=True)
        if route.status == 200 and self._not_modified(route):
            self._reply(304, b"", route.content_type, headers, send_body=False)
            return
        self._reply(route.status, route.body, route.content_type, headers,
                    send_body=send_body)

    def _not_modified(self, route: Route) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return bool(route.etag) and _etag_matches(inm, route.etag or "")
        ims = self.headers.get("If-Modified-Since")
        if ims and route.last_modified:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=timezone.utc)
            return route.last_modified.replace(microsecond=0) <= since
        return False

    def do_GET(self) -> None:  # noqa: N802
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)


class SiteServer(_ThreadedHttp):
    """A small website: serves a table of routes that tests may change while it runs.

    Routes are looked up by the full request target (path and query) first, then by the
    path alone; anything else gets 404. GET and HEAD are supported (HEAD sends the same
    headers, no body). Every request is logged in ``.requests``.

    Args:
        routes: ``path -> Route`` or ``path -> (status, content_type, body)`` or
            ``(status, content_type, body, headers)`` where headers may carry ``ETag``
            and ``Last-Modified`` (an HTTP date string or aware datetime).

    Example:
        >>> with SiteServer() as site:
        ...     site["/robots.txt"] = (200, "text/plain", b"User-agent: *\\nAllow: /\\n")
        ...     site.set("/feed.xml", b"<rss/>", content_type="application/rss+xml",
        ...              etag='"v1"')
        ...     url = site.url("/feed.xml")
    """

    _handler = _SiteHandler

    def __init__(self, routes: Mapping[str, RouteLike] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {p: _as_route(r) for p, r in (routes or {}).items()}

    def __enter__(self) -> SiteServer:
        self._start()
        return self

    def url(self, path: str = "/") -> str:
        """The absolute URL for ``path`` on this server."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def set(self, path: str, body: bytes | str, *, status: int = 200,
            content_type: str = "text/html; charset=utf-8", etag: str | None = None,
            last_modified: datetime | None = None, headers: Mapping[str, str] | None = None,
            delay: float = 0.0) -> Route:
        """Add or replace a route (thread-safe); returns it. See :class:`Route`."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        route = Route(status, content_type, body, etag, last_modified, dict(headers or {}),
                      delay)
        with self._lock:
            self._routes[path] = route
        return route

    def __setitem__(self, path: str, value: RouteLike) -> None:
        route = _as_route(value)
        with self._lock:
            self._routes[path] = route

    def __getitem__(self, path: str) -> Route:
        with self._lock:
            return self._routes[path]

    def __delitem__(self, path: str) -> None:
        with self._lock:
            del self._routes[path]

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return path in self._routes

    def _lookup(self, target: str) -> Route | None:
        with self._lock:
            route = self._routes.get(target)
            if route is None:
                route = self._routes.get(target.split("?", 1)[0])
            return route

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

