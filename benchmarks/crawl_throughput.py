"""Live crawl throughput against the core pipeline alone, measured in the same run.

    python benchmarks/crawl_throughput.py [--pages N]

Serves N real news pages (from ../shared/corpus/pages when present, else copies of
seeds/) and an RSS feed listing them on 127.0.0.1, then measures:

- pipeline: ``Pipeline.process`` over the same pages in this process (extract, match,
  store), the floor that any crawl pays;
- crawl: ``monitor crawl`` in a subprocess (Scrapy downloader, feed parsing, the core
  pipeline on its worker thread), minus the start-up time of a crawl of an empty feed.

It prints pages per second for both and their ratio: how much the live path costs on top
of the pipeline. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.matching import load_watches  # noqa: E402
from monitor.models import ExtractOptions, Page  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.servers import SiteServer  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pages" / "html"


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


def run_crawl(tmp: Path, feed_url: str, name: str) -> float:
    """Seconds for one ``monitor crawl`` of ``feed_url`` into a fresh database."""
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": str(tmp / f"{name}.db"), "rules": str(REPO / "rules"),
        "sources": [{"name": name, "kind": "feed", "url": feed_url, "max_articles": 100000}],
        "crawl": {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 8,
                  "obey_robots": False},
        "log_level": "WARNING"}))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "crawl"],
                          cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"monitor crawl failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=150, help="pages to crawl (default 150)")
    args = parser.parse_args()
    bodies = load_pages(args.pages)
    print(f"{len(bodies)} pages ({'corpus' if CORPUS.is_dir() else 'seed copies'}), "
          f"{sum(map(len, bodies)) / len(bodies) / 1024:.0f} KB on average")

    with tempfile.TemporaryDirectory() as tmpdir, SiteServer() as site:
        tmp = Path(tmpdir)
        urls = []
        for i, body in enumerate(bodies):
            site.set(f"/a/{i}.html", body)
            urls.append(site.url(f"/a/{i}.html"))
        site.set("/feed.xml", rss(urls), content_type="application/rss+xml")
        site.set("/empty.xml", rss([]), content_type="application/rss+xml")

        store = Store(tmp / "pipeline.db")
        pipeline = Pipeline(store, load_watches(REPO / "rules"), ["console"], ExtractOptions())
        start = time.perf_counter()
        for url, body in zip(urls, bodies):
            pipeline.process(Page(url=url, body=body, source="bench",
                                  headers={"content-type": "text/html; charset=utf-8"}))
        pipeline_s = time.perf_counter() - start
        store.close()

        startup_s = run_crawl(tmp, site.url("/empty.xml"), "empty")
        crawl_s = run_crawl(tmp, site.url("/feed.xml"), "full")
        done_db = Store(tmp / "full.db")
        stored = done_db.db.execute("select count(*) from pages where url like ?",
                                    [site.url("/a/") + "%"]).fetchone()[0]
        done_db.close()

    net = max(crawl_s - startup_s, 1e-9)
    print(f"{'path':<34}{'seconds':>9}{'pages/s':>10}")
    print(f"{'pipeline alone (baseline)':<34}{pipeline_s:>9.2f}{len(bodies) / pipeline_s:>10.1f}")
    print(f"{'monitor crawl, start-up only':<34}{startup_s:>9.2f}")
    print(f"{'monitor crawl, minus start-up':<34}{net:>9.2f}{len(bodies) / net:>10.1f}")
    print(f"article URLs with an outcome after the crawl: {stored} of {len(bodies)}")
    print(f"live crawl throughput = {pipeline_s / net:.2f} x the pipeline alone")


if __name__ == "__main__":
    main()
