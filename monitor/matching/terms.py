"""The term table: every distinct term of every watch, and the automaton that finds them.

A term's spellings (variants, entity aliases) each become one automaton pattern over
``base`` token forms joined by NUL: ``\\0mutual\\0defence\\0`` for whole words,
``\\0sanction`` (no closing NUL) for the prefix ``sanction*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from operator import not_

import ahocorasick

from monitor.matching.entities import EntityRegistry, Variants
from monitor.matching.normalise import TokenForms, fold_diacritics, normalise_token, term_tokens
from monitor.matching.query import DEFAULT_FIELDS, FIELDS, QueryError, Term

SEP = "\x00"
#: A term's field (None: the default fields) -> the field indices it is looked for in.
_FIELD_SETS = {f: frozenset((FIELDS.index(f),)) for f in FIELDS} | {
    None: frozenset(FIELDS.index(f) for f in DEFAULT_FIELDS)}
_COMMENTS = FIELDS.index("comments")
MAX_ALTERNATIVES = 256

#: A check of a term spelling: (field indices, mode, level, strict forms, wildcard,
#: term id); see TermTable.automaton.
Check = tuple[frozenset[int], int, int, tuple[str, ...], bool, int]
#: A spelling of a term: (tokens, comparison level, wildcard).
Spelling = tuple[list[TokenForms], int, bool]

# comparison levels of a term spelling against a text token
BASE, FOLD, EXACT, EXACT_BASE = 0, 1, 2, 3

Occ = tuple[int, int, int]          # (field index, first token, token after the last)


def level_form(forms: TokenForms, level: int) -> str:
    """The form of a token compared at a level."""
    if level == BASE:
        return forms.base
    if level == FOLD:
        return forms.fold
    if level == EXACT:
        return forms.exact
    return fold_diacritics(forms.exact)


@dataclass(slots=True)
class TermInfo:
    """A distinct term: its label as first written, fields, and a rarity estimate."""

    label: str
    fields: frozenset[int]
    weight: float


class TermTable:
    """Distinct terms (shared by watches) and the automaton patterns that find them."""

    def __init__(self, entities: EntityRegistry, variants: Variants) -> None:
        self.entities = entities
        self.variants = variants
        self.terms: list[TermInfo] = []
        self.by_key: dict[tuple[object, ...], int] = {}
        # pattern -> its checks: (fields, mode, level, strict forms, wildcard, term id);
        # see automaton()
        self.patterns: dict[str, tuple[Check, ...]] = {}
        self.need_comments = False
        # a term as written (text, kind, exact, wildcard, field, fold) -> its id: the
        # same term in many watches is spelt out once
        self._written: dict[tuple[str, str, bool, bool, str | None, bool], int] = {}

    def spellings(self, term: Term, fold_diacritics_: bool) -> list[Spelling]:
        """Every (tokens, level, wildcard) spelling that can match a term."""
        if term.kind == "entity":
            entity = self.entities.get(term.text[1:])
            if entity is None:
                raise QueryError(f"unknown entity '{term.text}' (not in entities.yaml)",
                                 term.text, 0)
            out = []
            level = BASE if fold_diacritics_ else FOLD
            for alias in (*entity.aliases, *entity.forms):
                out.extend(self._expand(term_tokens(alias), level, False))
            for alias in entity.exact_aliases:
                out.append((term_tokens(alias), EXACT_BASE if fold_diacritics_ else EXACT,
                            False))
            return out
        text = term.text[:-1] if term.wildcard else term.text
        tokens = term_tokens(text)
        if term.exact:
            return [(tokens, EXACT_BASE if fold_diacritics_ else EXACT, term.wildcard)]
        return self._expand(tokens, BASE if fold_diacritics_ else FOLD, term.wildcard)

    def _expand(self, tokens: list[TokenForms], level: int, wildcard: bool) -> list[Spelling]:
        head, tail = (tokens[:-1], tokens[-1:]) if wildcard else (tokens, [])
        try:
            spellings = self.variants.expand(head)
        except ValueError as exc:
            raise QueryError(str(exc), " ".join(t.exact for t in tokens), 0) from None
        if len(spellings) > MAX_ALTERNATIVES:
            raise QueryError(f"too many spelling variants ({len(spellings)})",
                             " ".join(t.exact for t in tokens), 0)
        return [(toks + tail, level, wildcard) for toks in spellings]

    def add(self, term: Term, fold_diacritics_: bool) -> int:
        """Register a term and return its id (identical terms share one id).

        Raises:
            QueryError: an unknown entity or too many spelling variants.
        """
        written = (term.text, term.kind, term.exact, term.wildcard, term.field,
                   fold_diacritics_)
        tid = self._written.get(written)
        if tid is None:
            tid = self._written[written] = self._add(term, fold_diacritics_)
        return tid

    def _add(self, term: Term, fold_diacritics_: bool) -> int:
        fields = _FIELD_SETS[term.field]
        spellings = [(toks, level, wildcard, tuple(level_form(t, level) for t in toks))
                     for toks, level, wildcard in self.spellings(term, fold_diacritics_)]
        if len(spellings) == 1:
            key: tuple[object, ...] = (fields, *spellings[0][1:])
        else:
            key = (fields, frozenset(sp[1:] for sp in spellings))
        tid = self.by_key.get(key)
        if tid is not None:
            return tid
        tid = len(self.terms)
        self.by_key[key] = tid
        if _COMMENTS in fields:
            self.need_comments = True
        weight = 0.0
        for toks, level, wildcard, strict in spellings:
            pattern = SEP + SEP.join(t.base for t in toks) + ("" if wildcard else SEP)
            check = (fields, _mode(level, strict), level, strict, wildcard, tid)
            self.patterns[pattern] = (*self.patterns.get(pattern, ()), check)
            # a rough "how common" estimate: short single words are common, phrases rare
            weight += (4.0 if wildcard else 1.0) * (0.1 if len(toks) > 1 else
                                                    6.0 / max(len(toks[0].base), 1))
        self.terms.append(TermInfo(term.text, fields, weight))
        return tid

    def automaton(self) -> ahocorasick.Automaton | None:
        """Build the automaton.

        Each value is (token count, plain term ids, base term ids, checks, strict
        checks). A check is
        (field indices, mode, level, strict forms, wildcard, term id). Modes: 0 the
        automaton match suffices (base level); 1 the term's strict forms equal its base
        forms, so only text tokens with diacritics need a look; 2 always compare the
        strict forms. ``plain term ids[f]`` are the terms of field index f that need no
        look when the matched tokens carry no diacritics (modes 0 and 1); ``base term
        ids[f]`` those that never need one (mode 0); ``checks`` are the entries of modes
        1 and 2, which need a look otherwise; ``strict checks`` those of mode 2, which
        always need one.
        """
        if not self.patterns:
            return None
        auto = ahocorasick.Automaton()
        nfields = len(FIELDS)
        none = ((),) * nfields
        for pattern, entries in self.patterns.items():
            ntok = len(entries[0][3])
            if len(entries) == 1:  # most patterns: one term spelling
                check = entries[0]
                fields, mode, tid = check[0], check[1], check[5]
                one = (tid,)
                by_field = tuple(one if fi in fields else () for fi in range(nfields))
                auto.add_word(pattern, (ntok, by_field if mode < 2 else none,
                                        by_field if mode == 0 else none,
                                        entries if mode else (),
                                        entries if mode == 2 else ()))
                continue
            plain: list[list[int]] = [[] for _ in range(nfields)]
            base: list[list[int]] = [[] for _ in range(nfields)]
            for fields, mode, _level, _strict, _wildcard, tid in entries:
                for fi in fields:
                    if mode < 2:
                        plain[fi].append(tid)
                    if mode == 0:
                        base[fi].append(tid)
            found = tuple(c for c in entries if c[1])
            auto.add_word(pattern, (ntok, tuple(tuple(dict.fromkeys(t)) for t in plain),
                                    tuple(tuple(dict.fromkeys(t)) for t in base),
                                    found, tuple(c for c in found if c[1] == 2)))
        auto.make_automaton()
        return auto


def _mode(level: int, strict: tuple[str, ...]) -> int:
    """How much a match of a spelling needs checking: 0 never (base level), 1 only on
    tokens with diacritics (its strict forms have none), 2 always."""
    if level == BASE:
        return 0
    if level == FOLD and all(t == fold_diacritics(t) for t in strict):
        return 1
    return 2


def marked_tokens(raws: list[str]) -> set[int]:
    """Indices of the tokens that carry diacritics (fold form differs from base form).

    Args:
        raws: a field's raw tokens.

    Returns:
        The indices (usually few: found among the non-ASCII tokens only).
    """
    out = set()
    for k in compress(range(len(raws)), map(not_, map(str.isascii, raws))):
        forms = normalise_token(raws[k])
        if forms.fold != forms.base:
            out.add(k)
    return out


def plain_tokens(raws: list[str], s: int, e: int) -> bool:
    """Whether none of tokens s..e-1 carries diacritics (fold form equals base form)."""
    for k in range(s, e):
        raw = raws[k]
        if not raw.isascii():
            forms = normalise_token(raw)
            if forms.fold != forms.base:
                return False
    return True


def verify(raws: list[str], s: int, level: int, strict: tuple[str, ...], wildcard: bool) -> bool:
    """Whether tokens s.. of a field equal a term spelling at a comparison level (the last
    one only needs to start with it for a wildcard)."""
    last = len(strict) - 1
    for k, want in enumerate(strict):
        got = level_form(normalise_token(raws[s + k]), level)
        if got != want and not (wildcard and k == last and got.startswith(want)):
            return False
    return True
