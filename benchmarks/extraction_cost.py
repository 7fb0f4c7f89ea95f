"""CPU cost of the product's extraction against bare trafilatura, page by page, same run.

    python benchmarks/extraction_cost.py                 # corpus + 120 generated pages
    python benchmarks/extraction_cost.py --quick         # a third of the corpus + 40 pages
    python benchmarks/extraction_cost.py --set generated --worst 10

Two page sets:

- ``corpus``: the real news pages of ``../shared/corpus/pages`` (skipped when absent);
- ``generated``: pages this script builds from a fixed seed, shaped and sized like real
  ones (60 to 600 KB: a heavy head, inline script payloads, menus of hundreds of links,
  teaser grids, comments, consent banners, paywall offers) and dated the ways sites do
  (JSON-LD, meta tags, ``<time>``, only in visible text, or not at all), so that they
  also take the paths the corpus rarely takes: the date search in the text, the
  second (recall) pass, fallbacks. Their article text is sentences of the corpus when
  it is present, else of a built-in word list.

For each page, in one process with the pages in memory: the CPU seconds
(``time.process_time``) of bare ``trafilatura.extract(html)`` (the baseline: what a bare
trafilatura deployment pays per page) and of the product's ``monitor.extract.extract``
(decoding, parsing, metadata, body, verdict, date: everything), each the least of
``--repeat`` interleaved runs, so that a moment of load from other processes counts as
little as possible. Printed per set: both means (ms per page), the ratio of the sums
(the target is at most 1.1), the per-page ratio at the median, p90 and max, the pages
with the highest ratio, and body F1 of both against the generated article text (the
generated set; ``benchmarks/extraction_quality.py`` scores the corpus).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import logging
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.extract import extract  # noqa: E402
from monitor.models import Article, ExtractOptions, Page  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pages"
TARGET = 1.1
TOKEN = re.compile(r"\w+")
_WORD_LIST = ("minister talks sanctions port harbour council vote budget river storm city "
              "officials said report according agency weather rail strike court ruling police "
              "election parliament company shares market growth inflation energy prices workers "
              "union hospital school teachers museum festival season team coach league final "
              "injury researchers study climate flood drought farmers harvest exports imports "
              "border")
WORDS = tuple(_WORD_LIST.split())


@dataclass
class Sample:
    """One page: its key, URL, bytes, and the article text when it is known."""

    key: str
    url: str
    body: bytes
    text: str | None = None
    bare: float = float("inf")
    product: float = float("inf")
    got: dict = field(default_factory=dict)


# ------------------------------------------------------------------ the page sets


def corpus_pages(step: int) -> list[Sample]:
    """Every ``step``-th page of the shared corpus (empty when it is absent)."""
    truth_file = CORPUS / "ground-truth.json"
    if not truth_file.exists():
        return []
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    out = []
    for key in sorted(truth)[::step]:
        body = gzip.decompress((CORPUS / "html" / f"{key}.html.gz").read_bytes())
        out.append(Sample(key, truth[key]["url"], body, truth[key]["articleBody"]))
    return out


def _sentences(rng: random.Random) -> list[str]:
    """Sentences to write articles with: from the corpus's article texts when present."""
    truth_file = CORPUS / "ground-truth.json"
    if truth_file.exists():
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        found = []
        for want in truth.values():
            found += [s.strip() + "." for s in re.split(r"(?<=[.!?])\s+", want["articleBody"])
                      if 40 <= len(s) <= 300]
        if len(found) > 500:
            return found
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + "."
            for _ in range(3000)]


_CONSENT = ("We and our partners use cookies and similar technologies to store and access "
            "information on your device for personalised ads and content, ad measurement and "
            "audience insights. You can accept all, reject all or manage preferences; you can "
            "withdraw your consent at any time in the privacy settings.")
_OFFER = ("Subscribe now to continue reading. Already a subscriber? Log in. Unlimited digital "
          "access for 1 euro in the first month, cancel anytime.")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def generated_page(i: int, rng: random.Random, sentences: list[str]) -> Sample:
    """One real-sized news page with a randomly chosen shape (see the module docstring)."""
    host = f"news{i % 17}.example"
    url = f"https://{host}/{rng.choice(['politics', 'world', 'business', 'sport'])}/story-{i}"
    when = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:" \
           f"{rng.randint(0, 59):02d}:00+01:00"
    day, month, year = int(when[8:10]), _MONTHS[int(when[5:7]) - 1], when[:4]
    title = " ".join(rng.choice(sentences).split()[:rng.randint(6, 12)]).rstrip(".,;:")
    paras = [" ".join(rng.choice(sentences) for _ in range(rng.randint(1, 5)))
             for _ in range(rng.randint(4, 30))]
    dating = rng.choice(["json-ld", "meta", "time", "text", "text", "none"])
    paywall, consent = rng.random() < 0.2, rng.random() < 0.3
    head = [f"<title>{_esc(title)} | News {i % 17}</title>",
            '<meta charset="utf-8">', f'<link rel="canonical" href="{url}">',
            f'<meta property="og:title" content="{_esc(title)}">',
            '<meta property="og:type" content="article">',
            f'<meta name="description" content="{_esc(paras[0][:150])}">']
    head += [f'<link rel="preload" href="/static/chunk-{k}.js" as="script">'
             for k in range(rng.randint(5, 60))]
    head += [f'<meta name="x-config-{k}" content="{rng.random()}">' for k in range(rng.randint(0, 40))]
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title}
    if dating == "json-ld":
        ld["datePublished"] = when
    if dating == "meta":
        head.append(f'<meta property="article:published_time" content="{when}">')
    head.append(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    # inline payloads: analytics and app state, often larger than the article
    for k in range(rng.randint(1, 6)):
        state = {"k": k, "items": [{"id": rng.randint(1, 10**9), "label": rng.choice(WORDS),
                                    "flags": [rng.random() < .5 for _ in range(4)]}
                                   for _ in range(rng.randint(20, 900))]}
        head.append(f"<script>window.__STATE_{k}__ = {json.dumps(state)};</script>")
    head.append("<style>" + "".join(f".c{k}{{margin:{k}px;padding:{k % 7}px}}"
                                    for k in range(rng.randint(50, 1500))) + "</style>")
    nav = "".join(f'<li class="menu-item"><a href="/section/{k}">{rng.choice(WORDS).title()}</a></li>'
                  for k in range(rng.randint(40, 500)))
    body = [f'<header class="site-header"><nav class="main-nav"><ul>{nav}</ul></nav></header>']
    if consent:
        body.append(f'<div id="cmp-banner" class="consent-layer"><p>{_CONSENT}</p>'
                    '<button>Accept all</button><button>Reject all</button></div>')
    byline = f'<div class="byline">By {rng.choice(WORDS).title()} {rng.choice(WORDS).title()}'
    if dating == "time":
        byline += f' <time datetime="{when}">{day} {month} {year}</time>'
    elif dating == "text":
        byline += f' <span class="date">Published {day} {month} {year}, {when[11:16]}</span>'
    byline += "</div>"
    article = [f"<h1>{_esc(title)}</h1>", byline]
    for k, para in enumerate(paras):
        article.append(f"<p>{_esc(para)}</p>")
        if k and k % 6 == 0:
            article.append(f'<figure><img src="/img/{k}.jpg" alt=""><figcaption>Photo: '
                           f'{rng.choice(WORDS)}</figcaption></figure>')
    if paywall:
        article = [*article[:6], f'<div class="paywall-offer"><p>{_OFFER}</p>'
                                 '<a href="/subscribe">Subscribe</a></div>']
    body.append(f'<main><article class="story-body">{"".join(article)}</article></main>')
    cards = "".join(f'<div class="teaser"><h3><a href="/story-{rng.randint(1, 10**6)}">'
                    f'{_esc(rng.choice(sentences)[:80])}</a></h3><p>{_esc(rng.choice(sentences)[:160])}'
                    f"</p></div>" for _ in range(rng.randint(0, 30)))
    body.append(f'<aside class="related">{cards}</aside>')
    comments = "".join(f'<li class="comment"><p class="author">{rng.choice(WORDS)}</p>'
                       f"<p>{_esc(rng.choice(sentences))}</p></li>" for _ in range(rng.randint(0, 60)))
    if comments:
        body.append(f'<section id="comments"><h2>Comments</h2><ol>{comments}</ol></section>')
    foot = "".join(f'<a href="/f/{k}">{rng.choice(WORDS)}</a> ' for k in range(rng.randint(20, 200)))
    body.append(f'<footer class="site-footer">{foot}<p>© {year} News {i % 17}. All rights '
                f"reserved.</p></footer>")
    body += ['<svg class="icon" viewBox="0 0 24 24"><path d="' + "M0 0L24 24 " * 40 + '"/></svg>'
             for _ in range(rng.randint(0, 80))]
    lang = rng.choice(["en", "en", "de", "fr"])
    html = (f'<!DOCTYPE html><html lang="{lang}"><head>{"".join(head)}</head><body>'
            f'{"".join(body)}</body></html>')
    text = "\n\n".join(paras if not paywall else paras[:4])
    return Sample(f"gen/{i:03d}-{dating}{'-paywall' if paywall else ''}"
                  f"{'-consent' if consent else ''}", url, html.encode("utf-8"), text)


def generated_pages(n: int, seed: int = 14) -> list[Sample]:
    """``n`` generated pages (the same ones for the same ``n`` and ``seed``)."""
    rng = random.Random(seed)
    sentences = _sentences(rng)
    return [generated_page(i, rng, sentences) for i in range(n)]


# ------------------------------------------------------------------ measuring


def _f1(got: str | None, want: str | None) -> float:
    g = set(TOKEN.findall((got or "").lower()))
    w = set(TOKEN.findall((want or "").lower()))
    common = len(g & w)
    if not g or not w or not common:
        return 0.0
    p, r = common / len(g), common / len(w)
    return 2 * p * r / (p + r)


def measure(samples: list[Sample], repeat: int) -> None:
    """Fill each sample's least CPU seconds for bare trafilatura and for the product."""
    options = ExtractOptions()
    for s in samples:
        html = s.body.decode("utf-8", errors="replace")
        page = Page(url=s.url, body=s.body, source="bench",
                    headers={"content-type": "text/html; charset=utf-8"})
        for _ in range(repeat):
            start = time.process_time()
            text = trafilatura.extract(html)
            s.bare = min(s.bare, time.process_time() - start)
            start = time.process_time()
            result = extract(page, options)
            s.product = min(s.product, time.process_time() - start)
        s.got = {"bare": text,
                 "product": result.text if isinstance(result, Article) else None,
                 "reason": None if isinstance(result, Article) else result.reason}


def report(name: str, samples: list[Sample], worst: int) -> float:
    """Print the figures of one page set; return the ratio of the sums."""
    n = len(samples)
    bare, product = sum(s.bare for s in samples), sum(s.product for s in samples)
    ratios = sorted(s.product / s.bare for s in samples)
    ratio = product / bare
    kb = sum(len(s.body) for s in samples) / n / 1024
    print(f"\n== {name}: {n} pages, {kb:.0f} KB on average")
    print(f"bare trafilatura.extract (baseline) {bare / n * 1e3:8.2f} ms CPU per page "
          f"({n / bare:.1f} pages/s on one core)")
    print(f"product monitor.extract.extract      {product / n * 1e3:8.2f} ms CPU per page")
    print(f"ratio product / bare (sum of pages)  {ratio:8.3f}   target <= {TARGET} "
          f"{'ok' if ratio <= TARGET else 'OVER'}")
    print(f"per-page ratio: median {statistics.median(ratios):.3f}, "
          f"p90 {ratios[int(0.9 * (n - 1))]:.3f}, max {ratios[-1]:.3f}")
    if any(s.text for s in samples) and name != "corpus":
        f_bare = statistics.mean(_f1(s.got["bare"], s.text) for s in samples)
        f_prod = statistics.mean(_f1(s.got["product"], s.text) for s in samples)
        print(f"body F1 (word sets) against the generated text: bare {f_bare:.3f}, "
              f"product {f_prod:.3f}")
    rejected = [f"{s.key}: {s.got['reason']}" for s in samples if s.got["reason"]]
    if rejected:
        print(f"product rejections: {len(rejected)} ({'; '.join(rejected[:5])}"
              f"{' ...' if len(rejected) > 5 else ''})")
    print(f"{worst} pages with the highest ratio (product ms, bare ms):")
    for s in sorted(samples, key=lambda s: s.product / s.bare, reverse=True)[:worst]:
        print(f"  {s.product / s.bare:6.2f}  {s.product * 1e3:7.1f} {s.bare * 1e3:7.1f}  {s.key}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a third of the corpus, 40 generated pages, one run each")
    ap.add_argument("--set", choices=["corpus", "generated", "both"], default="both")
    ap.add_argument("--generated", type=int, help="generated pages (default 120, quick 40)")
    ap.add_argument("--repeat", type=int, help="runs per page, least taken (default 3, quick 1)")
    ap.add_argument("--worst", type=int, default=5, help="pages listed by ratio (default 5)")
    args = ap.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    count = args.generated or (40 if args.quick else 120)
    logging.disable(logging.CRITICAL)
    sets = []
    if args.set in ("corpus", "both"):
        pages = corpus_pages(3 if args.quick else 1)
        if pages:
            sets.append(("corpus", pages))
        else:
            print(f"no corpus at {CORPUS}: corpus set skipped")
    if args.set in ("generated", "both"):
        sets.append(("generated", generated_pages(count)))
    # warm both paths (imports, regex compilation, lazy tables) before any timing
    warm = sets[0][1][:3]
    measure([Sample(s.key, s.url, s.body) for s in warm], 1)
    gc.collect()
    results = {}
    for name, samples in sets:
        measure(samples, repeat)
        results[name] = report(name, samples, args.worst)
    print("\nratio product / bare CPU: " + ", ".join(f"{k} {v:.3f}" for k, v in results.items())
          + f" (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
