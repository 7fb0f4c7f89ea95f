"""How fast the web desk's watch playground answers: a query run over 1,000 stored
articles, through the desk's own route (Datasette's client, the read-only connection,
compile, match every article, explain the shown matches, render JSON and HTML).

    python benchmarks/playground.py [--articles 1000] [--runs 5]

The articles are generated (seeded): 300 to 500 words drawn from the vocabulary of the
shared corpus (../shared/corpus/pages, else the seed pages), one in ten with a passage
about Russia, North Korea and sanctions so the seed watch fires; they are stored with
``Store.save_article`` (hits and stories as the pipeline makes them) and spread over the
last 30 days. Printed: the seconds per answer (best and median of ``--runs``) for the
seed watch, an ad-hoc query with an entity, a phrase and NEAR, and the HTML page.

Target (issue 10): under one second for 1,000 articles. Exit status 1 when slower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus" / "pages" / "ground-truth.json"
PASSAGE = ("Officials in Pyongyang said the mutual defence pact with Russia would stand "
           "despite new sanctions, and Moscow called the Western measures illegal.")


def vocabulary() -> list[str]:
    """Words of the corpus bodies (or of the seed pages)."""
    if CORPUS.exists():
        text = " ".join(v.get("articleBody") or "" for v in
                        json.loads(CORPUS.read_text(encoding="utf-8")).values())
    else:
        import re

        text = " ".join(re.sub(r"<[^>]+>", " ", p.read_text(encoding="utf-8"))
                        for p in (REPO / "seeds").glob("*.html"))
    return text.split()


def fill(db: Path, n: int) -> None:
    """Store ``n`` generated articles (with their hits) in a new database."""
    from monitor.matching import load_watches
    from monitor.models import Article
    from monitor.store import Store, iso, utcnow

    words = vocabulary()
    rnd = random.Random(10)
    watches = load_watches(REPO / "rules")
    store = Store(db)
    now = utcnow()
    for i in range(n):
        body = [" ".join(rnd.choices(words, k=rnd.randint(60, 100))) for _ in range(5)]
        if i % 10 == 0:
            body.insert(rnd.randint(0, 4), PASSAGE)
        title = " ".join(rnd.choices(words, k=rnd.randint(6, 12))).capitalize()
        url = f"https://news.example/{i}"
        article = Article(url=url, request_url=url, source=f"source-{i % 12}",
                          title=title, text="\n\n".join(body), language="en")
        saved = store.save_article(article, watches.match(article), ["console"])
        store.db.execute("update articles set fetched_at = ? where id = ?",
                         [iso(now - timedelta(minutes=rnd.randint(0, 30 * 24 * 60))),
                          saved.article_id])
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from monitor.web import make_desk

    with tempfile.TemporaryDirectory(prefix="monitor-playground-") as tmp:
        db = Path(tmp) / "monitor.db"
        started = time.perf_counter()
        fill(db, args.articles)
        print(f"{args.articles} articles stored in {time.perf_counter() - started:.1f} s")
        ds = make_desk(db, REPO / "rules")
        cases = [("watch russia-north-korea (JSON)",
                  "/-/desk/playground.json?watch=russia-north-korea&since="),
                 ('"mutual defence" NEAR/8 pact AND @north-korea (JSON)',
                  "/-/desk/playground.json?q=%22mutual+defence%22+NEAR%2F8+pact+AND+"
                  "%40north-korea&since="),
                 ("watch russia-north-korea (HTML page)",
                  "/-/desk/playground?watch=russia-north-korea&since=")]
        worst = 0.0

        async def run() -> None:
            nonlocal worst
            await ds.client.get("/-/desk")   # start-up, first connection
            for label, path in cases:
                times, matched = [], None
                for _ in range(args.runs):
                    t = time.perf_counter()
                    response = await ds.client.get(path)
                    times.append(time.perf_counter() - t)
                    assert response.status_code == 200, response.text[:500]
                    if path.startswith("/-/desk/playground.json"):
                        result = response.json()["result"]
                        matched = (result["matched"], result["scanned"])
                best, median = min(times), statistics.median(times)
                worst = max(worst, median)
                extra = f", {matched[0]} of {matched[1]} matched" if matched else ""
                print(f"{label}: best {best:.3f} s, median {median:.3f} s{extra}")

        asyncio.run(run())
    verdict = "OK" if worst < 1.0 else "TOO SLOW"
    print(f"playground over {args.articles} articles: {worst:.3f} s (median of the "
          f"slowest case); target < 1 s: {verdict}")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
