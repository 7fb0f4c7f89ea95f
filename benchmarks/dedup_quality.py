"""Near-duplicate detection: precision and recall on near-duplicate pairs, and the CPU
cost of a signature, for the monitor's signature (``monitor.dedup``) and the one it
replaced (datasketch MinHash, SHA-1 per shingle, 128 permutations, datasketch's LSH
bands 14 x 9), in the same run.

    python benchmarks/dedup_quality.py [--copies 2]

Pairs (from the article bodies of the 258 real news pages in ../shared/corpus/pages,
ground-truth.json, else the seed pages):

- copies: each body of 60+ words edited as outlets edit wire copy, ``--copies`` times
  each with different random choices: an added intro and byline with a trailing
  "Related:" line and 3 edited words (``wire``), the last fifth or third cut
  (``cut-1/5``, ``cut-1/3``), one paragraph dropped (``drop-para``), 5 %, 10 % or 20 % of
  the words replaced (``edit-5%``...), only the first half kept (``half``);
- different articles: every pair of two corpus bodies.

Truth: a pair is a near-duplicate when the exact Jaccard similarity of its 5-word
shingle sets is at least ``dedup.THRESHOLD`` (0.7), which is what the signature
estimates. A scheme "joins" a pair when the two signatures share an LSH band and their
estimated similarity reaches the threshold, exactly as the store decides. Printed:
precision and recall over all pairs, recall per kind of copy (what a user sees: which
edited copies join their story), the estimate's error against the exact similarity,
and the CPU per signature.

Target (issue "Pay only for the work"): the new signature and bands join no two
different articles, find at least as many near-duplicates (recall) with at least the
F1 of the old ones, and cost less CPU. Precision here counts as wrong the edited copies
joined with an exact similarity just under 0.7 (the estimate's +-0.04 noise): more
candidates found means more of those, which the "lowest J" column bounds.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from monitor import dedup  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "pages"


def bodies() -> list[str]:
    """Article bodies of the shared corpus (else the seed pages, extracted)."""
    gt = CORPUS / "ground-truth.json"
    if gt.exists():
        data = json.loads(gt.read_text(encoding="utf-8"))
        return [v.get("articleBody") or "" for v in data.values()]
    from monitor.extract import extract, page_from_file

    print(f"note: {gt} not found; using the seed pages")
    return [extract(page_from_file(str(p))).text for p in sorted((REPO / "seeds").glob("*.html"))]


def shingles(text: str) -> set[str]:
    w = dedup.tokens(text)
    return {" ".join(w[i:i + dedup.SHINGLE_WORDS]) for i in range(len(w) - dedup.SHINGLE_WORDS + 1)}


def exact(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def edit_words(text: str, share: float, rnd: random.Random) -> str:
    """Replace ``share`` of the words with other words of the text."""
    words = text.split(" ")
    for i in rnd.sample(range(len(words)), max(1, int(len(words) * share))):
        words[i] = rnd.choice(["reportedly", "officials", "said", "new", "latest",
                               "also", "however", "its"])
    return " ".join(words)


def copies(text: str, rnd: random.Random) -> list[tuple[str, str]]:
    """(kind, copy) edits of one body."""
    words = text.split()
    paras = [p for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    out = []
    wire = ("PARIS (Reuters) \u2014 This story was updated with comment from officials.\n\n"
            + edit_words(text, 3 / max(len(words), 3), rnd)
            + "\n\nRelated: What the decision means for the region")
    out.append(("wire", wire))
    out.append(("cut-1/5", " ".join(words[:len(words) * 4 // 5])))
    out.append(("cut-1/3", " ".join(words[:len(words) * 2 // 3])))
    if len(paras) > 2:
        drop = rnd.randrange(len(paras))
        out.append(("drop-para", "\n".join(p for i, p in enumerate(paras) if i != drop)))
    for share in (0.05, 0.10, 0.20):
        out.append((f"edit-{share:.0%}", edit_words(text, share, rnd)))
    out.append(("half", " ".join(words[:len(words) // 2])))
    return out


class Old:
    """datasketch MinHash (affine32, SHA-1 per shingle), as the monitor used before."""

    name = "old: datasketch sha1, 128 perm"
    bands, rows = 14, 9

    def __init__(self) -> None:
        from datasketch import MinHash

        self.MinHash = MinHash
        self.perms = MinHash(num_perm=128, seed=dedup.SEED, scheme="affine32").permutations

    def sig(self, text: str):
        w = dedup.tokens(text)
        if len(w) < dedup.MIN_TOKENS:
            return None
        sh = {" ".join(w[i:i + 5]) for i in range(len(w) - 4)}
        mh = self.MinHash(num_perm=128, seed=dedup.SEED, scheme="affine32",
                          permutations=self.perms)
        mh.update_batch(s.encode("utf-8") for s in sh)
        return np.asarray(mh.hashvalues, dtype=np.uint32)


class New:
    """monitor.dedup's signature."""

    bands, rows = dedup.BANDS, dedup.ROWS

    def __init__(self, bands: int = dedup.BANDS, rows: int = dedup.ROWS) -> None:
        self.bands, self.rows = bands, rows
        self.name = f"new: {dedup.SCHEME}, {dedup.NUM_PERM} perm, bands {bands}x{rows}"

    def sig(self, text: str):
        s = dedup.signature(text)
        return None if s is None else s.values


def joins(scheme, a, b) -> bool:
    """Share an LSH band and estimate at least the threshold (the store's decision)."""
    if a is None or b is None:
        return False
    n = scheme.bands * scheme.rows
    eq = (a[:n] == b[:n]).reshape(scheme.bands, scheme.rows).all(axis=1).any()
    return bool(eq) and float((a == b).mean()) >= dedup.THRESHOLD


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="edited copies of each kind per body")
    parser.add_argument("--bands", default="", metavar="BxR,...",
                        help="also try the new signature with these LSH bands (e.g. 25x5,32x4)")
    args = parser.parse_args()
    texts = [t for t in bodies() if len(t.split()) >= 60]
    rnd = random.Random(7)
    pairs = []   # (kind, original index, copy text)
    for i, t in enumerate(texts):
        for _ in range(args.copies):
            pairs += [(k, i, c) for k, c in copies(t, rnd)]
    sets = [shingles(t) for t in texts]
    truth_copy = [exact(sets[i], shingles(c)) for _, i, c in pairs]
    print(f"{len(texts)} bodies of 60+ words; {len(pairs)} edited copies, "
          f"{sum(j >= dedup.THRESHOLD for j in truth_copy)} of them near-duplicates "
          f"(exact Jaccard >= {dedup.THRESHOLD}); "
          f"{len(texts) * (len(texts) - 1) // 2} pairs of different articles")
    cross = [(i, j, exact(sets[i], sets[j])) for i in range(len(texts))
             for j in range(i + 1, len(texts))]
    print(f"different articles: {sum(x >= dedup.THRESHOLD for *_, x in cross)} pairs with "
          f"exact Jaccard >= {dedup.THRESHOLD} (republished texts); highest below: "
          f"{max(x for *_, x in cross if x < dedup.THRESHOLD):.3f}")

    schemes = []
    try:
        schemes.append(Old())
    except ImportError:
        print("note: datasketch is not installed; the old signature is not measured")
    schemes.append(New())
    for spec in filter(None, args.bands.split(",")):
        b, r = (int(x) for x in spec.split("x"))
        schemes.append(New(b, r))
    kinds = sorted({k for k, *_ in pairs}, key=[k for k, *_ in pairs].index)
    results = {}
    for scheme in schemes:
        t0 = time.process_time()
        orig = [scheme.sig(t) for t in texts]
        cost = (time.process_time() - t0) / len(texts)
        cps = [scheme.sig(c) for _, _, c in pairs]
        tp = fp = fn = fp_diff = 0
        lowest = 1.0
        by_kind: dict[str, list[int]] = {k: [0, 0] for k in kinds}
        err = []
        for (kind, i, _), s, truth in zip(pairs, cps, truth_copy, strict=True):
            got = joins(scheme, orig[i], s)
            if orig[i] is not None and s is not None:
                err.append(abs(float((orig[i] == s).mean()) - truth))
            if got:
                lowest = min(lowest, truth)
            if truth >= dedup.THRESHOLD:
                by_kind[kind][1] += 1
                by_kind[kind][0] += got
                tp += got
                fn += not got
            else:
                fp += got
        for i, j, truth in cross:
            got = joins(scheme, orig[i], orig[j])
            if truth >= dedup.THRESHOLD:
                tp += got
                fn += not got
            else:
                fp += got
                fp_diff += got
        results[scheme.name] = dict(cost=cost, tp=tp, fp=fp, fn=fn, by_kind=by_kind,
                                    fp_diff=fp_diff, lowest=lowest,
                                    precision=tp / (tp + fp) if tp + fp else 1.0,
                                    recall=tp / (tp + fn) if tp + fn else 1.0,
                                    mae=float(np.mean(err)), p99=float(np.quantile(err, 0.99)))
        r = results[scheme.name]
        r["f1"] = 2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"])

    print()
    print("FP: pairs joined below the threshold (of them, pairs of different articles); "
          "lowest J: the least exact Jaccard of a joined pair; |err|: the estimate's error")
    print(f"{'scheme':<48} {'ms/sig':>7} {'TP':>6} {'FP':>4} {'(diff)':>6} {'FN':>5} "
          f"{'precision':>9} {'recall':>7} {'F1':>6} {'lowest J':>8} {'|err| mean':>10} "
          f"{'p99':>6}")
    for name, r in results.items():
        print(f"{name:<48} {r['cost'] * 1e3:>7.3f} {r['tp']:>6} {r['fp']:>4} "
              f"{r['fp_diff']:>6} {r['fn']:>5} {r['precision']:>9.4f} {r['recall']:>7.4f} "
              f"{r['f1']:>6.4f} {r['lowest']:>8.3f} {r['mae']:>10.4f} {r['p99']:>6.3f}")
    print()
    print("near-duplicate copies found, by kind of edit (found / near-duplicates of that kind):")
    print(f"{'kind':<10}" + "".join(f" {n[:22]:>24}" for n in results))
    for k in kinds:
        print(f"{k:<10}" + "".join(
            f" {r['by_kind'][k][0]:>11} / {r['by_kind'][k][1]:<10}" for r in results.values()))
    if len(results) >= 2 and isinstance(schemes[0], Old):
        old, new = list(results.values())[:2]
        ok = (new["fp_diff"] == 0 and new["f1"] >= old["f1"] and new["recall"] >= old["recall"]
              and new["cost"] < old["cost"])
        print()
        print(f"target: no two different articles joined ({new['fp_diff']}; old "
              f"{old['fp_diff']}), F1 {new['f1']:.4f} (old {old['f1']:.4f}), recall "
              f"{new['recall']:.4f} (old {old['recall']:.4f}), precision "
              f"{new['precision']:.4f} (old {old['precision']:.4f}), "
              f"{new['cost'] * 1e3:.3f} ms per signature (old {old['cost'] * 1e3:.3f} ms): "
              f"{'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
