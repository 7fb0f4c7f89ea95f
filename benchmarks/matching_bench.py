"""Matching cost per article against 1, 100, 1,000 and 10,000 watches.

Run from the repository root::

    python benchmarks/matching_bench.py [--quick]

Watches are generated (seeded, so every run builds the same ones) from a realistic
vocabulary: the topical words (in at most 2% of pages), capitalised names and word pairs
of the 258 real news pages in ``../shared/corpus/pages`` (falling back, with a message, to the vocabulary of the seed
pages in ``seeds/`` when that folder is absent). The mix: single terms, quoted names and
phrases, OR lists, AND with an OR list, NOT, NEAR/k, wildcards and title: scopes.

Two articles are matched: the seed story (``seeds/cbc-news_2024-06-19.html`` through
extraction, or the shared seed text) and a 5,000-word article made of English corpus
bodies. Every time is CPU time (``time.process_time``), and each watch count is timed
alternately with one watch on the same article, so the load of a shared machine weighs
on both alike; the ratio printed is the median of the per-round ratios. ``match()``
returns hits whose spans, snippet and matched words are built when first read; the
"+details" columns read them for every hit, as the store does when it saves them.

Baselines in the same run: one watch, and the naive approach: every watch compiled to
its own regular expressions (one per term, NEAR as one regex), evaluated one watch after
another. Then 50,000 watches are parsed and compiled, with CPU time, peak traced memory
(tracemalloc) and the growth of peak RSS.

Targets (issue 14): 10,000 watches cost at most 2x one watch per article, at least 50x
less than the naive baseline; 50,000 watches compile in under 3 s and 150 MB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.matching import Watch, WatchSet, parse_query  # noqa: E402

try:
    from monitor.matching.engine import paused_gc
except ImportError:  # an older checkout measured by after_extraction.py --repo
    from contextlib import nullcontext as paused_gc
from monitor.matching.normalise import raw_tokens  # noqa: E402
from monitor.models import Article, Page  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pages"
SHARED_SEED = REPO.parent / "shared" / "seeds" / "000_ae8829be5205e56a.txt"
SIZES = (1, 100, 1_000, 10_000)
#: Watches compiled for the compile-time and memory figure.
COMPILE = 50_000
ENGLISH = ("us/", "uk/", "ca/", "au/", "ie/", "za/", "in/", "nz/")


# --------------------------------------------------------------------------- data

def corpus_docs() -> list[tuple[str, str, str]]:
    """(key, title, body) of every corpus page, or [] when the corpus is absent."""
    gt_path = CORPUS / "ground-truth.json"
    if not gt_path.exists():
        return []
    gt = json.loads(gt_path.read_text(encoding="utf-8"))
    return [(k, v.get("title") or "", v.get("articleBody") or "") for k, v in gt.items()]


def seed_article() -> Article:
    """The seed story, through the real extractor when the seed page is in the repo."""
    page = REPO / "seeds" / "cbc-news_2024-06-19.html"
    if page.exists():
        from monitor.extract import extract
        result = extract(Page(url="https://www.cbc.ca/news/world/seed", body=page.read_bytes(),
                              source="cbc-world", path=str(page)))
        if isinstance(result, Article):
            return result
    lines = SHARED_SEED.read_text(encoding="utf-8").splitlines()
    return Article(url="seed", request_url="seed", source="cbc", title=lines[0],
                   text="\n\n".join(x for x in lines[1:] if x.strip()))


def long_article(docs, seed: Article, words: int = 5_000) -> Article:
    """About ``words`` words of English news: corpus bodies, else the seed repeated."""
    rnd = random.Random(5)
    bodies = [b for k, _, b in docs if k.startswith(ENGLISH) and b]
    rnd.shuffle(bodies)
    paras: list[str] = []
    count = 0
    pool = bodies or [seed.text] * 50
    for body in pool:
        for para in body.split("\n\n"):
            paras.append(para)
            count += len(para.split())
            if count >= words:
                break
        if count >= words:
            break
    text = "\n\n".join(paras)
    return Article(url="long", request_url="long", source="bench", title=seed.title,
                   text=" ".join(text.split()[:words]))


STOP = set("""the and for that with this from have has had was were are been being will
would could should their there they them then than what when where which while who whom
into onto over under about after before also just more most some such only other very
said says year years time times first last new one two three four five people like make
made many much even back well still because through during between against without
within upon your ours mine were our its it's not but all any can may might must shall
der die das und den dem des ein eine einer eines nicht mit von für auf ist sich auch
als bei nach wie aus zum zur wird werden wurde sind hat haben oder aber noch nur über""".split())


def vocabulary(docs, seed: Article):
    """Words, capitalised two-word names and lower-case word pairs, with their document
    frequency, from the corpus (or the seed pages)."""
    texts = [f"{t}\n\n{b}" for _, t, b in docs] if docs else [f"{seed.title}\n\n{seed.text}"]
    if not docs:
        for extra in (REPO / "seeds").glob("*.html"):
            texts.append(re.sub(r"<[^>]+>", " ", extra.read_text(encoding="utf-8")))
    n = len(texts)
    words: Counter[str] = Counter()
    names: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for text in texts:
        toks = raw_tokens(text)
        words.update({t.lower() for t in toks if t.isalpha() and len(t) >= 4
                      and t.lower() not in STOP})
        doc_names, doc_pairs = set(), set()
        for a, b in itertools.pairwise(toks):
            if a[:1].isupper() and b[:1].isupper() and a.isalpha() and b.isalpha() \
                    and len(a) > 2 and len(b) > 2 and a.lower() not in STOP:
                doc_names.add(f"{a} {b}")
            elif a.islower() and b.islower() and a.isalpha() and b.isalpha() \
                    and a not in STOP and b not in STOP and len(a) > 3 and len(b) > 3:
                doc_pairs.add(f"{a} {b}")
        names.update(doc_names)
        pairs.update(doc_pairs)
    # Watch terms are topical: a word found in more than 2% of pages ("government",
    # "season") is not something a newsroom watches for on its own.
    limit = max(2, n // 50)
    return (sorted(w for w, c in words.items() if c <= limit and len(w) >= 5),
            sorted(w for w, c in names.items() if c <= limit),
            sorted(w for w, c in pairs.items() if c <= limit))


def make_watches(count: int, vocab, seed: int = 11) -> list[str]:
    """Generate ``count`` queries from the vocabulary (deterministic)."""
    words, names, pairs = vocab
    rnd = random.Random(seed)

    def term() -> str:
        r = rnd.random()
        if r < 0.35:
            return rnd.choice(words)
        if r < 0.70 and names:
            return f'"{rnd.choice(names)}"'
        if r < 0.80:
            w = rnd.choice([w for w in rnd.sample(words, 20) if len(w) >= 7] or words)
            return w[:len(w) - rnd.randint(1, 2)] + "*"        # sanctions -> sanction*
        if pairs:
            return f'"{rnd.choice(pairs)}"'
        return rnd.choice(words)

    def any_of(k: int) -> str:
        return "(" + " OR ".join(term() for _ in range(k)) + ")"

    out = []
    for _ in range(count):
        r = rnd.random()
        if r < 0.25:
            out.append(term())
        elif r < 0.55:
            out.append(any_of(rnd.randint(2, 4)))
        elif r < 0.75:
            out.append(f"{term()} AND {any_of(rnd.randint(2, 3))}")
        elif r < 0.85:
            out.append(f"{any_of(rnd.randint(1, 3))} NOT {term()}")
        elif r < 0.95:
            out.append(f"{term()} NEAR/{rnd.randint(2, 10)} {term()}")
        else:
            out.append(f"title:{term()} AND {term()}")
    return out


# --------------------------------------------------------------------------- naive

class Naive:
    """The baseline: each watch as its own regular expressions, scanned one by one."""

    def __init__(self, queries: list[str]) -> None:
        self.trees = [self._compile(parse_query(q)) for q in queries]

    def _term_re(self, term) -> str:
        text = term.text[:-1] if term.wildcard else term.text
        words = [re.escape(w) for w in raw_tokens(text)]
        body = r"\W+".join(words)
        return r"(?<!\w)" + body + (r"\w*" if term.wildcard else r"(?!\w)")

    def _compile(self, node):
        kind = type(node).__name__
        if kind == "Term":
            rx = re.compile(self._term_re(node), re.IGNORECASE)
            return ("T", rx, node.field)
        if kind in ("And", "Or"):
            return (kind, [self._compile(c) for c in node.children])
        if kind == "Not":
            return ("Not", self._compile(node.child))
        a, b = self._term_re(node.left), self._term_re(node.right)
        gap = rf"\W+(?:\w+\W+){{0,{node.distance}}}"
        rx = re.compile(f"(?:{a}{gap}{b})|(?:{b}{gap}{a})", re.IGNORECASE)
        return ("T", rx, None)

    def _eval(self, t, title: str, both: str) -> bool:
        if t[0] == "T":
            return t[1].search(title if t[2] == "title" else both) is not None
        if t[0] == "And":
            return all(self._eval(c, title, both) for c in t[1])
        if t[0] == "Or":
            return any(self._eval(c, title, both) for c in t[1])
        return not self._eval(t[1], title, both)

    def match(self, article: Article) -> int:
        both = f"{article.title}\n\n{article.text}"
        return sum(1 for t in self.trees if self._eval(t, article.title, both))


# --------------------------------------------------------------------------- timing

def per_call(fn, min_time: float, max_runs: int = 200) -> float:
    """Median CPU seconds per call, over enough runs to fill ``min_time``."""
    fn()  # warm caches
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time
                             and len(times) < max_runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def paired(fn, base, min_time: float, max_runs: int = 400) -> tuple[float, float, float]:
    """Time ``fn`` and ``base`` alternately, so that the load of the machine (shared
    cores) weighs on both alike.

    Returns:
        (median CPU seconds of fn, median CPU seconds of base, median of the per-round
        ratios fn / base).
    """
    fn(), base()  # warm caches
    a: list[float] = []
    b: list[float] = []
    start = time.perf_counter()
    while len(a) < 5 or (time.perf_counter() - start < min_time and len(a) < max_runs):
        t0 = time.process_time()
        fn()
        t1 = time.process_time()
        base()
        t2 = time.process_time()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return (statistics.median(a), statistics.median(b),
            statistics.median(x / y for x, y in zip(a, b, strict=True) if y > 0))


def with_details(ws: WatchSet, article: Article) -> None:
    """Match and read every hit's details (spans, snippet, matched words), as the
    store does when it saves the hits."""
    for hit in ws.match(article):
        hit.snippet, hit.matched, hit.spans  # noqa: B018


def check_details(queries: list[str], docs, articles, path: Path) -> int:
    """Match every corpus page (and the benchmark articles) against ``queries`` and
    read every hit's details; write them to ``path`` as JSON lines, or, when ``path``
    exists, compare with it (a check that a change of the engine keeps every hit's
    spans, snippet and matched words byte for byte).

    Returns:
        0 when written or identical, 1 when some page's hits differ.
    """
    import dataclasses

    ws = WatchSet([Watch(f"w{i}", q, parse_query(q), q) for i, q in enumerate(queries)])
    pages = [(k, Article(url=k, request_url=k, source="corpus", title=t, text=b))
             for k, t, b in docs] + list(articles)
    lines = [json.dumps([key, [dataclasses.asdict(h) for h in ws.match(a)]],
                        ensure_ascii=False) for key, a in pages]
    nhits = sum(len(json.loads(x)[1]) for x in lines)
    if not path.exists():
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"check: wrote the hits of {len(pages)} pages ({nhits} hits, "
              f"{len(queries):,} watches) to {path}")
        return 0
    old = path.read_text(encoding="utf-8").splitlines()
    bad = [json.loads(x)[0] for x, y in zip(lines, old, strict=False) if x != y]
    if len(old) != len(lines):
        bad.append(f"{len(old)} pages stored, {len(lines)} now")
    print(f"check: {len(pages)} pages, {nhits} hits, {len(queries):,} watches: "
          + ("identical to " + str(path) if not bad else f"{len(bad)} differ: {bad[:5]}"))
    return 1 if bad else 0


def compile_cost(queries: list[str]) -> tuple[float, float, float, float]:
    """Parse and compile watches, with the memory it takes.

    Returns:
        (parse seconds, compile seconds, peak traced MB of parsing and compiling, growth
        of the process's peak RSS in MB).
    """
    import gc
    import resource
    import tracemalloc

    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.process_time()
    with paused_gc():  # as load_watches parses
        watches = [Watch(f"w{i}", q, parse_query(q), q) for i, q in enumerate(queries)]
    t1 = time.process_time()
    ws = WatchSet(watches)
    t2 = time.process_time()
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    del ws, watches
    gc.collect()
    tracemalloc.start()
    with paused_gc():
        watches = [Watch(f"w{i}", q, parse_query(q), q) for i, q in enumerate(queries)]
    ws = WatchSet(watches)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    del ws, watches
    return t1 - t0, t2 - t1, peak, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-naive", action="store_true",
                        help="skip the naive baseline (a minute at 10,000 watches)")
    parser.add_argument("--check", type=Path, metavar="FILE",
                        help="instead of timing: write every corpus page's hits (10,000 "
                             "watches, details read) to FILE, or compare with FILE when "
                             "it exists")
    args = parser.parse_args()
    min_time = 0.5 if args.quick else 2.0

    docs = corpus_docs()
    if not docs:
        print(f"note: {CORPUS} not found; using the seed pages' vocabulary instead")
    seed = seed_article()
    long = long_article(docs, seed)
    vocab = vocabulary(docs, seed)
    print(f"vocabulary: {len(vocab[0])} words, {len(vocab[1])} names, {len(vocab[2])} "
          f"word pairs{' from ' + str(len(docs)) + ' corpus pages' if docs else ''}")
    print(f"articles: seed story {len(seed.text.split())} words; long "
          f"{len(long.text.split())} words")
    queries = make_watches(max(COMPILE, *SIZES), vocab)
    articles = [("seed", seed), ("5k words", long)]
    if args.check:
        return check_details(queries[:max(SIZES)], docs, articles, args.check)

    one = WatchSet([Watch("w0", queries[0], parse_query(queries[0]), queries[0])])
    rows = []
    for n in SIZES:
        t0 = time.process_time()
        ws = WatchSet([Watch(f"w{i}", q, parse_query(q), q) for i, q in
                       enumerate(queries[:n])])
        build = time.process_time() - t0
        naive = None if args.no_naive else Naive(queries[:n])
        for name, article in articles:
            engine_t, base_t, ratio = paired(lambda: ws.match(article),
                                             lambda: one.match(article), min_time)
            full_t, _, fratio = paired(lambda: with_details(ws, article),
                                             lambda: with_details(one, article), min_time)
            if naive is None:
                naive_t, nhits = float("nan"), -1
            else:
                naive_t = per_call(lambda: naive.match(article),
                                   min_time if n <= 1000 else 0, 200 if n <= 1000 else 1)
                nhits = naive.match(article)
            rows.append((n, name, engine_t, base_t, ratio, full_t, fratio, naive_t,
                         len(ws.match(article)), nhits, build))

    print()
    print("CPU ms per article; 'x 1 watch': median ratio to one watch timed alternately "
          "in the same run;")
    print("'+details': also reading every hit's spans, snippet and matched words (as "
          "the store does)")
    print(f"{'watches':>8} {'article':>9} {'engine ms':>10} {'1 watch':>8} "
          f"{'x 1 watch':>10} {'+details':>9} {'x 1 watch':>10} {'naive ms':>10} "
          f"{'naive/eng':>10} {'hits':>6} {'naive hits':>10} {'build s':>8}")
    for n, name, e, b, r, f, fr, nv, hits, nhits, build in rows:
        print(f"{n:>8,} {name:>9} {e * 1e3:>10.3f} {b * 1e3:>8.3f} {r:>10.2f} "
              f"{f * 1e3:>9.3f} {fr:>10.2f} {nv * 1e3:>10.2f} {nv / e:>10.1f} {hits:>6} "
              f"{nhits:>10} {build:>8.2f}")

    parse_s, compile_s, peak, rss = compile_cost(queries[:COMPILE])
    print()
    print(f"compile {COMPILE:,} watches: parse {parse_s:.2f} s + compile {compile_s:.2f} s "
          f"CPU = {parse_s + compile_s:.2f} s (target < 3 s); peak traced memory "
          f"{peak:.0f} MB, peak RSS grew {rss:.0f} MB (target < 150 MB)")
    print()
    ok = parse_s + compile_s < 3 and max(peak, rss) < 150
    for n, name, e, _b, r, _f, fr, nv, *_ in rows:
        if n == max(SIZES):
            good = r <= 2 and (nv != nv or nv / e >= 50)
            ok &= good
            print(f"{name}: 10,000 watches cost {r:.2f}x one watch (target <= 2x; "
                  f"{fr:.2f}x with every hit's details read), "
                  f"{nv / e:.0f}x less than naive (target >= 50x): "
                  f"{'OK' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
