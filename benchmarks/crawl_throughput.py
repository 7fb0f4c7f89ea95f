"""Live crawl throughput against bare trafilatura on one core, measured in the same run.

    python benchmarks/crawl_throughput.py [--pages N] [--workers W]

Serves 2N real news pages (from ../shared/corpus/pages when present, else copies of
seeds/) on 127.0.0.1 from a small asyncio server in a thread of this process (prebuilt
responses, keep-alive: next to no CPU), with two RSS feeds: one listing the first N
pages, one listing all 2N. Then, in the same run:

- bare: ``trafilatura.extract`` of the last N pages in this process, one after the other
  (one core): pages per second by wall clock and by CPU time, measured before and after
  the crawls (the mean is used, so that load from other processes counts alike);
- pipeline: ``Pipeline.process`` over the same N pages in this process (extract, match,
  store), the floor that any crawl pays on one core;
- crawl: ``monitor crawl`` in a subprocess (Scrapy downloader, feed parsing, extraction in
  W worker processes, dedup, match and store on the writer thread) of the short feed and
  of the long one, each ``--repeat`` times into a fresh database. The last N pages alone
  are timed by difference: the long crawls' mean minus the short crawls' mean, in CPU
  (crawl process and workers) and in seconds from the first article request to the exit,
  so that start-up, worker start, the last page's extraction and shut-down cancel.

Printed: pages per second of each, the crawl's CPU per page (crawl process and its
workers), and the crawl's rate over the bare one-core rate (target: at least 1.7 with 2
workers on 2 cores). Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.matching import load_watches  # noqa: E402
from monitor.models import ExtractOptions, Page  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402
from monitor.store import Store  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pages" / "html"
TARGET = 1.7


def load_pages(n: int) -> list[bytes]:
    """Up to ``n`` page bodies: corpus pages if present, else the seeds repeated."""
    if CORPUS.is_dir():
        files = sorted(CORPUS.rglob("*.html.gz"))[:n]
        return [gzip.decompress(f.read_bytes()) for f in files]
    seeds = [p.read_bytes() for p in sorted((REPO / "seeds").glob("*.html"))]
    return [seeds[i % len(seeds)].replace(b'rel="canonical"', b'rel="x"') for i in range(n)]


def rss(urls: list[str]) -> bytes:
    items = "".join(f"<item><title>t{i}</title><link>{u}</link></item>"
                    for i, u in enumerate(urls))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>bench</title>'
            f"<link>http://127.0.0.1/</link><description>d</description>{items}"
            f"</channel></rss>").encode()


class StaticSite:
    """An HTTP/1.1 server on 127.0.0.1 (port 0) answering GETs from a table of
    prebuilt responses, in a thread: ``with StaticSite(routes) as site: site.url(p)``."""

    def __init__(self, routes: dict[str, tuple[str, bytes]]) -> None:
        self._responses: dict[str, bytes] = {}
        for path, (ctype, body) in routes.items():
            self.set(path, ctype, body)
        self._missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        self._ready = threading.Event()
        self.port = 0
        #: when each article page was requested (perf_counter seconds), in order
        self.article_requests: list[float] = []

    def set(self, path: str, ctype: str, body: bytes) -> None:
        """Answer GET ``path`` with 200, ``ctype`` and ``body`` from now on."""
        self._responses[path] = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1")
                if path.startswith("/a/"):
                    self.article_requests.append(time.perf_counter())
                writer.write(self._responses.get(path, self._missing))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        async def main() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            async with server:
                await self._stop.wait()
        asyncio.run(main())

    def __enter__(self) -> StaticSite:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# ``monitor crawl`` that prints its own CPU seconds (not its workers') on the way out
_CRAWL_SELF_CPU = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('crawl-process-cpu', sum(resource.getrusage("
    "resource.RUSAGE_SELF)[:2]), file=sys.stderr))\n"
    "sys.argv[0] = 'monitor'\n"
    "from monitor.cli import main\n"
    "main()\n")


@dataclass
class Crawl:
    """One ``monitor crawl``: wall seconds, CPU seconds of the crawl process and its
    workers, CPU seconds of the crawl process alone, article pages with an outcome, and
    the seconds from its first article request to its exit (start-up left out)."""

    seconds: float
    cpu: float
    own_cpu: float
    pages: int
    active: float


def run_crawl(tmp: Path, site: StaticSite, feed: str, name: str, workers: int) -> Crawl:
    """One ``monitor crawl`` of the site's ``feed`` into a fresh database."""
    feed_url = site.url(feed)
    site.article_requests.clear()
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": str(tmp / f"{name}.db"), "rules": str(REPO / "rules"),
        "sources": [{"name": name, "kind": "feed", "url": feed_url, "max_articles": 100000}],
        "crawl": {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 8,
                  "obey_robots": False},
        "extraction": {"workers": workers},
        "log_level": "WARNING"}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CRAWL_SELF_CPU, "-c", str(cfg), "crawl"],
                          cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"monitor crawl failed:\n{done.stderr[-2000:]}")
    db = Store(tmp / f"{name}.db")
    count = db.db.execute("select count(*) from pages where url like ?",
                          [site.url("/a/%")]).fetchone()[0]
    db.close()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    own = [float(line.split()[1]) for line in done.stderr.splitlines()
           if line.startswith("crawl-process-cpu ")]
    first = min(site.article_requests, default=start)
    return Crawl(elapsed, cpu, own[-1] if own else float("nan"), count,
                 start + elapsed - first)


def bare_rate(bodies: list[bytes]) -> tuple[float, float]:
    """(pages per wall second, pages per CPU second) of bare trafilatura on one core."""
    import trafilatura
    texts = [b.decode("utf-8", errors="replace") for b in bodies]
    wall, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        trafilatura.extract(text)
    return (len(texts) / (time.perf_counter() - wall),
            len(texts) / (time.process_time() - cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120,
                        help="N: the crawls take N and 2N pages (default 120)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="extraction workers of the crawl (default: one per core, %(default)s)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each crawl, the fastest kept (default %(default)s)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    bodies = load_pages(2 * args.pages)
    n = len(bodies) // 2
    last = bodies[n:]
    print(f"{len(bodies)} pages ({'corpus' if CORPUS.is_dir() else 'seed copies'}), "
          f"{sum(map(len, bodies)) / len(bodies) / 1024:.0f} KB on average; {os.cpu_count()} "
          f"cores, {args.workers} extraction workers; timed: the last {n} pages")
    routes = {f"/a/{i}.html": ("text/html; charset=utf-8", body) for i, body in enumerate(bodies)}
    with tempfile.TemporaryDirectory() as tmpdir, StaticSite(routes) as site:
        tmp = Path(tmpdir)
        urls = [site.url(f"/a/{i}.html") for i in range(len(bodies))]
        site.set("/short.xml", "application/rss+xml", rss(urls[:n]))
        site.set("/long.xml", "application/rss+xml", rss(urls))
        bare_wall_1, bare_cpu_1 = bare_rate(last)

        store = Store(tmp / "pipeline.db")
        pipeline = Pipeline(store, load_watches(REPO / "rules"), ["console"], ExtractOptions())
        start = time.perf_counter()
        for url, body in zip(urls[n:], last, strict=True):
            pipeline.process(Page(url=url, body=body, source="bench",
                                  headers={"content-type": "text/html; charset=utf-8"}))
        pipeline_s = time.perf_counter() - start
        store.close()

        shorts = [run_crawl(tmp, site, "/short.xml", f"short{k}", args.workers)
                  for k in range(args.repeat)]
        longs = [run_crawl(tmp, site, "/long.xml", f"long{k}", args.workers)
                 for k in range(args.repeat)]
        bare_wall_2, bare_cpu_2 = bare_rate(last)

    bare_wall = (bare_wall_1 + bare_wall_2) / 2
    bare_cpu = (bare_cpu_1 + bare_cpu_2) / 2
    def mean(values) -> float:
        return statistics.fmean(values)

    # the last n pages: the long crawls' mean minus the short crawls' mean, in CPU and in
    # seconds from the first article request to the exit (start-up, worker start, the
    # last pages' extraction and shut-down cancel)
    cpu_page = (mean(c.cpu for c in longs) - mean(c.cpu for c in shorts)) / n
    own_page = (mean(c.own_cpu for c in longs) - mean(c.own_cpu for c in shorts)) / n
    net = max(mean(c.active for c in longs) - mean(c.active for c in shorts), 1e-9)
    crawl_rate = n / net
    print(f"{'path':<46}{'seconds':>9}{'pages/s':>10}")
    print(f"{'bare trafilatura, one core (wall clock)':<46}{n / bare_wall:>9.2f}{bare_wall:>10.1f}"
          f"   (before {bare_wall_1:.1f}, after {bare_wall_2:.1f})")
    print(f"{'bare trafilatura, one core (CPU time)':<46}{n / bare_cpu:>9.2f}{bare_cpu:>10.1f}")
    print(f"{'pipeline alone, one core':<46}{pipeline_s:>9.2f}{n / pipeline_s:>10.1f}")
    for label, runs, count in ((f"monitor crawl of {n} pages", shorts, n),
                               (f"monitor crawl of {2 * n} pages", longs, 2 * n)):
        print(f"{label:<46}{mean(c.seconds for c in runs):>9.2f}"
              f"{'':>10}   (from the first article: {mean(c.active for c in runs):.2f} s; "
              f"outcomes {', '.join(f'{c.pages}/{count}' for c in runs)})")
    print(f"{f'monitor crawl, the last {n} pages':<46}{net:>9.2f}{crawl_rate:>10.1f}")
    print(f"crawl CPU per page: {cpu_page * 1e3:.1f} ms, of which the crawl process "
          f"{own_page * 1e3:.1f} ms (Scrapy, hand-off, dedup, match, store) and its workers "
          f"{(cpu_page - own_page) * 1e3:.1f} ms; bare trafilatura {1e3 / bare_cpu:.1f} ms")
    # what the CPU per page allows at best: every core busy all the time on this crawl
    cores = min(args.workers, os.cpu_count() or 1)
    ceiling = cores / max(cpu_page * bare_cpu, 1e-9)
    print(f"ceiling on {cores} idle cores from the CPU per page: {ceiling:.2f} x bare trafilatura "
          f"on one core")
    print(f"live crawl throughput = {crawl_rate * pipeline_s / n:.2f} x the pipeline alone")
    print(f"live crawl throughput = {crawl_rate / bare_wall:.2f} x bare trafilatura on one core "
          f"(wall clock, same run; {crawl_rate / bare_cpu:.2f} x its CPU-time rate); target >= "
          f"{TARGET} with 2 workers on 2 cores: "
          f"{'ok' if crawl_rate / bare_wall >= TARGET else 'NOT MET'}")


if __name__ == "__main__":
    main()
