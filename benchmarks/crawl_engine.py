"""The long-lived crawl engine at scale: 10,000 feeds on 200 hosts, against a bare Scrapy
spider making the same conditional requests, and the old one-crawler-per-source daemon.

    python benchmarks/crawl_engine.py                  # the full run (about 12 minutes)
    python benchmarks/crawl_engine.py --quick          # 2,000 feeds, about 4 minutes

What it does, all on this machine (nothing leaves 127.0.0.0/8):

1. A generated news site answers on 200 addresses 127.0.1.1 ... 127.0.1.200 (one
   asyncio server process, one host name per address). Each host carries
   feeds/200 RSS feeds. A feed answers ``304 Not Modified`` to a repeat poll with
   its ETag unless it published: 5 % of the feeds publish a new article every two
   intervals, each article page 50 to 150 KB of HTML.
2. The engine (``monitor.crawl.runner.CrawlEngine`` on a fresh database, exactly what
   ``monitor run`` runs) polls every feed at a fixed interval: 15 minutes scaled down
   to ``--interval`` seconds (180 s by default: five times the real rate), for
   ``--duration`` seconds. Reported: poll lateness (poll finished minus due) at p50,
   p95 and max over the polls after the first interval, CPU seconds per 1,000 polls
   (the crawl process alone, and with its extraction workers), resident memory at
   start and end, and its mean over the first and the last quarter of the run.
3. The cost floor, in the same run: a bare Scrapy spider (no monitor code) sends the
   same conditional GETs to the same feeds with the same politeness settings, twice:
   paced (each at the moment, from the start, that the engine polled that feed: the
   same load pattern, and the floor the target is checked against) and in a burst (all
   queued at once: the least a crawl can spend per request, since idle time costs
   too); its CPU seconds per 1,000 requests each time.
4. The old design on a smaller count (``--old-feeds``, default 500): ``monitor run``
   of commit 7fc5b95 (one scheduler job and one Scrapy crawler per source run),
   checked out in a temporary git worktree, against the new engine on the same count:
   polls made, CPU per 1,000 polls and memory.

Targets (issue "One crawl engine per process"): p95 lateness under 30 s at a rate of
at least 10,000 feeds every 15 minutes; CPU per poll at most 1.5 times the bare
spider's; memory flat (last quarter within 10 % of the first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOSTS_NET = "127.0.1."
OLD_COMMIT = "7fc5b95"
WORDS = ("minister talks sanctions port harbour council vote budget river storm city "
         "officials said report according agency weather rail strike court ruling "
         "election campaign market prices energy grid trade deal border police health "
         "school teachers union farmers drought harvest export factory workers").split()


# ---------------------------------------------------------------------------- the site


def article_html(feed: int, item: int) -> bytes:
    """A 50-150 KB news page: scripts, navigation, a headline and a unique body."""
    rng = random.Random(feed * 100_003 + item)
    paras = []
    for p in range(rng.randint(8, 16)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(40, 90))]
        words[0] = words[0].capitalize()
        paras.append(f"<p>{' '.join(words)} (story {feed}-{item}, paragraph {p}).</p>")
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(60))
    script = "<script>var cfg = {" + ",".join(
        f'"k{i}": "{rng.random():.12f}"' for i in range(rng.randint(1500, 4500))) + "};</script>"
    title = f"Story {feed}-{item}: {' '.join(rng.choice(WORDS) for _ in range(6))}"
    return (f"<!doctype html><html lang='en'><head><title>{title}</title>"
            f"<meta property='og:type' content='article'>{script}</head><body>"
            f"<nav><ul>{nav}</ul></nav><article><h1>{title}</h1>"
            f"<time datetime='2026-11-30T08:00:00Z'>30 Nov 2026</time>{''.join(paras)}"
            f"</article><footer><ul>{nav}</ul></footer></body></html>").encode()


def serve(port: int, hosts: int, feeds: int, interval: float) -> None:
    """Run the generated site (blocks). Prints "ready" once every address listens."""
    t0 = time.time()
    counts = {"feed_200": 0, "feed_304": 0, "article": 0, "robots": 0}

    def version(feed: int) -> int:
        if feed % 20:
            return 0
        return int((time.time() - t0 + (feed % 97) * interval / 97) // (2 * interval))

    def feed_body(feed: int, host: str, v: int) -> bytes:
        # a quiet feed lists nothing new; a publishing one its last three stories
        items = "".join(f"<item><title>Story {feed}-{k}</title><link>http://{host}:{port}"
                        f"/a/{feed}/{k}.html</link><guid>{feed}-{k}</guid></item>"
                        for k in range(max(1, v - 2), v + 1))
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}'
                f'</title><link>http://{host}/</link><description>d</description>{items}'
                f"</channel></rss>").encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                inm = ""
                for line in lines[1:]:
                    if line.lower().startswith("if-none-match:"):
                        inm = line.split(":", 1)[1].strip()
                status, ctype, body, extra = 200, "text/html", b"", ""
                if path == "/robots.txt":
                    counts["robots"] += 1
                    ctype, body = "text/plain", b"User-agent: *\nAllow: /\n"
                elif path == "/_stats":
                    ctype, body = "application/json", json.dumps(counts).encode()
                elif path.startswith("/feed/"):
                    feed = int(path[6:].split(".")[0])
                    v = version(feed)
                    etag = f'"{feed}-{v}"'
                    if inm == etag:
                        counts["feed_304"] += 1
                        status = 304
                    else:
                        counts["feed_200"] += 1
                        ctype, body = "application/rss+xml", feed_body(feed, host, v)
                    extra = f"ETag: {etag}\r\n"
                elif path.startswith("/a/"):
                    counts["article"] += 1
                    _, _, feed, item = path.split("/")
                    body = article_html(int(feed), int(item.split(".")[0]))
                else:
                    status, body = 404, b"not found"
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                             f"Content-Length: {len(body)}\r\n{extra}\r\n".encode("latin-1")
                             + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        addresses = [f"{HOSTS_NET}{i + 1}" for i in range(hosts)]
        server = await asyncio.start_server(handle, host=addresses, port=port,
                                            reuse_address=True, backlog=512)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def feed_url(feed: int, hosts: int, port: int) -> str:
    return f"http://{HOSTS_NET}{feed % hosts + 1}:{port}/feed/{feed}.xml"


def write_config(path: Path, n: int, hosts: int, port: int, interval: float) -> Path:
    import yaml

    sources = [{"name": f"f{i:05}", "kind": "feed", "url": feed_url(i, hosts, port),
                "interval": interval, "min_interval": interval, "max_interval": interval,
                "max_articles": 5} for i in range(n)]
    config = {"database": str(path.parent / "monitor.db"), "rules": str(REPO / "rules"),
              "log_level": "WARNING", "sources": sources,
              "channels": [{"kind": "console", "name": "console"}],
              "crawl": {"concurrent_requests": 64, "concurrent_per_domain": 2,
                        "download_delay": 0.25, "autothrottle": True, "download_timeout": 20},
              "extraction": {"workers": 2},
              "schedule": {"start_rate": n / interval}}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def thread_cpu(tid: int) -> float:
    """CPU seconds of one thread of this process (from /proc)."""
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------- the new engine


def run_engine(config_path: str, duration: float, out: str) -> None:
    """Run the crawl engine for ``duration`` seconds and write its figures to ``out``."""
    from monitor.crawl.runner import install_asyncio_reactor
    install_asyncio_reactor()
    from twisted.internet import reactor

    from monitor.config import load_config
    from monitor.crawl.context import CrawlContext
    from monitor.crawl.runner import CrawlEngine

    config = load_config(config_path)
    context = CrawlContext(config)
    context.record_polls = True
    engine = CrawlEngine(context)
    samples: list[tuple[float, float]] = []
    figures: dict = {"rss_start_mb": rss_mb()}
    # the writer's thread (dedup, match, store) is not crawling: measured apart
    core_tid = context.executor.submit(threading.get_native_id).result()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        figures["cpu_start"] = cpu_self()
        figures["core_start"] = thread_cpu(core_tid)
        task = asyncio.ensure_future(engine.run())
        while loop.time() - t0 < duration:
            await asyncio.sleep(2)
            samples.append((loop.time() - t0, rss_mb()))
        figures["cpu_process"] = cpu_self() - figures["cpu_start"]
        figures["cpu_writer"] = thread_cpu(core_tid) - figures["core_start"]
        figures["cpu_crawl"] = figures["cpu_process"] - figures["cpu_writer"]
        await engine.stop(timeout=20)
        await asyncio.wait([task], timeout=30)
        reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
    reactor.run(installSignalHandlers=False)
    context.close()
    figures["cpu_workers"] = cpu_children()
    figures["rss_end_mb"] = rss_mb()
    figures["samples"] = samples
    figures["polls"] = [(s, d.timestamp(), a.timestamp(), f.timestamp())
                        for s, d, a, f in context.polls]
    figures["totals"] = context.writer.totals
    Path(out).write_text(json.dumps(figures))


# ---------------------------------------------------------------------- bare Scrapy


def run_bare(urls_file: str, etags_file: str, out: str, paced: bool = True) -> None:
    """A bare Scrapy spider: one conditional GET per (offset seconds, URL), at that offset
    from its start, with the engine's politeness settings."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = json.loads(Path(urls_file).read_text())
    etags = json.loads(Path(etags_file).read_text())
    seen = {"n": 0}

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self):
            # the same requests at the same moments as the engine's polls: idle time
            # costs a crawl something too, so the floor is paced like the engine
            t0 = asyncio.get_running_loop().time()
            for offset, url in urls:
                wait = offset - (asyncio.get_running_loop().time() - t0)
                if paced and wait > 0:
                    await asyncio.sleep(wait)
                yield scrapy.Request(url, headers={"If-None-Match": etags[url]},
                                     dont_filter=True, callback=self.parse,
                                     meta={"handle_httpstatus_list": [304]})

        def parse(self, response):
            seen["n"] += 1

    process = CrawlerProcess({
        "LOG_LEVEL": "WARNING", "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2, "DOWNLOAD_DELAY": 0.25,
        "AUTOTHROTTLE_ENABLED": True, "AUTOTHROTTLE_START_DELAY": 0.5,
        "ROBOTSTXT_OBEY": True, "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"})
    start = cpu_self()
    t0 = time.time()
    process.crawl(Bare)
    process.start()
    Path(out).write_text(json.dumps({"requests": seen["n"], "cpu": cpu_self() - start,
                                     "seconds": time.time() - t0}))


# ------------------------------------------------------------- measured from outside


def proc_tree(pid: int) -> list[int]:
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += proc_tree(int(child))
    return out


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    """CPU seconds and resident MB of a process and its children (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = rss = 0.0
    for p in proc_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
        except (OSError, IndexError):
            pass
    return cpu, rss


def site_stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://{HOSTS_NET}1:{port}/_stats", timeout=10) as r:
        return json.loads(r.read())


def run_daemon_outside(repo: Path, config: Path, duration: float, port: int) -> dict:
    """``monitor run`` of the code in ``repo`` for ``duration`` s; polls counted at the site."""
    before = site_stats(port)
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(config), "run"],
                            cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    rss_samples = []
    cpu = 0.0
    while time.time() - t0 < duration:
        time.sleep(2)
        cpu, rss = proc_cpu_rss(proc.pid)
        rss_samples.append(rss)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    after = site_stats(port)
    polls = (after["feed_200"] + after["feed_304"]) - (before["feed_200"] + before["feed_304"])
    return {"polls": polls, "cpu": cpu, "rss_first_mb": rss_samples[0] if rss_samples else 0,
            "rss_end_mb": rss_samples[-1] if rss_samples else 0}


# ---------------------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--interval", type=float, default=180.0,
                        help="the 15-minute interval scaled down, seconds")
    parser.add_argument("--duration", type=float, default=420.0)
    parser.add_argument("--old-feeds", type=int, default=500)
    parser.add_argument("--old-duration", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 feeds, 60 s interval, 150 s run; old design on 200")
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.interval, args.duration = 2000, 60.0, 150.0
        args.old_feeds, args.old_duration = 200, 60.0

    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    port = 20000 + os.getpid() % 20000
    here = str(Path(__file__).resolve())
    site = subprocess.Popen([sys.executable, here, "--serve", str(port), str(args.hosts),
                             str(args.feeds), str(args.interval)],
                            stdout=subprocess.PIPE, text=True)
    assert site.stdout.readline().strip() == "ready"
    try:
        return _bench(args, tmp, port, here)
    finally:
        site.terminate()
        site.wait(10)


def _bench(args, tmp: Path, port: int, here: str) -> int:
    print(f"site: {args.feeds} feeds on {args.hosts} hosts ({HOSTS_NET}1..{args.hosts}); "
          f"interval {args.interval:g} s (15 min scaled x{900 / args.interval:g}); "
          f"run {args.duration:g} s; work dir {tmp}", flush=True)
    # -- the engine
    (tmp / "new").mkdir()
    cfg = write_config(tmp / "new" / "monitor.yaml", args.feeds, args.hosts, port,
                       args.interval)
    out = tmp / "engine.json"
    subprocess.run([sys.executable, here, "--engine", str(cfg), str(args.duration), str(out)],
                   cwd=REPO, check=True)
    fig = json.loads(out.read_text())
    polls = fig["polls"]
    n_polls = len(polls)
    t_first = min(p[1] for p in polls)
    steady = [p for p in polls if p[1] >= t_first + args.interval]
    late = [max(0.0, p[3] - p[1]) for p in steady]
    samples = [r for _, r in fig["samples"]]
    q = max(1, len(samples) // 4)
    first_q, last_q = statistics.mean(samples[:q]), statistics.mean(samples[-q:])
    rate = n_polls / args.duration
    equiv = rate * 900
    cpu_per_k = fig["cpu_crawl"] / n_polls * 1000
    cpu_all_per_k = (fig["cpu_process"] + fig["cpu_workers"]) / n_polls * 1000
    # -- the bare spider, same number of conditional requests on the same feeds
    urls = [(p[2] - t_first, feed_url(int(p[0][1:]), args.hosts, port))
            for p in sorted(polls, key=lambda p: p[2])]
    (tmp / "urls.json").write_text(json.dumps(urls))
    (tmp / "etags.json").write_text(json.dumps({u: f'"{u.rsplit("/", 1)[1].split(".")[0]}-0"'
                                                for _, u in urls}))
    bares = {}
    for mode in ("paced", "burst"):
        subprocess.run([sys.executable, here, "--bare", str(tmp / "urls.json"),
                        str(tmp / "etags.json"), str(tmp / f"bare-{mode}.json"), mode],
                       cwd=REPO, check=True)
        bares[mode] = json.loads((tmp / f"bare-{mode}.json").read_text())
    bare = bares["paced"]
    bare_per_k = bare["cpu"] / bare["requests"] * 1000
    burst = bares["burst"]
    burst_per_k = burst["cpu"] / burst["requests"] * 1000

    print("\n== new engine (one long-lived crawl, schedule in the store)")
    print(f"polls: {n_polls} in {args.duration:g} s = {rate:.1f}/s "
          f"(= {equiv:,.0f} feeds per 15 min); {fig['totals']['stored']} articles stored")
    print(f"lateness (finished - due), polls after the first interval ({len(steady)}): "
          f"p50 {pct(late, .5):.2f} s, p95 {pct(late, .95):.2f} s, max {max(late):.2f} s")
    writer_per_k = fig["cpu_writer"] / n_polls * 1000
    print(f"CPU per 1,000 polls: {cpu_per_k:.2f} s crawling (the process less the writer "
          f"thread); writer thread {writer_per_k:.2f} s; {cpu_all_per_k:.2f} s in all with "
          f"the writer and the extraction workers")
    print(f"memory: {fig['rss_start_mb']:.0f} MB at start, {fig['rss_end_mb']:.0f} MB at end; "
          f"mean of first quarter {first_q:.0f} MB, last quarter {last_q:.0f} MB "
          f"({(last_q / first_q - 1) * 100:+.1f} %)")
    print("\n== bare Scrapy spider, same conditional requests (the cost floor)")
    print(f"paced (each request at the moment the engine polled): {bare['requests']} "
          f"requests in {bare['seconds']:.0f} s; CPU per 1,000 requests: {bare_per_k:.2f} s")
    print(f"burst (all at once, politeness only): {burst['requests']} requests in "
          f"{burst['seconds']:.0f} s; CPU per 1,000 requests: {burst_per_k:.2f} s")
    print(f"ratio engine / bare CPU per request: {cpu_per_k / bare_per_k:.2f} against the "
          f"paced floor (target <= 1.5), {cpu_per_k / burst_per_k:.2f} against the burst one")
    ok = (pct(late, .95) < 30 and equiv >= 10_000 and cpu_per_k / bare_per_k <= 1.5
          and abs(last_q / first_q - 1) <= 0.10)

    # -- the old design on a smaller count, and the new one on the same count
    if args.old_feeds:
        worktree = tmp / "old-code"
        made = subprocess.run(["git", "worktree", "add", "--detach", str(worktree),
                               OLD_COMMIT], cwd=REPO, capture_output=True, text=True)
        if made.returncode != 0:
            print(f"\n(old design skipped: git worktree: {made.stderr.strip()})")
        else:
            try:
                results = {}
                for label, repo in (("old (one crawler per source run)", worktree),
                                    ("new (one long-lived crawl)", REPO)):
                    d = tmp / label.split()[0]
                    d.mkdir(exist_ok=True)
                    c = write_config(d / "monitor.yaml", args.old_feeds, args.hosts, port,
                                     args.interval / 6)
                    if repo == worktree:  # the old config knows no schedule/limits
                        import yaml
                        data = yaml.safe_load(c.read_text())
                        data.pop("schedule")
                        data["rules"] = str(worktree / "rules")
                        data["crawl"].pop("concurrent_requests")
                        for s in data["sources"]:
                            s.pop("min_interval")
                            s.pop("max_interval")
                        c.write_text(yaml.safe_dump(data))
                    results[label] = run_daemon_outside(repo, c, args.old_duration, port)
                print(f"\n== old vs new design: {args.old_feeds} feeds, interval "
                      f"{args.interval / 6:g} s, {args.old_duration:g} s each")
                expected = args.old_feeds * args.old_duration / (args.interval / 6)
                for label, r in results.items():
                    per_k = r["cpu"] / max(1, r["polls"]) * 1000
                    print(f"{label}: {r['polls']} polls of ~{expected:.0f} due, "
                          f"CPU {r['cpu']:.1f} s = {per_k:.2f} s per 1,000 polls, "
                          f"memory {r['rss_first_mb']:.0f} -> {r['rss_end_mb']:.0f} MB")
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                               cwd=REPO, capture_output=True)
    print(f"\ntargets met: {'yes' if ok else 'no'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--engine":
        run_engine(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "--bare":
        run_bare(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "paced")
    else:
        sys.exit(main())
