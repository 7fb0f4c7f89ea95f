"""The Redis keys and calls of the distributed mode (blocking; redis-py).

Keys, all under ``<prefix>:`` (``distributed.key_prefix``):

    tasks           stream of poll tasks (writer -> workers), consumer group "workers"
    results         stream of pages, link outcomes and poll results (workers -> writer),
                    consumer group "writer"
    inflight        hash run_id -> source: polls the writer handed out (for its restart)
    validators      hash document URL -> JSON [etag, last_modified] the writer kept (for
                    a sitemap index's children: the poll task carries its source's own)
    seen:<hash>     an article link the writer wrote; expires (``seen_ttl``, or at the
                    link's retry time for a transient outcome)
    claim:<hash>    an article link being fetched: the run_id of the poll fetching it
    gate:<host>     the host's next free request time (ms, Redis clock)
    workers         sorted set worker id -> last heartbeat (unix seconds)
    worker:<id>     hash: host, pid, started, polls; expires with its heartbeats
    writer          the running writer's id (host, pid), expiring: one writer at a time
    epoch           set by the writer when it set Redis up; missing = Redis lost its data

Every method may raise ``redis.exceptions.ConnectionError`` (or ``TimeoutError``) while
Redis is away; the callers retry (see :class:`Outage`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.clock import utcnow
from monitor.errors import ConfigError
from monitor.records import PollTask
from monitor.urls import url_key
from monitor.wire import WireError, decode, encode

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

log = logging.getLogger(__name__)

#: Errors that mean Redis is away (restarting, unreachable): retried, never fatal.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

#: A poll taken over this many times (its workers died each time: killed, out of
#: memory on one document) is given up as failed instead of being handed out again.
MAX_DELIVERIES = 5

WORKERS_GROUP = "workers"
WRITER_GROUP = "writer"
WRITER_CONSUMER = "writer"

# Reserve the host's next request slot: returns the milliseconds to wait before sending.
# KEYS[1] gate key; ARGV[1] delay in ms. Uses Redis's clock, so workers' clocks may differ.
_GATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local delay = tonumber(ARGV[1])
local start = math.max(now, nxt)
redis.call('SET', KEYS[1], start + delay, 'PX', start - now + delay + 1000)
return start - now
"""

# Claim an article link for a poll: true when free, or already claimed by the same poll
# (a poll handed to another worker after a crash keeps its claims).
# KEYS[1] claim key; ARGV[1] run_id; ARGV[2] ttl ms.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""


def redis_url(config: MonitorConfig, given: str | None) -> str:
    """The Redis URL: ``--redis URL`` when given, else the variable
    ``distributed.redis_url_env`` names.

    Raises:
        ConfigError: neither is set, or the URL is not redis://, rediss:// or unix://
            (the message never shows the URL: it may hold a password).
    """
    field = "distributed.redis_url_env"
    url = given or os.environ.get(config.distributed.redis_url_env)
    if not url:
        raise ConfigError(f"{config.path}: {field}: environment variable "
                          f"{config.distributed.redis_url_env} is not set (or give "
                          f"--redis URL)")
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{config.path}: the Redis URL must start with redis://, "
                          f"rediss:// or unix://")
    return url


def where(url: str) -> str:
    """``redis://host:port/db`` without user or password, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or ''}"


def link_key(url: str) -> str:
    """A short, fixed-size key part for an article link: BLAKE2b (16 bytes, hex) of its
    identity key (:func:`monitor.urls.url_key`), so a link listed with a tracking
    parameter or a fragment is the link the writer marked seen."""
    return hashlib.blake2b(url_key(url).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


class Outage:
    """Logs Redis going away and coming back, once each (not once per retry).

    Args:
        where: the Redis, as :func:`where` shows it.
        role: "writer" or "worker", for the log lines.
    """

    def __init__(self, where: str, role: str) -> None:
        self.where = where
        self.role = role
        self.since: float | None = None

    def down(self, exc: BaseException) -> None:
        """Note a failed call; logs a warning the first time."""
        if self.since is None:
            self.since = time.monotonic()
            log.warning("redis %s unreachable (%s: %s); the %s retries every second, "
                        "nothing is lost meanwhile", self.where, type(exc).__name__,
                        str(exc)[:200] or "no answer", self.role)

    def up(self) -> bool:
        """Note a call that worked. Returns: True when Redis was away until now."""
        if self.since is None:
            return False
        log.warning("redis %s reachable again after %.0f s; the %s goes on", self.where,
                    time.monotonic() - self.since, self.role)
        self.since = None
        return True


class Queues:
    """The streams and keys of one monitor (one key prefix) on one Redis.

    Args:
        url: the Redis URL.
        prefix: the key prefix (``distributed.key_prefix``).
        visibility_timeout: seconds before an unacknowledged, idle message is handed to
            another consumer.
        seen_ttl: seconds a seen link is remembered.
    """

    def __init__(self, url: str, prefix: str, visibility_timeout: float = 60.0,
                 seen_ttl: float = 3 * 86400.0) -> None:
        self.url = url
        self.where = where(url)
        self.prefix = prefix
        self.visibility_ms = max(1, int(visibility_timeout * 1000))
        self.seen_ttl_ms = max(1000, int(seen_ttl * 1000))
        # redis-py types every reply as bytes | str (it cannot know decode_responses);
        # this client never decodes, so replies are bytes: Any here, rather than a cast
        # at each of thirty calls
        self.redis: Any = redis.Redis.from_url(url, socket_timeout=5,
                                               socket_connect_timeout=3,
                                               health_check_interval=5)
        self.tasks = f"{prefix}:tasks"
        self.results = f"{prefix}:results"
        self.inflight = f"{prefix}:inflight"
        self.validators_key = f"{prefix}:validators"
        self.workers = f"{prefix}:workers"
        self.writer_key = f"{prefix}:writer"
        self.epoch_key = f"{prefix}:epoch"
        self._gate = self.redis.register_script(_GATE)
        self._claim = self.redis.register_script(_CLAIM)

    @classmethod
    def from_config(cls, config: MonitorConfig, url: str) -> Queues:
        """Queues for monitor.yaml's ``distributed`` section and a Redis URL."""
        d = config.distributed
        return cls(url, d.key_prefix, d.visibility_timeout, d.seen_ttl)

    def close(self) -> None:
        """Close the connections."""
        self.redis.close()

    # -- set-up --------------------------------------------------------------------

    def ensure_groups(self) -> None:
        """Create both streams and their consumer groups if missing (idempotent)."""
        for stream, group in ((self.tasks, WORKERS_GROUP), (self.results, WRITER_GROUP)):
            try:
                self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def has_epoch(self) -> bool:
        """False when Redis lost this monitor's data (restarted empty, flushed)."""
        return bool(self.redis.exists(self.epoch_key))

    def set_epoch(self) -> None:
        """Mark Redis as set up by the writer."""
        self.redis.set(self.epoch_key, utcnow().isoformat())

    def lock_writer(self, me: str) -> str | None:
        """Take (or keep) the writer's place for ``3 * visibility_timeout``.

        Returns:
            None when this writer holds it; else the id of the writer holding it.
        """
        ttl = 3 * self.visibility_ms
        if self.redis.set(self.writer_key, me, nx=True, px=ttl):
            return None
        holder = self.redis.get(self.writer_key)
        holder = holder.decode() if holder else None
        if holder == me:
            self.redis.pexpire(self.writer_key, ttl)
            return None
        if holder is None:  # expired between the two calls
            return self.lock_writer(me)
        return holder

    def unlock_writer(self, me: str) -> None:
        """Give up the writer's place if this writer holds it."""
        holder = self.redis.get(self.writer_key)
        if holder is not None and holder.decode() == me:
            self.redis.delete(self.writer_key)

    # -- polls: writer -> workers ----------------------------------------------------

    def publish(self, tasks: list[PollTask]) -> list[str]:
        """Put poll tasks on the tasks stream and note them in flight (one round trip).

        Returns:
            The tasks' message ids, in order.
        """
        if not tasks:
            return []
        pipe = self.redis.pipeline(transaction=True)
        for task in tasks:
            pipe.xadd(self.tasks, {"m": encode(task)})
            pipe.hset(self.inflight, str(task.run_id), task.source)
        replies = pipe.execute()
        return [r.decode() if isinstance(r, bytes) else str(r) for r in replies[::2]]

    def task_exists(self, message_id: str) -> bool:
        """Whether a poll is still on the tasks stream (waiting, or held by a worker)."""
        return bool(self.redis.xrange(self.tasks, min=message_id, max=message_id, count=1))

    def prune_consumers(self, idle: float = 86400.0) -> int:
        """Forget workers (consumers of the tasks group) idle for ``idle`` seconds that
        hold nothing (each worker process is a consumer of its own).

        Returns:
            How many were forgotten.
        """
        gone = 0
        for consumer in self.redis.xinfo_consumers(self.tasks, WORKERS_GROUP):
            if consumer["pending"] == 0 and consumer["idle"] > idle * 1000:
                self.redis.xgroup_delconsumer(self.tasks, WORKERS_GROUP, consumer["name"])
                gone += 1
        return gone

    def in_flight(self) -> dict[int, str]:
        """Returns: run_id -> source of the polls handed out and not finished."""
        return {int(k): v.decode() for k, v in self.redis.hgetall(self.inflight).items()}

    def done_in_flight(self, run_ids: Iterable[int]) -> None:
        """Forget polls the writer closed."""
        ids = [str(r) for r in run_ids]
        if ids:
            self.redis.hdel(self.inflight, *ids)

    def drop_undelivered(self) -> int:
        """Delete the tasks no worker took yet (a new writer makes its own).

        Returns:
            How many were deleted.
        """
        groups = {g["name"].decode(): g for g in self.redis.xinfo_groups(self.tasks)}
        group = groups.get(WORKERS_GROUP)
        last = group["last-delivered-id"].decode() if group else "0-0"
        ids = [mid for mid, _ in self.redis.xrange(self.tasks, min=f"({last}")]
        if ids:
            self.redis.xdel(self.tasks, *ids)
        return len(ids)

    def take_tasks(self, consumer: str, count: int, block_ms: int
                   ) -> list[tuple[str, PollTask]]:
        """Take up to ``count`` polls: first those idle longer than the visibility
        timeout (their worker died), then new ones, waiting up to ``block_ms``.

        Returns:
            (message id, PollTask) pairs; a message that cannot be read is acknowledged,
            logged and skipped; a poll taken over more than ``MAX_DELIVERIES`` times is
            acknowledged with a failed RunResult (the writer backs the source off).
        """
        out = []
        claimed = self.redis.xautoclaim(self.tasks, WORKERS_GROUP, consumer,
                                        min_idle_time=self.visibility_ms, start_id="0-0",
                                        count=count)
        for mid, fields in claimed[1]:
            if not fields:
                continue
            info = self.redis.xpending_range(self.tasks, WORKERS_GROUP, min=mid, max=mid,
                                             count=1)
            deliveries = info[0]["times_delivered"] if info else 1
            if deliveries > MAX_DELIVERIES and self._give_up(mid, fields, deliveries):
                continue
            log.warning("poll %s taken over from a worker that handed it back or sent no "
                        "heartbeat for %.0f s (delivery %d)", mid.decode(),
                        self.visibility_ms / 1000, deliveries)
            out.append((mid, fields))
        if len(out) < count:
            read = self.redis.xreadgroup(WORKERS_GROUP, consumer, {self.tasks: ">"},
                                         count=count - len(out),
                                         block=block_ms if not out else None)
            for _stream, messages in read or []:
                out.extend((mid, fields) for mid, fields in messages if fields)
        tasks = []
        for mid, fields in out:
            try:
                task = decode(fields[b"m"])
                if not isinstance(task, PollTask):
                    raise WireError(f"a {type(task).__name__} on the tasks stream")
                tasks.append((mid.decode(), task))
            except Exception as exc:
                log.error("poll message %s cannot be read, dropped: %s", mid.decode(), exc)
                self.redis.xack(self.tasks, WORKERS_GROUP, mid)
        return tasks

    def _give_up(self, mid: bytes, fields: dict[bytes, bytes], deliveries: int) -> bool:
        """Close a poll whose workers kept dying with a failed result. Returns: True
        when done (False: the message cannot be read; the caller handles it)."""
        from monitor.records import RunResult

        try:
            task = decode(fields[b"m"])
        except Exception:
            return False
        if not isinstance(task, PollTask):
            return False
        now = utcnow()
        error = (f"poll given up: the {deliveries - 1} workers that took it stopped "
                 f"before finishing it (killed, out of memory?)")
        log.error("source %s: %s", task.source, error)
        self.send([RunResult(task.run_id, task.source, task.url, False, error, 0, 0, False,
                             now, now, task.due_at)], mid.decode())
        return True

    def touch(self, consumer: str, message_ids: list[str]) -> None:
        """Keep the worker's polls (resets their idle time): its heartbeat."""
        if message_ids:
            self.redis.xclaim(self.tasks, WORKERS_GROUP, consumer, 0, message_ids,
                              justid=True)

    # -- results: workers -> writer --------------------------------------------------

    def send(self, records: list[Any], ack_task: str | None = None) -> None:
        """Put records on the results stream; with ``ack_task``, acknowledge (and
        delete) that poll in the same transaction.

        Args:
            records: what :func:`monitor.wire.encode` takes.
            ack_task: the poll's message id, sent with its RunResult.
        """
        pipe = self.redis.pipeline(transaction=True)
        for record in records:
            pipe.xadd(self.results, {"m": encode(record)})
        if ack_task is not None:
            pipe.xack(self.tasks, WORKERS_GROUP, ack_task)
            pipe.xdel(self.tasks, ack_task)
        pipe.execute()

    def read_results(self, count: int, block_ms: int | None, pending: bool
                     ) -> list[tuple[str, bytes]]:
        """The writer's next results: with ``pending``, those it received before and did
        not acknowledge (after its restart, or a failed write), else new ones.

        Returns:
            (message id, JSON bytes) pairs, oldest first.
        """
        read = self.redis.xreadgroup(WRITER_GROUP, WRITER_CONSUMER,
                                     {self.results: "0" if pending else ">"}, count=count,
                                     block=None if pending else block_ms)
        out = []
        for _stream, messages in read or []:
            for mid, fields in messages:
                if fields:
                    out.append((mid.decode(), fields[b"m"]))
                else:   # deleted meanwhile: nothing to do
                    self.redis.xack(self.results, WRITER_GROUP, mid)
        return out

    def ack_results(self, message_ids: list[str], seen: dict[str, int],
                    done_runs: Iterable[int] = (),
                    validators: dict[str, tuple[str | None, str | None]] | None = None
                    ) -> None:
        """After the commit: acknowledge (and delete) results, mark links seen and
        release their claims, forget the polls closed and share the documents'
        validators, in one transaction.

        Args:
            message_ids: the results written.
            seen: article link -> milliseconds it stays seen.
            done_runs: run ids of the polls closed.
            validators: document URL -> (etag, last_modified) as the store keeps them
                now ((None, None): forgotten).
        """
        pipe = self.redis.pipeline(transaction=True)
        for url, (etag, modified) in (validators or {}).items():
            if etag or modified:
                pipe.hset(self.validators_key, url, json.dumps([etag, modified]))
            else:
                pipe.hdel(self.validators_key, url)
        if message_ids:
            pipe.xack(self.results, WRITER_GROUP, *message_ids)
            pipe.xdel(self.results, *message_ids)
        for url, ttl in seen.items():
            key = link_key(url)
            pipe.set(f"{self.prefix}:seen:{key}", 1, px=max(1, ttl))
            pipe.delete(f"{self.prefix}:claim:{key}")
        runs = [str(r) for r in done_runs]
        if runs:
            pipe.hdel(self.inflight, *runs)
        pipe.execute()

    def mark_seen(self, seen: dict[str, int]) -> None:
        """Mark links seen (link -> milliseconds), in batches (the writer's re-seeding)."""
        items = list(seen.items())
        for i in range(0, len(items), 5000):
            pipe = self.redis.pipeline(transaction=False)
            for url, ttl in items[i:i + 5000]:
                pipe.set(f"{self.prefix}:seen:{link_key(url)}", 1, px=max(1, ttl))
            pipe.execute()

    # -- what workers ask ----------------------------------------------------------

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """Returns: (etag, last_modified) the writer kept for a document, or (None,
        None)."""
        value = self.redis.hget(self.validators_key, url)
        if not value:
            return None, None
        etag, modified = json.loads(value)
        return etag, modified

    def unseen(self, urls: Iterable[str]) -> set[str]:
        """The links among ``urls`` not marked seen (one MGET per 1,000)."""
        urls = list(dict.fromkeys(urls))
        out: set[str] = set()
        for i in range(0, len(urls), 1000):
            chunk = urls[i:i + 1000]
            values = self.redis.mget([f"{self.prefix}:seen:{link_key(u)}" for u in chunk])
            out.update(u for u, v in zip(chunk, values, strict=True) if v is None)
        return out

    def claim(self, url: str, run_id: int) -> bool:
        """Claim a link for a poll for ``2 * visibility_timeout`` (at least a minute).

        Returns:
            False when another poll holds it.
        """
        ttl = max(60_000, 2 * self.visibility_ms)
        return bool(self._claim(keys=[f"{self.prefix}:claim:{link_key(url)}"],
                                args=[str(run_id), ttl]))

    def reserve(self, host: str, delay: float) -> float:
        """Reserve the host's next request slot, ``delay`` seconds after the last one
        any worker reserved.

        Returns:
            Seconds to wait before sending (0 when the host is free now).
        """
        wait = self._gate(keys=[f"{self.prefix}:gate:{host}"], args=[int(delay * 1000)])
        return int(wait) / 1000

    # -- workers' heartbeats and status ------------------------------------------

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        """Note a worker alive now, with its host, pid, start time and counters."""
        now = time.time()
        key = f"{self.prefix}:worker:{worker_id}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.workers, {worker_id: now})
        pipe.hset(key, mapping={k: str(v) for k, v in info.items()})
        pipe.expire(key, 3600)
        pipe.zremrangebyscore(self.workers, "-inf", now - 86400)
        pipe.execute()

    def status(self, within: float = 300.0) -> dict[str, Any]:
        """What ``monitor status`` shows of the distributed mode.

        Args:
            within: seconds: workers whose last heartbeat is more recent are listed.

        Returns:
            ``{"redis": where, "workers": [{"id", "host", "pid", "polls", "seen_ago"}],
            "tasks": {"waiting", "taken", "oldest_age"}, "results": {"waiting",
            "taken", "oldest_age"}, "in_flight": n, "writer": id or None}``;
            ages in seconds (None when the queue is empty).
        """
        now = time.time()
        workers = []
        for wid, score in self.redis.zrangebyscore(self.workers, now - within, "+inf",
                                                   withscores=True):
            wid = wid.decode()
            info = {k.decode(): v.decode() for k, v in
                    self.redis.hgetall(f"{self.prefix}:worker:{wid}").items()}
            workers.append({"id": wid, "host": info.get("host"), "pid": info.get("pid"),
                            "polls": int(info.get("polls", 0)),
                            "seen_ago": round(now - score, 1)})
        writer = self.redis.get(self.writer_key)
        return {"redis": self.where, "workers": workers,
                "tasks": self._depth(self.tasks, WORKERS_GROUP, now),
                "results": self._depth(self.results, WRITER_GROUP, now),
                "in_flight": self.redis.hlen(self.inflight),
                "writer": writer.decode() if writer else None}

    def _depth(self, stream: str, group: str, now: float) -> dict[str, Any]:
        length = self.redis.xlen(stream)
        taken = 0
        try:
            taken = self.redis.xpending(stream, group)["pending"]
        except ResponseError:   # no group yet
            pass
        first = self.redis.xrange(stream, count=1)
        oldest = None
        if first:
            ms = int(first[0][0].decode().split("-")[0])
            oldest = round(max(0.0, now - ms / 1000), 1)
        return {"waiting": max(0, length - taken), "taken": taken, "oldest_age": oldest}

    def clear(self) -> int:
        """Delete every key of this prefix (tests, benchmarks). Returns: keys deleted."""
        n = 0
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            n += self.redis.delete(key)
        return n


def consumer_id() -> str:
    """A worker's or writer's id: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"
