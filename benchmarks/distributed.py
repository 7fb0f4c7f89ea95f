"""The distributed mode against the single-process mode, and the writer's own cost.

    python benchmarks/distributed.py [--articles 900] [--feeds 10] [--redis URL]

One local site (``--feeds`` feeds, ``--articles`` distinct articles in all, each a hit of
the shipped watch) is crawled, each time into a fresh database, by:

- ``single``: ``monitor run`` (the embedded mode: one process, its extraction workers);
- ``writer + 1 worker`` and ``writer + 2 workers``: ``monitor run --redis`` and
  ``monitor worker --redis`` processes (workers started first and waited for).

For each: articles per second from the first request the site sees to the moment every
article is in the database, and CPU seconds per article of all the monitor's processes
(extraction children included), with Redis's own CPU beside it.

Then the writer alone: its results stream is filled with already extracted pages and the
writer (:class:`monitor.distributed.writer.WriterEngine`, in this process) writes them
all; articles per second and CPU per article of that part only, which is what one writer
must sustain for any number of workers (target: 200 articles/s).

Needs a Redis (default redis://127.0.0.1:6379/0); uses a key prefix of its own and
deletes its keys. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.distributed_site import article_html, build_site  # noqa: E402
from tests.servers import SiteServer  # noqa: E402

# The test site (werkzeug's server) listens with a backlog of 128. Python's default of 5
# dropped connections when the crawl opened a dozen at once, and each dropped SYN waited
# a second to be sent again: that capped every mode near 57 articles/s.


def cpu_of(procs: list[psutil.Process]) -> float:
    """CPU seconds (user + system) of these processes and their living children."""
    total = 0.0
    for proc in procs:
        try:
            family = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in family:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


def redis_process(url: str) -> psutil.Process | None:
    """The redis-server answering on the URL's port, when this user may see it."""
    from urllib.parse import urlsplit
    port = urlsplit(url).port or 6379
    for conn in psutil.net_connections("tcp"):
        if conn.status == "LISTEN" and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=10)
        try:
            return conn.execute("select count(*) from articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def write_config(folder: Path, sources: list[dict], prefix: str) -> Path:
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump({
        "database": str(folder / "monitor.db"), "rules": str(REPO / "rules"),
        "sources": sources, "channels": [{"kind": "console"}],
        "crawl": {"download_delay": 0, "autothrottle": False, "obey_robots": False,
                  "concurrent_per_domain": 16, "allow_private_networks": True},
        "delivery": {"interval": "1h", "digest_interval": "1d"},
        "health": {"enabled": False},
        "distributed": {"key_prefix": prefix, "visibility_timeout": "30s",
                        "polls_per_worker": 4},
        "log_level": "WARNING"}))
    return path


def start(config: Path, *args: str) -> subprocess.Popen:
    """A monitor process; its log goes to a file beside its config (never a pipe that
    nobody reads while it runs: a full pipe would stop it)."""
    with open(config.parent / f"{args[0]}-{time.monotonic_ns()}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(config),
                                 *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                text=True)
        proc.log_path = log.name
    return proc


def tail(proc: subprocess.Popen) -> str:
    """The last lines a process logged."""
    return "\n".join(Path(proc.log_path).read_text().splitlines()[-20:])


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def crawl(mode: str, workers: int, n: int, feeds: int, url: str, prefix: str,
          redis_proc: psutil.Process | None) -> dict:
    """One crawl of a fresh site into a fresh database; see the module's docstring."""
    with tempfile.TemporaryDirectory() as tmp, SiteServer() as site:
        folder = Path(tmp)
        sources = build_site(site, feeds=feeds, per_feed=n // feeds)
        config = write_config(folder, sources, prefix)
        db = folder / "monitor.db"
        procs: list[subprocess.Popen] = []
        try:
            if workers:
                from monitor.distributed.queues import Queues
                queues = Queues(url, prefix)
                for _ in range(workers):
                    procs.append(start(config, "worker", "--redis", url))
                deadline = time.monotonic() + 60
                while len(queues.status()["workers"]) < workers:
                    if time.monotonic() > deadline:
                        sys.exit("workers did not start:\n" + tail(procs[0]))
                    time.sleep(0.2)
                queues.close()
                procs.append(start(config, "run", "--redis", url))
            else:
                procs.append(start(config, "run"))
            ps = [psutil.Process(p.pid) for p in procs]
            deadline = time.monotonic() + 300
            while not site.requests:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    sys.exit(f"{mode}: no request reached the site")
                time.sleep(0.01)
            t0 = site.requests[0].at
            cpu0 = cpu_of(ps)
            s0 = time.process_time()
            r0 = cpu_of([redis_proc]) if redis_proc else 0.0
            while stored(db) < n:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    sys.exit(f"{mode}: only {stored(db)} of {n} articles stored\n"
                             + "\n".join(tail(p) for p in procs))
                time.sleep(0.05)
            t1 = time.time()
            cpu1 = cpu_of(ps)
            s1 = time.process_time()
            r1 = cpu_of([redis_proc]) if redis_proc else 0.0
        finally:
            stop(procs)
            if workers:
                from monitor.distributed.queues import Queues
                queues = Queues(url, prefix)
                queues.clear()
                queues.close()
    seconds = t1 - t0
    return {"mode": mode, "articles": n, "seconds": seconds, "rate": n / seconds,
            "cpu_ms": 1000 * (cpu1 - cpu0) / n, "redis_cpu_ms": 1000 * (r1 - r0) / n,
            "site_cpu_ms": 1000 * (s1 - s0) / n}


def writer_alone(n: int, url: str, prefix: str) -> dict:
    """Fill the results stream with ``n`` extracted pages, then time the writer."""
    from datetime import datetime, timezone

    from monitor.config import load_config
    from monitor.distributed.queues import Queues
    from monitor.distributed.writer import WriterContext, WriterEngine
    from monitor.extract import extract
    from monitor.models import ExtractOptions, Page

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = load_config(write_config(folder, [], prefix))
        queues = Queues.from_config(config, url)
        queues.clear()
        queues.ensure_groups()
        options = ExtractOptions()
        now = datetime.now(timezone.utc)
        records = []
        for i in range(n):
            link = f"http://127.0.0.1:1/news/w{i}.html"
            page = Page(link, article_html(10_000 + i, link), "wire", fetched_at=now,
                        run_id=1)
            records.append((page, extract(page, options)))
        for i in range(0, n, 100):
            queues.send(records[i:i + 100])
        context = WriterContext(config, queues)
        engine = WriterEngine(context)
        engine._check_epoch()
        c0, t0 = time.process_time(), time.perf_counter()
        done = empty = 0
        while done < n and empty < 5:
            got = context.executor.submit(engine._consume_once).result()
            empty = 0 if got else empty + 1
            done += got
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        articles = context.core_store.counts()["articles"]
        context.close()
        queues = Queues.from_config(config, url)
        queues.clear()
        queues.close()
    if articles != n:
        sys.exit(f"writer alone: {articles} of {n} articles stored")
    return {"mode": "writer alone", "articles": n, "seconds": seconds, "rate": n / seconds,
            "cpu_ms": 1000 * cpu / n, "redis_cpu_ms": float("nan"),
            "site_cpu_ms": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=900)
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--redis", default=os.environ.get("MONITOR_REDIS_URL",
                                                           "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    n = args.articles - args.articles % args.feeds
    import redis
    try:
        redis.Redis.from_url(args.redis, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        sys.exit(f"no Redis at {args.redis}: {exc}")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    redis_proc = redis_process(args.redis)
    rows = [crawl("single process", 0, n, args.feeds, args.redis, prefix, redis_proc),
            crawl("writer + 1 worker", 1, n, args.feeds, args.redis, prefix, redis_proc),
            crawl("writer + 2 workers", 2, n, args.feeds, args.redis, prefix, redis_proc),
            writer_alone(n, args.redis, prefix)]
    print(f"{n} articles, {args.feeds} feeds, {os.cpu_count()} cores; Redis {args.redis}")
    print(f"{'mode':<20} {'seconds':>8} {'articles/s':>11} {'CPU ms/article':>15} "
          f"{'Redis ms/article':>17} {'site ms/article':>16}")
    for r in rows:
        def ms(v: float) -> str:
            return "-" if v != v else f"{v:.2f}"
        print(f"{r['mode']:<20} {r['seconds']:>8.2f} {r['rate']:>11.1f} {r['cpu_ms']:>15.1f} "
              f"{ms(r['redis_cpu_ms']):>17} {ms(r['site_cpu_ms']):>16}")
    print("CPU: the monitor's processes (extraction children included); Redis: the "
          "redis-server's CPU; site: the local test site's (this process), which shares "
          "the same cores")


if __name__ == "__main__":
    main()
