"""Memory and CPU of storing articles as the history grows: 100,000 generated articles
through ``Store.save_article`` (fingerprint, near-duplicate lookup, story, article with
its full-text index, page), one process, one fresh database.

    python benchmarks/store_history.py [--articles 100000] [--repo PATH]

Printed at 1,000, 10,000, 50,000 and 100,000 stored articles: resident memory (RSS,
after a garbage collection) and the CPU seconds the last 1,000 articles took. The
articles are generated (seeded): 250 to 450 words drawn from the vocabulary of the
shared corpus (../shared/corpus/pages, else the seed pages), and one in ten is a wire
copy of one of the last 200 articles (an intro line added, a few words edited), which
must join that article's story; the number that did is printed too.

``--repo PATH`` runs the ``monitor`` package of another checkout (for example the
commit before this benchmark, unpacked with ``git archive``) for a before/after
comparison on the same machine.

Target (issue "Pay only for the work"): RSS at 100,000 within 50 MB of RSS at 1,000,
and CPU per 1,000 flat (not growing with the history).

    python benchmarks/store_history.py --seen [--links 20000] [--baseline PATH]

measures the seen-link filter instead: a store with ``--links`` links recorded, then
``Store.unseen`` over a sitemap listing as many links (half seen, written as a feed
writes them, a quarter of them with a tracking parameter): milliseconds for the first
call (cold) and the next one (as at the next poll), and how many links it calls new.
With ``--baseline PATH`` the same is measured in the same run on another checkout (for
example the commit before the split, unpacked with ``git archive``), side by side.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "pages" / "ground-truth.json"
CHECKPOINTS = (1_000, 10_000, 50_000, 100_000)


def vocabulary() -> list[str]:
    """Words of the corpus bodies (or of the seed pages), repeated by frequency."""
    if CORPUS.exists():
        text = " ".join(v.get("articleBody") or "" for v in
                        json.loads(CORPUS.read_text(encoding="utf-8")).values())
    else:
        import re

        print(f"note: {CORPUS} not found; using the seed pages' words")
        text = " ".join(re.sub(r"<[^>]+>", " ", p.read_text(encoding="utf-8"))
                        for p in (REPO / "seeds").glob("*.html"))
    return text.split()


def rss_mb() -> float:
    """Resident memory of this process in MB (from /proc, else psutil)."""
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss / 1e6


def seen_filter(links: int) -> dict:
    """One measure of the seen-link filter in this process (see the module docstring).

    Returns:
        {"record_ms": ms to record ``links`` links, "cold_ms", "warm_ms": ms of
        ``Store.unseen`` over the listing, "new": links it calls unseen}.
    """
    from monitor.store import Store

    rnd = random.Random(7)
    seen = [f"https://news{i % 50}.example/{2026 - i % 3}/story-{i}.html"
            for i in range(links)]
    listing = seen[: links // 2] + [f"https://news{i % 50}.example/2026/new-{i}.html"
                                   for i in range(links - links // 2)]
    listing = [u + ("?utm_source=rss&utm_medium=feed" if rnd.random() < 0.25 else "")
               for u in listing]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "seen.db")
        t0 = time.perf_counter()
        with store.write():
            for url in seen:
                store.record_page(url, "s", "stored")
        record_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        new = store.unseen(listing)
        cold_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        store.unseen(listing)
        warm_ms = (time.perf_counter() - t0) * 1000
        store.close()
    return {"record_ms": record_ms, "cold_ms": cold_ms, "warm_ms": warm_ms, "new": len(new)}


def seen_main(args: argparse.Namespace) -> int:
    """``--seen``: the seen-link filter here and, with ``--baseline``, there."""
    import subprocess

    def measure(repo: Path) -> dict:
        code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
                "sys.path.insert(1, sys.argv[2]); import store_history as b; "
                "print(json.dumps(b.seen_filter(int(sys.argv[3]))))")
        out = subprocess.run([sys.executable, "-c", code, str(repo.resolve()),
                              str(Path(__file__).resolve().parent), str(args.links)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    runs = [("this checkout", measure(args.repo))]
    if args.baseline:
        runs.append((f"baseline {args.baseline}", measure(args.baseline)))
    print(f"seen-link filter, {args.links:,} links recorded, a listing of {args.links:,} "
          f"(half seen, a quarter with utm_ parameters)")
    print(f"{'':<40} {'record ms':>10} {'unseen cold ms':>15} {'unseen warm ms':>15} "
          f"{'called new':>11}")
    for name, r in runs:
        print(f"{name[:40]:<40} {r['record_ms']:>10.0f} {r['cold_ms']:>15.0f} "
              f"{r['warm_ms']:>15.0f} {r['new']:>11,}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=CHECKPOINTS[-1])
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="checkout whose monitor package is measured")
    parser.add_argument("--seen", action="store_true", help="measure the seen-link filter")
    parser.add_argument("--links", type=int, default=20_000)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="with --seen: another checkout measured in the same run")
    args = parser.parse_args()
    if args.seen:
        return seen_main(args)
    sys.path.insert(0, str(args.repo.resolve()))
    from monitor.models import Article
    from monitor.store import Store

    print(f"monitor package: {sys.modules['monitor.store'].__file__}")
    words = vocabulary()
    rnd = random.Random(5)
    recent: list[tuple[int, str]] = []
    copies = joined = 0
    checkpoints = [c for c in CHECKPOINTS if c <= args.articles] or [args.articles]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "history.db")
        gc.collect()
        start_rss = rss_mb()
        cpu_mark = time.process_time()
        wall0 = time.perf_counter()
        for n in range(1, checkpoints[-1] + 1):
            if recent and n % 10 == 0:
                story, text = rnd.choice(recent)
                body = text.split(" ")
                for i in rnd.sample(range(len(body)), 3):
                    body[i] = rnd.choice(words)
                text = "WASHINGTON (AP) \u2014 Updated with comment. " + " ".join(body)
                copies += 1
            else:
                story, text = None, " ".join(rnd.choices(words, k=rnd.randint(250, 450)))
            saved = store.save_article(Article(
                url=f"https://news{n % 97}.test/a/{n}", request_url=f"https://news{n % 97}"
                f".test/a/{n}", source=f"source{n % 97}", title=f"Article {n}", text=text),
                [], [])
            if story is None:
                recent.append((saved.story_id, text))
                del recent[:-200]
            else:
                joined += saved.story_id == story
            if n in checkpoints:
                cpu = time.process_time() - cpu_mark
                gc.collect()
                rows.append((n, rss_mb(), cpu * 1000 / min(1000, n),
                             time.perf_counter() - wall0))
                print(f"{n:>8,} articles: RSS {rows[-1][1]:7.1f} MB, CPU "
                      f"{rows[-1][2]:.2f} s per 1,000 (last 1,000), {rows[-1][3]:.0f} s so far",
                      flush=True)
            if n % 1000 == 0:
                cpu_mark = time.process_time()   # the next 1,000
        stories = store.counts()["stories"]
        store.close()
    print()
    print(f"RSS at start (empty store): {start_rss:.1f} MB")
    print(f"{'articles':>9} {'RSS MB':>8} {'vs 1,000':>9} {'CPU s/1,000':>12}")
    base_rss, base_cpu = rows[0][1], rows[0][2]
    for n, rss, cpu, _ in rows:
        print(f"{n:>9,} {rss:>8.1f} {rss - base_rss:>+9.1f} {cpu:>12.2f}")
    print(f"{stories:,} stories; wire copies that joined their story: {joined:,} of {copies:,}")
    growth = rows[-1][1] - base_rss
    cpu_ratio = rows[-1][2] / base_cpu
    ok = growth <= 50 and joined == copies
    print(f"target: RSS at {rows[-1][0]:,} within 50 MB of RSS at {rows[0][0]:,}: "
          f"{growth:+.1f} MB; CPU per 1,000 at {rows[-1][0]:,} is {cpu_ratio:.2f}x that at "
          f"{rows[0][0]:,}: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
