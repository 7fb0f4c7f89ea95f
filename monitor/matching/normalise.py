"""Text normalisation shared by watch terms and article text.

Both sides go through the same two steps, so a term matches exactly when its tokens
equal the article's tokens:

1. :func:`tokenise` splits text into word tokens with :mod:`monitor.tokens` (the one
   tokeniser, shared with dedup). A token is a run of letters, digits
   and combining marks; a soft hyphen (U+00AD) inside a word is ignored, an apostrophe
   (straight, curly or modifier letter) between two letters joins them ("they've").
   Everything else separates words: spaces of every kind (including no-break space),
   punctuation, and every hyphen or dash, so "Kim Jong-un" is ``kim jong un``.
2. :func:`normalise_token` turns one raw token into three forms:

   - ``exact``: NFKC, soft hyphens removed, apostrophes made straight, a possessive
     ``'s`` removed ("Russia's" -> "Russia"). Used by exact-case terms (``case:US``).
   - ``fold``: ``exact`` case-folded. Used by ordinary terms.
   - ``base``: ``fold`` with diacritics removed ("Đoàn" -> "doan"). The automaton is built
     over this form; terms that keep diacritics or case check the stricter form after.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from monitor.tokens import APOSTROPHES, WORD_RE, WORD_SPLIT_RE

#: The word tokeniser shared with dedup (see :mod:`monitor.tokens`); matching builds its
#: forms on these words.
TOKEN_RE = WORD_RE
#: ``TOKEN_SPLIT_RE.split(text)`` alternates separator, token, ... (for offsets).
TOKEN_SPLIT_RE = WORD_SPLIT_RE

_APOS_TABLE = str.maketrans({c: "'" for c in APOSTROPHES} | {"\u00ad": None})
# Letters that carry a "diacritic" but do not decompose under NFD.
_UNDECOMPOSABLE = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d",
                                 "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i"})


class TokenForms(NamedTuple):
    """The three comparison forms of one token (see the module docstring)."""

    exact: str
    fold: str
    base: str


def fold_diacritics(text: str) -> str:
    """Remove diacritics: "Đoàn Văn" -> "Doan Van", "São" -> "Sao".

    Args:
        text: any text.

    Returns:
        The text with combining marks removed after canonical decomposition, recomposed
        (NFC), and a few letters that do not decompose (ø, ł, đ, ħ, ı) mapped to ASCII.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.translate(_UNDECOMPOSABLE))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def _normalise(raw: str) -> TokenForms:
    if raw.isascii() and "'" not in raw and "`" not in raw:
        low = raw.lower()
        return TokenForms(raw, low, low)
    exact = unicodedata.normalize("NFKC", raw.translate(_APOS_TABLE)).translate(_APOS_TABLE)
    if len(exact) > 2 and exact[-2] == "'" and exact[-1] in "sS":
        exact = exact[:-2]
    fold = exact.casefold()
    return TokenForms(exact, fold, fold_diacritics(fold))


_CACHE: dict[str, TokenForms] = {}
_CACHE_LIMIT = 500_000


def normalise_token(raw: str) -> TokenForms:
    """Normalise one raw token (as found by :data:`TOKEN_RE`).

    Args:
        raw: the token exactly as it appears in the text.

    Returns:
        Its exact, fold and base forms. Results are memoised (tokens repeat a lot).
    """
    forms = _CACHE.get(raw)
    if forms is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        forms = _CACHE[raw] = _normalise(raw)
    return forms


def raw_tokens(text: str) -> list[str]:
    """Split text into raw word tokens (no offsets; the fast path used for matching).

    Args:
        text: article or query text.

    Returns:
        The raw tokens in order.
    """
    return TOKEN_RE.findall(text)


def bases_of(raws: list[str]) -> list[str]:
    """Map raw tokens to their ``base`` forms (the hot loop of matching).

    Args:
        raws: raw tokens from :func:`raw_tokens`.

    Returns:
        Base forms in order (case-folded, diacritics removed).
    """
    get = _CACHE.get
    return [(get(raw) or normalise_token(raw)).base for raw in raws]


def tokenise(text: str) -> list[tuple[int, int, TokenForms]]:
    """Tokenise text keeping character offsets into the original string.

    Args:
        text: the original text (offsets refer to it, unchanged).

    Returns:
        ``(start, end, forms)`` for every token; ``text[start:end]`` is the raw token,
        including any possessive ``'s`` that the forms drop.
    """
    return [(m.start(), m.end(), normalise_token(m.group())) for m in TOKEN_RE.finditer(text)]


def term_tokens(text: str) -> list[TokenForms]:
    """Tokenise a query term or phrase the same way article text is tokenised.

    Args:
        text: the term as written (without quotes or operators).

    Returns:
        The forms of each token; empty when the term holds no letters or digits.
    """
    return [normalise_token(raw) for raw in TOKEN_RE.findall(text)]

