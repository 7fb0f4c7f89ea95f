"""Near-duplicate story detection: wire copies of one article become one story.

A wire story (AP, Reuters, AFP) is republished by many outlets with small changes: an
added intro line, another byline, a trailing "Related:" line, a few edited words. Its
text fingerprint then differs, but most of its 5-word shingles stay the same. This
module estimates the Jaccard similarity of two articles' shingle sets with a MinHash
signature, and cuts each signature into LSH bands: two articles whose signatures agree
on a whole band are candidates, and a candidate whose estimated similarity reaches
``THRESHOLD`` is the same story.

The signature is computed with numpy in one pass (words hashed with CRC-32, shingles
combined and mixed in 64 bits, ``NUM_PERM`` multiply-shift permutations): about a third
of the CPU of ``datasketch``'s SHA-1 per shingle (0.33 against 0.9 ms for a 700-word
article), with the same error of the similarity estimate; with the bands below it finds
more of the near-duplicate pairs (``benchmarks/dedup_quality.py``). Signatures and band keys are
stable across processes, platforms and restarts (fixed seed, no Python ``hash``), so
they are stored in the database: :mod:`monitor.store` keeps the band keys in an indexed
table, and nothing grows in memory with the number of stories. :class:`StoryIndex` is
the same lookup held in memory, for small sets (tests, benchmarks).

numpy is imported on first use, so importing this module costs nothing on paths that
never compute a signature. This module imports no Scrapy, Twisted or APScheduler, and
knows nothing of SQLite.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.tokens import folded_words

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Words per shingle.
SHINGLE_WORDS = 5
#: MinHash permutations: 128 give a Jaccard estimate within about +-0.04 near 0.75.
NUM_PERM = 128
#: LSH bands and rows per band (BANDS * ROWS <= NUM_PERM). Two articles with similarity
#: 0.7 share a band with probability 0.99, with 0.8 0.99995, with 0.5 0.55, with 0.1
#: 0.0003; a candidate is then kept only when its estimate reaches ``THRESHOLD``, so
#: more candidates cost a lookup, not precision. Chosen on measured pairs
#: (``benchmarks/dedup_quality.py``): recall 0.999 on copies whose shingle similarity is
#: 0.7 or more, where datasketch's optimum for 0.7 (14 bands of 9: 0.44 at similarity
#: 0.7) found 0.936; no two different articles joined with either.
BANDS, ROWS = 25, 5
#: Fixed, so every process computes the same permutations and signatures compare.
SEED = 20240619
#: Identifies how signatures are computed. Stored signatures of another scheme (the
#: datasketch "affine32" SHA-1 signatures of migrations m003 to m007) are recomputed by
#: the migration that introduced this one. "words-": the words come from the one
#: tokeniser (:mod:`monitor.tokens`) instead of ``\w+``: an apostrophe no longer splits
#: a word and a combining mark (Hindi, Bengali, ...) no longer cuts one in pieces; on
#: English text a signature differs from a "crc32-mix64-ms" one only around words with
#: an apostrophe, so a stored signature of that scheme still compares, a little lower.
#: (The store should recompute the last days' signatures in a migration, as m009 did.)
SCHEME = "words-crc32-mix64-ms"
#: Two articles whose estimated shingle Jaccard similarity is at least this are one story.
#: Measured on 257 real news pages (32,896 pairs): different articles score 0.008 at
#: most, except one op-ed a publisher ran twice with a paragraph cut (0.79, rightly one
#: story). A copy with an added intro and byline, a trailing "Related:" line and 3 edited
#: words scores at least 0.70 for texts of 150+ words (median 0.94; 0.77 and up from 300
#: words). A copy missing its last fifth scores about 0.70 (median), so about half of
#: such cut copies start a new story. Chinese and Japanese text, written without spaces,
#: yields a few long "words" and matches poorly.
THRESHOLD = 0.7
#: Texts with fewer words than this get no signature (their shingle sets are too small
#: for a stable estimate); they are grouped by exact fingerprint only.
MIN_TOKENS = 30
#: Shingles hashed per numpy block (bounds the temporary array: NUM_PERM x 4096 x 8 bytes).
_BLOCK = 4096

_M64 = (1 << 64) - 1


def tokens(text: str) -> list[str]:
    """The words of ``text``, NFKC-normalised and case-folded, split by the one
    tokeniser (:func:`monitor.tokens.folded_words`, as matching splits them).

    Args:
        text: an article body.

    Returns:
        The folded words in order.
    """
    return folded_words(text)


def _splitmix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser on a uint64 array (a bijection that mixes every bit)."""
    import numpy as np

    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@functools.cache
def _params() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(shingle position multipliers, permutation multipliers (odd), permutation offsets,
    band position multipliers), all uint64, drawn once from ``SEED``."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(SEED))

    def draw(n: int) -> np.ndarray:
        return rng.integers(0, _M64, size=n, dtype=np.uint64, endpoint=True)

    shingle = draw(SHINGLE_WORDS) | np.uint64(1)
    a = (draw(NUM_PERM) | np.uint64(1)).reshape(-1, 1)
    b = draw(NUM_PERM).reshape(-1, 1)
    band = draw(ROWS) | np.uint64(1)
    return shingle, a, b, band


class Signature:
    """A MinHash signature: ``NUM_PERM`` uint32 values, the minimum of each permutation
    over an article's 5-word shingles.

    Args:
        values: a uint32 numpy array of length ``NUM_PERM``.
    """

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def jaccard(self, other: Signature) -> float:
        """The estimated Jaccard similarity (0.0 to 1.0) of the two shingle sets: the
        share of permutations on which the signatures agree."""
        return float((self.values == other.values).mean())

    def band_keys(self) -> list[int]:
        """The ``BANDS`` LSH band keys: signed 64-bit integers (as SQLite stores them),
        one per band, different for the same values in another band. Two signatures
        that agree on all ``ROWS`` values of a band share that band's key."""
        import numpy as np

        _, _, _, mult = _params()
        rows = self.values[:BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
        keys = (rows * mult).sum(axis=1, dtype=np.uint64)
        keys = keys + np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return _splitmix(keys).view(np.int64).tolist()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and bool((self.values == other.values).all())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Signature({self.values[:4].tolist()}...)"


def signature(text: str) -> Signature | None:
    """The MinHash signature of an article body's 5-word shingles.

    Args:
        text: the article body.

    Returns:
        The signature, or None when the text has fewer than ``MIN_TOKENS`` words.
    """
    import numpy as np

    words = tokens(text)
    if len(words) < MIN_TOKENS:
        return None
    shingle_mult, a, b, _ = _params()
    ids = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.uint64,
                      count=len(words))
    n = len(words) - SHINGLE_WORDS + 1
    h = ids[:n] * shingle_mult[0]
    for j in range(1, SHINGLE_WORDS):
        h = h + ids[j:j + n] * shingle_mult[j]
    h = _splitmix(h)
    shift = np.uint64(32)
    out = np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint64)
    for start in range(0, n, _BLOCK):
        block = h[start:start + _BLOCK]
        np.minimum(out, ((block * a + b) >> shift).min(axis=1), out=out)
    return Signature(out.astype(np.uint32))


def to_bytes(sig: Signature) -> bytes:
    """Serialise a signature for the database: ``NUM_PERM`` little-endian uint32 values
    (512 bytes)."""
    return sig.values.astype("<u4", copy=False).tobytes()


def from_bytes(data: bytes) -> Signature:
    """Read a signature written by :func:`to_bytes`.

    Raises:
        ValueError: ``data`` is not ``NUM_PERM`` uint32 values (e.g. written with other
            settings).
    """
    import numpy as np

    if len(data) != NUM_PERM * 4:
        raise ValueError(f"a signature is {NUM_PERM * 4} bytes, got {len(data)}")
    return Signature(np.frombuffer(data, dtype="<u4"))


def best_match(sig: Signature, candidates: Iterable[tuple[int, Signature]],
               threshold: float = THRESHOLD) -> int | None:
    """The candidate story most similar to ``sig``, if similar enough.

    Args:
        sig: the new article's signature.
        candidates: (story id, signature) pairs, e.g. the stories sharing a band key.
        threshold: the least estimated Jaccard similarity that joins a story.

    Returns:
        The story id with the highest estimated similarity at or above ``threshold``
        (the lowest id on ties), or None.
    """
    best, best_score = None, -1.0
    for story_id, other in candidates:
        score = sig.jaccard(other)
        if score >= threshold and (score > best_score or (
                score == best_score and best is not None and story_id < best)):
            best, best_score = story_id, score
    return best


class StoryIndex:
    """An in-memory LSH index of story signatures, for small sets (tests, benchmarks):
    the store keeps the same band keys in SQLite instead.

    Memory: about 3 KB per story (the signature, its ``BANDS`` keys and their sets).

    Args:
        threshold: estimated Jaccard similarity at or above which an article joins a story.

    Raises:
        ValueError: ``threshold`` is not in (0, 1].
    """

    def __init__(self, threshold: float = THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.threshold = threshold
        self._signatures: dict[int, Signature] = {}
        self._keys: dict[int, list[int]] = {}
        self._bands: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, story_id: int) -> bool:
        return story_id in self._signatures

    def add(self, story_id: int, sig: Signature) -> None:
        """Index the signature of a story (of its first article); a known id is kept as is."""
        if story_id in self._signatures:
            return
        self._signatures[story_id] = sig
        self._keys[story_id] = keys = sig.band_keys()
        for key in keys:
            self._bands.setdefault(key, set()).add(story_id)

    def remove(self, story_id: int) -> None:
        """Forget a story (an unknown id is ignored)."""
        if self._signatures.pop(story_id, None) is None:
            return
        for key in self._keys.pop(story_id):
            ids = self._bands[key]
            ids.discard(story_id)
            if not ids:
                del self._bands[key]

    def match(self, sig: Signature) -> int | None:
        """The indexed story most similar to ``sig``, if similar enough (see
        :func:`best_match`): the story id, or None."""
        ids = set()
        for key in sig.band_keys():
            ids |= self._bands.get(key, set())
        return best_match(sig, ((i, self._signatures[i]) for i in sorted(ids)),
                          self.threshold)

    def find(self, text: str) -> int | None:
        """The story an article body belongs to, or None (also for very short texts)."""
        sig = signature(text)
        return None if sig is None else self.match(sig)
