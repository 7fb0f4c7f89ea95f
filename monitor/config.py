"""monitor.yaml: sources, channels, store, crawl politeness, extraction and delivery.

The file is validated with pydantic; every problem becomes one line of the
:class:`ConfigError` naming the file, the field path and what is wrong, e.g.::

    monitor.yaml: sources[1].interval: must be a duration such as 90, "30s", "15m" or "1h"

Relative paths in the file (``database``, ``rules``) are resolved against the folder
that holds the file, so ``monitor -c /etc/monitor/monitor.yaml run`` works from anywhere.
Secrets are never written in the file: a channel names the environment variable that
holds its password or webhook URL (``password_env``, ``webhook_url_env``).
"""

from __future__ import annotations

import gc
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.models import ExtractOptions

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
#: Settings that take a duration (a number of seconds, or a number with a unit).
_DURATION_FIELDS = {"interval", "min_interval", "max_interval", "timeout", "download_timeout",
                    "robots_max_age", "download_delay", "digest_interval", "max_backoff",
                    "default_interval", "visibility_timeout", "seen_ttl"}
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: object) -> float:
    """Turn ``90``, ``"30s"``, ``"15m"``, ``"1h"``, ``"2d"`` or ``"1w"`` into seconds.

    Args:
        value: a number of seconds, or a string with an optional unit (ms, s, m, h, d, w).

    Returns:
        The duration in seconds (float, > 0).

    Raises:
        ValueError: the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 90, \"30s\", \"15m\" or \"1h\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError('must be a duration such as 90, "30s", "15m" or "1h"')
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[float, Field(gt=0)]


def env_name(value: str) -> str:
    """Check the name of an environment variable given in monitor.yaml (``*_env``).

    Returns:
        The name, unchanged.

    Raises:
        ValueError: not a name such as ``SLACK_URL`` (letters, digits, underscores, not
            starting with a digit); a value that looks like a URL is called out, since
            the secret itself belongs in the environment, not in the file.
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value or ""):
        return value
    hint = (" (this looks like the secret itself: put it in an environment variable and "
            "give that variable's name here)" if "://" in (value or "") else "")
    raise ValueError(f"must be the name of an environment variable, such as SLACK_URL"
                     f"{hint}")


def domain_list(value: object, star: bool = False) -> tuple[str, ...]:
    """Check a list of domains (``[example.com, partner.org]``) from monitor.yaml.

    Args:
        value: the list as written (a single string counts as a list of one).
        star: whether ``"*"`` (any domain) is allowed.

    Returns:
        The domains, lower-cased, without a leading dot.

    Raises:
        ValueError: not a non-empty list, or an item that is not a bare domain (a
            scheme, a path, a port, spaces or a number), naming the item.
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("must be a list of domains such as [example.com]"
                         + (', or ["*"]' if star else ""))
    out = []
    for item in value:
        text = item.strip().lower().lstrip(".") if isinstance(item, str) else ""
        if not (star and text == "*") and not re.fullmatch(
                r"(?:[\w-]{1,63}\.)*[a-z_][\w-]{0,62}|(?:\d{1,3}\.){3}\d{1,3}", text):
            raise ValueError(f"{item!r} is not a domain (write example.com, no scheme, "
                             f"port or path)")
        out.append(text)
    return tuple(out)


class SourceConfig(_Strict):
    """One news source: a feed (RSS 0.9x/1.0/2.0, Atom) or a sitemap (incl. Google News).

    Attributes:
        name: unique short name, used in logs, alerts and ``monitor crawl NAME``.
        kind: ``feed``, ``sitemap``, or ``page`` (a section front page whose article
            links are followed, for sites with neither: :mod:`monitor.frontpage`).
        url: the feed, sitemap or front page URL (a sitemap index or robots.txt works
            for a sitemap).
        interval: seconds between two polls at first; the schedule then adapts it
            between ``min_interval`` and ``max_interval`` (see :mod:`monitor.schedule`).
        min_interval: the shortest interval, seconds (default: a third of ``interval``).
        max_interval: the longest interval, seconds (default: four times ``interval``).
        max_articles: at most this many new article pages fetched per poll.
        enabled: false keeps the source in the file but never crawls it.
        allowed_domains: the domains its article pages may be on, after redirects
            (``example.com`` covers ``www.example.com``; ``"*"`` allows any). Default:
            the source's own site and the site of each link as listed, so a redirect
            to a third site is rejected (``off-site``); see
            :func:`monitor.urls.article_domains`.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["feed", "sitemap", "page"]
    url: str
    interval: Duration = 900.0
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    max_articles: int = Field(default=50, ge=1)
    enabled: bool = True
    allowed_domains: tuple[str, ...] | None = None

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> object:
        return None if value is None else domain_list(value, star=True)

    _duration = field_validator("interval", "min_interval", "max_interval", mode="before")(
        lambda cls, v: v if v is None else parse_duration(v))

    @model_validator(mode="after")
    def _interval_order(self) -> SourceConfig:
        if self.min_interval_s > self.interval or self.max_interval_s < self.interval:
            raise ValueError(f"min_interval ({self.min_interval_s:g} s) <= interval "
                             f"({self.interval:g} s) <= max_interval "
                             f"({self.max_interval_s:g} s) must hold")
        return self

    @property
    def min_interval_s(self) -> float:
        """The shortest poll interval in seconds (``min_interval`` or interval / 3)."""
        return self.min_interval if self.min_interval is not None else self.interval / 3

    @property
    def max_interval_s(self) -> float:
        """The longest poll interval in seconds (``max_interval`` or interval * 4)."""
        return self.max_interval if self.max_interval is not None else self.interval * 4

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from monitor.urls import is_web_url  # courlan: 70 ms, only for a config with sources

        if not is_web_url(value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def clock_time(value: object) -> time:
    """Turn ``"22:00"`` or ``"7:30"`` (24-hour clock, as in monitor.yaml) into a time.

    Raises:
        ValueError: not an HH:MM time between 00:00 and 23:59.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
        value = f"{value // 60}:{value % 60:02d}"   # YAML 1.1 reads 22:00 as 1320
    match = _CLOCK.match(str(value).strip()) if isinstance(value, (str, int)) else None
    if not match or isinstance(value, bool):
        shown = f", not {value!r}" if isinstance(value, str) else " in quotes"
        raise ValueError(f'must be a time of day such as "22:00" or "07:30"{shown}')
    return time(int(match.group(1)), int(match.group(2)))


class QuietHoursConfig(_Strict):
    """A channel's quiet hours: alerts meanwhile wait for a digest sent when they end.

    Attributes:
        start: when they begin, local time (``from: "22:00"`` in the file).
        end: when they end, local time (``to: "07:00"``); before ``start`` means they
            run past midnight. Equal to ``start`` is an error.
        timezone: an IANA time zone name (``Europe/Berlin``), read with :mod:`zoneinfo`
            so summer time is followed; default UTC.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: time = Field(alias="from")
    end: time = Field(alias="to")
    timezone: str = "UTC"

    _times = field_validator("start", "end", mode="before")(lambda cls, v: clock_time(v))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             f"Europe/Berlin or America/New_York)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("from and to are the same time: quiet hours need a length")
        return self


class BudgetConfig(_Strict):
    """A channel's rate budget: at most ``alerts`` messages in any ``per`` seconds; the
    alerts beyond it wait for the channel's next digest.

    Attributes:
        alerts: messages allowed in the window (an alert sent alone, or a burst digest,
            counts one), at least 1.
        per: the sliding window, seconds (``per: 1h``).
    """

    alerts: int = Field(ge=1)
    per: Duration

    _per = field_validator("per", mode="before")(lambda cls, v: parse_duration(v))


class _ChannelBase(_Strict):
    """What every channel has besides its destination: when and how often it may alert
    (:mod:`monitor.policy` applies it; watches with ``priority: urgent`` bypass it).

    Attributes:
        quiet_hours: no alert one by one meanwhile: they wait for a digest sent when
            the quiet hours end (None: never quiet).
        budget: at most so many messages per window; the rest wait for the next digest
            (None: no limit).
        burst: this many alerts or more waiting for the channel at once (one poll's
            worth, or a backlog) go out as one digest message; 0 turns it off.
    """

    quiet_hours: QuietHoursConfig | None = None
    budget: BudgetConfig | None = None
    burst: int = 10

    @field_validator("burst", mode="before")
    @classmethod
    def _burst(cls, value: object) -> object:
        if value is False or value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
            raise ValueError(f"must be 0 (off) or a number of alerts of 2 or more, "
                             f"not {value!r}")
        return value


class ConsoleChannelConfig(_ChannelBase):
    """Print alerts to standard output."""

    kind: Literal["console"]
    name: str = "console"


class EmailChannelConfig(_ChannelBase):
    """Send alerts by SMTP. The password comes from the environment variable ``password_env``;
    ``ca_file`` (PEM) trusts a private relay's certificate authority."""

    kind: Literal["email"]
    name: str = "email"
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str
    recipients: list[str] = Field(min_length=1)
    username: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout: Duration = 30.0

    _duration = field_validator("timeout", mode="before")(lambda cls, v: parse_duration(v))
    _env = field_validator("password_env")(lambda cls, v: v if v is None else env_name(v))

    @field_validator("recipients", mode="before")
    @classmethod
    def _one_recipient(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("security")
    @classmethod
    def _security_fits_port(cls, value: str, info: ValidationInfo) -> str:
        port = info.data.get("port")
        if port == 465 and value == "starttls":
            raise ValueError("port 465 is implicit TLS: use security: ssl (starttls is "
                             "for port 587)")
        if port == 587 and value == "ssl":
            raise ValueError("port 587 expects STARTTLS: use security: starttls (ssl is "
                             "for port 465)")
        return value


class SlackChannelConfig(_ChannelBase):
    """Post alerts to a Slack incoming webhook whose URL is in the env var
    ``webhook_url_env``; or, with ``bot_token_env`` (the env var holding a bot token)
    and ``channel`` (``C0123...`` or ``#news``), through the Web API's
    ``chat.postMessage``, so a story's later outlets become replies in its thread
    (``api_url``: the Web API's base URL, for a local look-alike)."""

    kind: Literal["slack"]
    name: str = "slack"
    webhook_url_env: str | None = None
    bot_token_env: str | None = None
    channel: str | None = None
    api_url: str = "https://slack.com/api"
    timeout: Duration = 10.0

    _duration = field_validator("timeout", mode="before")(lambda cls, v: parse_duration(v))
    _env = field_validator("webhook_url_env", "bot_token_env")(
        lambda cls, v: v if v is None else env_name(v))

    @model_validator(mode="after")
    def _webhook_or_bot(self) -> SlackChannelConfig:
        if self.bot_token_env and not self.channel:
            raise ValueError("bot_token_env needs channel (the Slack channel to post in)")
        if not self.bot_token_env and not self.webhook_url_env:
            raise ValueError("give webhook_url_env, or bot_token_env with channel")
        return self


class WebhookChannelConfig(_ChannelBase):
    """POST alerts as JSON to ``url``, or to the URL in the env var ``url_env``; with
    ``secret_env``, each body is signed with the secret in that env var (HMAC-SHA256,
    :mod:`monitor.alerts.webhook`)."""

    kind: Literal["webhook"]
    name: str = "webhook"
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    timeout: Duration = 10.0

    _duration = field_validator("timeout", mode="before")(lambda cls, v: parse_duration(v))
    _env = field_validator("url_env", "secret_env")(
        lambda cls, v: v if v is None else env_name(v))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        from monitor.urls import is_web_url

        if value is not None and not is_web_url(value):
            raise ValueError("must be an absolute http(s) URL (a URL holding a token "
                             "belongs in url_env)")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannelConfig:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url or url_env")
        return self


class AppriseChannelConfig(_ChannelBase):
    """Send alerts through Apprise (the optional extra ``news-monitor[apprise]``) to the
    one service whose Apprise URL (``ntfy://...``, ``tgram://...``, ``json://...``) is
    in the env var ``url_env``: the URL holds the service's token, so it is never written
    in the file or logged (messages show its scheme and host only).

    Attributes:
        url_env: the environment variable holding the Apprise URL.
        timeout: seconds for connecting and for reading the service's answer.
    """

    kind: Literal["apprise"]
    name: str = "apprise"
    url_env: str
    timeout: Duration = 10.0

    _duration = field_validator("timeout", mode="before")(lambda cls, v: parse_duration(v))
    _env = field_validator("url_env")(lambda cls, v: env_name(v))


ChannelConfig = Annotated[
    ConsoleChannelConfig
    | EmailChannelConfig
    | SlackChannelConfig
    | WebhookChannelConfig
    | AppriseChannelConfig,
    Field(discriminator="kind"),
]


def _console_only() -> list[ChannelConfig]:
    """The channels of a monitor.yaml that names none: the console."""
    return [ConsoleChannelConfig(kind="console")]


class CrawlConfig(_Strict):
    """Politeness and limits for the Scrapy downloader.

    Attributes:
        user_agent: the User-Agent header sent to sources.
        obey_robots: honour robots.txt.
        download_timeout: seconds before a request is given up.
        concurrent_per_domain: simultaneous requests to one host.
        autothrottle: adapt the delay to the server's latency (Scrapy AutoThrottle).
        download_delay: minimum seconds between requests to one host.
        concurrent_requests: simultaneous requests in all (Scrapy's CONCURRENT_REQUESTS).
        robots_max_age: seconds a host's robots.txt is kept before it is fetched again.
        redirectors: hosts of link shorteners and feed proxies: an article link on one
            of them may redirect to any site (unless the source declares
            ``allowed_domains``). Subdomains included.
        allow_private_networks: fetch links (and redirects, sitemap children) that lead
            to loopback, private, link-local (169.254.x.x, cloud metadata) or reserved
            addresses, checked after DNS resolution. False by default: such links are
            recorded as rejected; a source's own host and port are always allowed
            (:mod:`monitor.crawl.private`).
        max_document_bytes: the largest feed, sitemap or robots.txt downloaded, and
            the most a gzip document may unpack to, in bytes (Scrapy's
            DOWNLOAD_MAXSIZE; article pages have ``extraction.max_page_bytes``).
        max_document_items: the most entries read from one feed (its first ones) or
            kept from one sitemap (its newest ones) per poll; the rest of the
            document is not parsed or not kept (:mod:`monitor.xmlguard`).
    """

    user_agent: str = "news-monitor/0.1 (+https://github.com/news-monitor)"
    obey_robots: bool = True
    download_timeout: Duration = 20.0
    concurrent_per_domain: int = Field(default=2, ge=1)
    autothrottle: bool = True
    download_delay: float = Field(default=0.25, ge=0)
    concurrent_requests: int = Field(default=32, ge=1)
    robots_max_age: Duration = 86400.0
    allow_private_networks: bool = False
    max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_document_items: int = Field(default=1000, ge=1)
    redirectors: tuple[str, ...] = (
        "feedproxy.google.com", "feeds.feedburner.com", "news.google.com", "t.co",
        "bit.ly", "ow.ly", "buff.ly", "dlvr.it", "ift.tt", "trib.al", "lnkd.in",
        "tinyurl.com", "rss.app", "feedly.com", "flip.it", "apple.news")

    _durations = field_validator("download_timeout", "robots_max_age", mode="before")(
        lambda cls, v: parse_duration(v))
    _redirectors = field_validator("redirectors", mode="before")(
        lambda cls, v: domain_list(v))

    @field_validator("download_delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> object:
        # a pause may be zero, which parse_duration refuses
        if isinstance(value, str) and re.match(r"^\s*0+(\.0*)?\s*(ms|s|m|h)?\s*$", value):
            return 0.0
        return value if isinstance(value, (int, float)) else parse_duration(value)


class ExtractionConfig(_Strict):
    """Extraction limits (see :class:`monitor.models.ExtractOptions`) and parallelism.

    Attributes:
        workers: processes that extract pages during crawls (trafilatura is CPU-bound);
            default one per CPU core; 0 extracts on the core thread of the crawl process.
    """

    min_text_chars: int = Field(default=250, ge=0)
    max_page_bytes: int = Field(default=5_000_000, ge=1)
    workers: int | None = Field(default=None, ge=0, le=64)

    def options(self) -> ExtractOptions:
        """Returns: the limits as the core's :class:`ExtractOptions`."""
        return ExtractOptions(min_text_chars=self.min_text_chars,
                              max_page_bytes=self.max_page_bytes)


class DeliveryConfig(_Strict):
    """How the outbox is drained.

    Attributes:
        interval: seconds between two passes over pending alerts in the daemon.
        max_attempts: a failing alert is given up (status ``dead``) after this many tries.
        digest_interval: seconds between two digests for watches with ``mode: digest``.
        requeue_window: seconds; when a channel delivers again after failing, its alerts
            given up after transient failures (timeouts, refused connections, 5xx, 429)
            in this window before are queued again automatically, oldest first. 0 turns
            this off (``monitor deliver --retry-dead`` still re-queues by hand).
    """

    interval: Duration = 15.0
    max_attempts: int = Field(default=8, ge=1)
    digest_interval: Duration = 3600.0
    requeue_window: float = Field(default=86400.0, ge=0)

    _durations = field_validator("interval", "digest_interval", mode="before")(
        lambda cls, v: parse_duration(v))
    _window = field_validator("requeue_window", mode="before")(
        lambda cls, v: 0.0 if v in (0, "0") else parse_duration(v))


class HealthConfig(_Strict):
    """Source-health alerts (see :mod:`monitor.health`): each condition opens an
    episode, alerted once when it starts and once when it ends.

    Attributes:
        enabled: false sends no health alerts (``monitor status`` still shows them).
        channels: channel names health alerts go to; empty means every channel.
        failing_polls: a source is *failing* after this many failed polls in a row...
        failing_for: ...or once it has failed for this long (seconds).
        silent_factor: a source is *silent* when its last new article is older than this
            many times its median gap between new articles...
        silent_min: ...and older than this (seconds), so a busy source's lunch break
            is not an alert.
        silent_history: articles a source needs before it can be silent (its history).
        drift_window: recent pages compared with the source's own baseline (seconds).
        drift_baseline: the baseline: this long before the window (seconds).
        drift_min_pages: pages needed in the window and in the baseline.
        drift_rise: *extraction drift* when the share of pages rejected as too short,
            consent wall, listing page or no text rises by at least this (0-1)...
        drift_length_drop: ...or the median body length falls below this fraction of
            the baseline's.
        network_share: when at least this share of the enabled sources (and at least
            ``network_min_sources``) fail at once, one *network down* alert replaces
            the per-source ones.
        network_min_sources: see ``network_share``.
        interval: how often the conditions are checked by ``monitor run`` (seconds).
    """

    enabled: bool = True
    channels: tuple[str, ...] = ()
    failing_polls: int = Field(default=3, ge=1)
    failing_for: Duration = 6 * 3600.0
    silent_factor: float = Field(default=4.0, gt=1)
    silent_min: Duration = 12 * 3600.0
    silent_history: int = Field(default=5, ge=2)
    drift_window: Duration = 86400.0
    drift_baseline: Duration = 7 * 86400.0
    drift_min_pages: int = Field(default=5, ge=1)
    drift_rise: float = Field(default=0.3, gt=0, le=1)
    drift_length_drop: float = Field(default=0.5, gt=0, lt=1)
    network_share: float = Field(default=0.8, gt=0, le=1)
    network_min_sources: int = Field(default=3, ge=2)
    interval: Duration = 60.0

    _durations = field_validator("failing_for", "silent_min", "drift_window",
                                 "drift_baseline", "interval", mode="before")(
        lambda cls, v: parse_duration(v))


class ScheduleConfig(_Strict):
    """How polls are scheduled (see :mod:`monitor.schedule` for the rule).

    Attributes:
        max_backoff: longest delay, seconds, between two polls of a failing source.
        start_rate: polls a second at which new and overdue sources are started when
            the daemon starts (so 10,000 sources do not all poll in the first second).
        default_interval: the interval of sources imported from OPML, seconds.
    """

    max_backoff: Duration = 6 * 3600.0
    start_rate: float = Field(default=20.0, gt=0)
    default_interval: Duration = 900.0

    _durations = field_validator("max_backoff", "default_interval", mode="before")(
        lambda cls, v: parse_duration(v))


class DistributedConfig(_Strict):
    """The distributed mode on Redis (:mod:`monitor.distributed`): ``monitor run
    --redis URL`` schedules, writes and alerts; ``monitor worker --redis URL`` fetches
    and extracts, as many as needed.

    Attributes:
        enabled: run distributed without ``--redis`` on the command line (the URL is then
            read from ``redis_url_env``); false by default: one process, no Redis.
        redis_url_env: the environment variable holding the Redis URL
            (``redis://[:password@]host:6379/0``, ``rediss://`` for TLS); the URL is a
            secret (it may carry a password) and is never written in the file or logged.
        key_prefix: every Redis key of this monitor starts with it and a colon, so
            several monitors (or tests) can share one Redis.
        visibility_timeout: seconds a poll (or a result) taken by a worker (or the
            writer) may go unacknowledged, without the holder's heartbeat, before it is
            handed to another; a dead worker's polls are polled again after this.
        seen_ttl: seconds an article link stays known to the workers as seen (Redis
            keys that expire; the writer puts back those of the last ``seen_ttl`` from
            the store when Redis lost them).
        polls_per_worker: polls one worker runs at once at most (it takes no more from
            the queue meanwhile, so other workers get their share).
    """

    enabled: bool = False
    redis_url_env: str = Field(default="MONITOR_REDIS_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    key_prefix: str = Field(default="monitor", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    visibility_timeout: Duration = 60.0
    seen_ttl: Duration = 3 * 86400.0
    polls_per_worker: int = Field(default=8, ge=1, le=1000)

    _durations = field_validator("visibility_timeout", "seen_ttl", mode="before")(
        lambda cls, v: parse_duration(v))


class MonitorConfig(_Strict):
    """The whole of monitor.yaml.

    Attributes:
        path: the file this was read from (set by :func:`load_config`).
        database: SQLite file (relative to the config file's folder).
        rules: folder of watch rule files (relative to the config file's folder).
    """

    path: Path = Path("monitor.yaml")
    database: Path = Path("monitor.db")
    rules: Path = Path("rules")
    sources: list[SourceConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=_console_only)
    crawl: CrawlConfig = CrawlConfig()
    extraction: ExtractionConfig = ExtractionConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    health: HealthConfig = HealthConfig()
    distributed: DistributedConfig = DistributedConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _unique_names(self) -> MonitorConfig:
        for what, items in (("sources", self.sources), ("channels", self.channels)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.name in seen:
                    raise ValueError(f"{what}[{i}].name: {item.name!r} is used twice")
                seen.add(item.name)
        urls: dict[str, str] = {}
        for i, source in enumerate(self.sources):
            if source.url in urls:
                raise ValueError(f"sources[{i}].url: {source.url} is already the url of "
                                 f"source {urls[source.url]!r}; give each URL once")
            urls[source.url] = source.name
        names = {c.name for c in self.channels}
        for i, name in enumerate(self.health.channels):
            if name not in names:
                raise ValueError(f"health.channels[{i}]: no channel named {name!r} "
                                 f"(known: {', '.join(sorted(names))})")
        return self

    def source(self, name: str) -> SourceConfig:
        """Look up a source by name.

        Raises:
            ConfigError: no source has that name (the message lists the known names).
        """
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"{self.path}: no source named {name!r} (known: {known})")


class _DuplicateKey(yaml.YAMLError):
    """A mapping of monitor.yaml gives the same key twice (``line``/``column`` 1-based,
    of the second one)."""

    def __init__(self, key: str, line: int, column: int) -> None:
        super().__init__(f"key {key!r} is given twice")
        self.key, self.line, self.column = key, line, column


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader (libyaml's C parser when present) that refuses a mapping giving
    a key twice, where plain YAML loaders keep the last value silently.

    Raises:
        _DuplicateKey: naming the key and where its second occurrence starts.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == \
                        "tag:yaml.org,2002:merge":
                    continue
                if key_node.value in seen:
                    mark = key_node.start_mark
                    raise _DuplicateKey(key_node.value, mark.line + 1, mark.column + 1)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`_UniqueKeyLoader`, the cyclic garbage collector
    paused meanwhile: loading makes millions of objects that live until the end, and
    collecting them over and over cost two thirds of the time (100,000 sources: 2 s
    instead of 7 s).

    Raises:
        yaml.YAMLError: the text is not valid YAML, or a mapping gives a key twice.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    finally:
        if paused:
            gc.enable()


def _field_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("console", "email", "slack", "webhook", "apprise",
                      "function-after[_one_url()]"):
            continue  # discriminator tags pydantic adds to the location
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_lines(path: Path, exc: ValidationError) -> list[str]:
    """Every problem pydantic found, one line each: ``<file>: <field path>: <problem>``.

    Unknown keys come first (``urll: unknown setting`` explains ``url: Field required``
    below it); otherwise the problems keep the file's order. Pydantic's own wording is
    kept, without its ``Value error,`` prefix.

    Args:
        path: the config file, named at the start of every line.
        exc: the validation error.

    Returns:
        One line per problem (never empty).
    """
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    lines = []
    for err in errors:
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif err["type"] == "float_parsing" and err["loc"] and err["loc"][-1] in _DURATION_FIELDS:
            msg = 'must be a duration such as 90, "30s", "15m" or "1h"'
        field = _field_path(err["loc"])
        line = f"{path}: {field}: {msg}" if field else f"{path}: {msg}"
        if line not in lines:
            lines.append(line)
    return lines


def load_config(path: str | os.PathLike[str] = "monitor.yaml") -> MonitorConfig:
    """Read and validate monitor.yaml.

    Args:
        path: the config file.

    Returns:
        The validated config, with ``database`` and ``rules`` made absolute.

    Raises:
        ConfigError: the file is missing, not UTF-8, not YAML, gives a key twice in
            one mapping, is not a mapping, or fails validation; the message is one
            line per problem: ``<file>: <field>: <problem>`` (``<file>:<line>:<column>:
            <problem>`` where there is a place in the file).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
        raw = _load_yaml(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}:{line}:{column}: cannot read: not UTF-8 (byte "
                          f"0x{data[exc.start]:02x}); save the file as UTF-8") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: key {exc.key!r} is given "
                          f"twice") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    try:
        config = MonitorConfig(**{**raw, "path": path})
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_lines(path, exc))) from None
    base = path.resolve().parent
    return config.model_copy(update={
        "database": config.database if config.database.is_absolute() else base / config.database,
        "rules": config.rules if config.rules.is_absolute() else base / config.rules,
    })


def secret_from_env(config_path: Path, field: str, env_name: str | None) -> str | None:
    """Read a secret from the environment variable named in the config.

    Args:
        config_path: monitor.yaml, for the error message.
        field: the config field that names the variable (e.g. ``channels[1].password_env``).
        env_name: the variable's name, or None when the field is not set.

    Returns:
        The value, or None when ``env_name`` is None.

    Raises:
        ConfigError: the variable is named but not set or empty (the value is never shown).
    """
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(
            f"{config_path}: {field}: environment variable {env_name} is not set")
    return value
