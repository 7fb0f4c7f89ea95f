"""The one tokeniser: how every part of the monitor splits text into words.

A word token is a run of letters, digits and combining marks; a soft hyphen (U+00AD)
inside a word is kept in the token (and dropped by the forms built on it), and an
apostrophe (straight, curly or modifier letter) between two letters or digits joins
them ("they've", "Russia's"). Everything else separates words: spaces of every kind
(including no-break space), punctuation, underscores, and every hyphen or dash, so
"Kim Jong-un" is three words.

Unlike the ``\\w+`` it replaces, a combining mark never cuts a word in two (Hindi
"हिन्दी" is one word, not four), and "they've" is one word, not two.

Users:

- :mod:`monitor.matching.normalise` builds its exact / fold / base forms on
  :data:`WORD_RE` (and :data:`WORD_SPLIT_RE`, to keep character offsets).
- :mod:`monitor.dedup` shingles :func:`folded_words`.

This module is plain ``re`` and ``unicodedata``: importing it costs nothing.
"""

from __future__ import annotations

import re
import unicodedata


def _mark_class() -> str:
    """Build a regex character class body holding every combining mark of the BMP."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


_MARKS = _mark_class()
#: Characters read as an apostrophe: straight, right and left single quotes, modifier
#: letter apostrophe, acute accent and grave accent.
APOSTROPHES = "'\u2019\u02bc\u2018\u00b4`"
#: A word token: starts with a letter or digit; letters, digits, combining marks and soft
#: hyphens continue it, and an apostrophe continues it when a letter or digit follows.
#: (Written so that runs of letters are consumed in one step: it is the hot path.)
WORD_RE = re.compile(
    rf"[^\W_]+(?:(?:[{_MARKS}\u00ad]+|[{APOSTROPHES}](?=[^\W_]))[^\W_]*)*")
#: The same, capturing: ``WORD_SPLIT_RE.split(text)`` alternates separator, word,
#: separator, ..., so running lengths of the parts give every word's offsets.
WORD_SPLIT_RE = re.compile(f"({WORD_RE.pattern})")


def words(text: str) -> list[str]:
    """Split text into word tokens, exactly as written.

    Args:
        text: any text.

    Returns:
        The words in order (``text`` itself is not changed: no case folding).
    """
    return WORD_RE.findall(text)


def folded_words(text: str) -> list[str]:
    """The words of a text compared without case or compatibility differences: the
    text NFKC-normalised and case-folded, then split by :func:`words`.

    Every apostrophe becomes a straight one and soft hyphens are dropped, so two
    copies of a story that differ only in typography give the same words.

    Args:
        text: any text.

    Returns:
        The folded words in order ("Russia’s ﬁrst" -> ``["russia's", "first"]``).
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if "\u00ad" in text:
            text = text.replace("\u00ad", "")
    # str.replace per character: several times faster than str.translate on long text
    for apostrophe in _OTHER_APOSTROPHES:
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    return WORD_RE.findall(text.casefold())


_OTHER_APOSTROPHES = APOSTROPHES.replace("'", "")
