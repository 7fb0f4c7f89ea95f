"""Normalisation: the same tokens on both sides of a match."""

from __future__ import annotations

import pytest

from monitor.matching.normalise import fold_diacritics, term_tokens, tokenise


@pytest.mark.parametrize("text, folds", [
    ("Kim Jong-un", ["kim", "jong", "un"]),                    # hyphen separates words
    ("Kim Jong\u2010un Kim Jong\u2013un Kim\u2014Jong", ["kim", "jong", "un", "kim", "jong",
                                                         "un", "kim", "jong"]),
    ("Russia's", ["russia"]),                                   # possessive dropped
    ("Russia\u2019s RUSSIA'S", ["russia", "russia"]),           # curly apostrophe, caps
    ("they\u2019ve they've", ["they've", "they've"]),           # contraction kept whole
    ("de\u00adfence", ["defence"]),                             # soft hyphen ignored
    ("mutual\u00a0defence", ["mutual", "defence"]),             # no-break space
    ("\ufb01nance", ["finance"]),                               # NFKC ligature
    ("\uff35\uff33", ["us"]),                                   # full-width letters
    ("Stra\u00dfe", ["strasse"]),                               # case folding, not lower()
    ("cafe\u0301", ["caf\u00e9"]),                              # combining accent composed
    ("U.S.-led", ["u", "s", "led"]),
    ("snake_case", ["snake", "case"]),
    ("", []),
])
def test_token_fold_forms(text, folds):
    assert [t.fold for t in term_tokens(text)] == folds


@pytest.mark.parametrize("raw, exact, fold, base", [
    ("S\u00e3o", "S\u00e3o", "s\u00e3o", "sao"),
    ("\u0110o\u00e0n", "\u0110o\u00e0n", "\u0111o\u00e0n", "doan"),
    ("US", "US", "us", "us"),
    ("Pyongyang\u2019s", "Pyongyang", "pyongyang", "pyongyang"),
])
def test_three_forms(raw, exact, fold, base):
    [t] = term_tokens(raw)
    assert (t.exact, t.fold, t.base) == (exact, fold, base)


def test_offsets_point_into_the_original_text():
    text = "Putin\u2019s \u00abvisit\u00bb to Pyong\u00adyang \u2014 Kim Jong-un."
    toks = tokenise(text)
    assert [text[s:e] for s, e, _ in toks] == [
        "Putin\u2019s", "visit", "to", "Pyong\u00adyang", "Kim", "Jong", "un"]
    assert [f.fold for _, _, f in toks] == ["putin", "visit", "to", "pyongyang", "kim",
                                            "jong", "un"]


def test_fold_diacritics():
    assert fold_diacritics("S\u00e3o Paulo, \u0141\u00f3d\u017a, K\u00f8benhavn") == \
        "Sao Paulo, Lodz, Kobenhavn"


def test_dedup_and_matching_split_words_the_same_way():
    """One tokeniser (monitor.tokens): the words dedup shingles are the words matching
    finds, folded; a combining mark does not cut a Hindi word, an apostrophe joins."""
    from monitor import dedup

    text = "Russia\u2019s ﬁrst pact: they've signed. हिन्दी समाचार, Kim Jong-un, São Paulo"
    assert dedup.tokens(text) == [
        "russia's", "first", "pact", "they've", "signed", "हिन्दी", "समाचार", "kim",
        "jong", "un", "são", "paulo"]
    matched = [forms.fold for _, _, forms in tokenise(text)]
    # matching drops the possessive 's in its forms; otherwise the same words
    assert [w.removesuffix("'s") for w in dedup.tokens(text)] == matched
