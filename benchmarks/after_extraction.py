"""CPU per article of everything after extraction (dedup, match, store) at 10,000
watches, beside bare extraction in the same run.

    python benchmarks/after_extraction.py [--watches 10000] [--repo PATH]

The articles are the 258 bodies and titles of the shared corpus
(../shared/corpus/pages/ground-truth.json: what extraction gives, without its cost).
Each goes through ``Pipeline.process_extracted`` on a fresh database with 10,000
generated watches (``benchmarks/matching_bench.py``'s generator, seeded) and one
console channel, timed in parts: the near-duplicate signature alone, matching
(``WatchSet.match``), building the hits' details that the store reads (spans,
snippet, matched words: built on first read) and storing (``Store.save_article``, its
own time: fingerprint, signature, story lookup, article with its full-text index, hits
and outbox rows, seen links, commit). The baseline in
the same run is bare ``trafilatura.extract`` on 40 of the corpus pages (the cost a
crawl pays anyway).

``--repo PATH`` measures the ``monitor`` package of another checkout instead (e.g. the
commit before, unpacked with ``git archive``), for a before/after comparison.

Target (issue "Pay only for the work"): dedup, match and store together at most 3 ms of
CPU per article at 10,000 watches.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "pages"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="checkout whose monitor package is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    # imported before matching_bench, which puts this checkout first on the path
    from monitor import dedup
    from monitor.matching import Watch, WatchSet, parse_query
    from monitor.models import Article, Page
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    sys.path.insert(0, str(REPO / "benchmarks"))
    import matching_bench as mb

    print(f"monitor package: {sys.modules['monitor.store'].__file__}")
    docs = mb.corpus_docs()
    if not docs:
        print(f"{CORPUS} not found: this benchmark needs the shared corpus")
        return 2
    queries = mb.make_watches(args.watches, mb.vocabulary(docs, mb.seed_article()))
    t0 = time.perf_counter()
    watches = WatchSet([Watch(f"w{i}", q, parse_query(q), q) for i, q in enumerate(queries)])
    print(f"{args.watches:,} watches compiled in {time.perf_counter() - t0:.1f} s")
    articles = [Article(url=f"https://corpus.test/{k}", request_url=f"https://corpus.test/{k}",
                        source=k.split("/")[0], title=t, text=b) for k, t, b in docs if b]

    # bare extraction, the baseline
    import gzip

    import trafilatura

    pages = sorted((CORPUS / "html").rglob("*.html.gz"))[::6][:40]
    htmls = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in pages]
    trafilatura.extract(htmls[0])
    t0 = time.process_time()
    for html in htmls:
        trafilatura.extract(html)
    bare = (time.process_time() - t0) / len(htmls)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "after.db")
        pipeline = Pipeline(store, watches, ["console"])
        saving = [0.0]
        save = store.save_article

        def save_article(article, hits, channels, now=None):
            """``Store.save_article``, its CPU time added up (the hits' details, built
            on first read, are built before: they are timed apart above)."""
            for hit in hits:
                hit.spans, hit.snippet, hit.matched  # noqa: B018
            start = time.process_time()
            try:
                return save(article, hits, channels, now)
            finally:
                saving[0] += time.process_time() - start

        store.save_article = save_article
        warm = Article(url="https://w.test/", request_url="https://w.test/", source="w",
                       title="warm", text=" ".join(f"word{i}" for i in range(100)))
        pipeline.process_extracted(Page(url=warm.url, body=b"", source="w"), warm)
        saving[0] = 0.0
        sig = match = details = total = 0.0
        hits = 0
        for a in articles:
            t0 = time.process_time()
            dedup.signature(a.text)
            t1 = time.process_time()
            found = watches.match(a)
            t2 = time.process_time()
            for hit in found:       # what the store reads of each hit, built on first read
                hit.spans, hit.snippet, hit.matched  # noqa: B018
            t3 = time.process_time()
            out = pipeline.process_extracted(Page(url=a.url, body=b"", source=a.source), a)
            t4 = time.process_time()
            sig += t1 - t0
            match += t2 - t1
            details += t3 - t2
            total += t4 - t3
            hits += len(found)
            assert out.status == "stored", out
        store.close()
    n = len(articles)
    # process_extracted = match + hit details (read by the store) + save_article: the
    # store part is save_article's own time, measured (not the difference of the others)
    store_part = saving[0]
    print(f"{n} articles, {hits / n:.1f} hits per article on average")
    print()
    print(f"{'part':<44} {'ms CPU/article':>14}")
    print(f"{'near-duplicate signature (inside store)':<44} {sig / n * 1e3:>14.2f}")
    print(f"{'match (10,000 watches)':<44} {match / n * 1e3:>14.2f}")
    print(f"{'hit details (spans, snippet, matched words)':<44} {details / n * 1e3:>14.2f}")
    print(f"{'store (save_article: rows, FTS, commit)':<44} {store_part / n * 1e3:>14.2f}")
    print(f"{'after extraction: process_extracted':<44} {total / n * 1e3:>14.2f}")
    print(f"{'baseline: bare trafilatura.extract':<44} {bare * 1e3:>14.2f}")
    ok = total / n <= 0.003
    print()
    print(f"target: dedup + match + store {total / n * 1e3:.2f} ms per article at "
          f"{args.watches:,} watches (<= 3 ms; bare extraction {bare * 1e3:.1f} ms in the "
          f"same run): {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
