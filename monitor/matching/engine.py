"""The matching engine: every watch compiled into one Aho-Corasick automaton.

How one article is matched:

1. Each field (title, text; comments only if some watch asks) is split into tokens and
   each token mapped to its ``base`` form (see :mod:`monitor.matching.normalise`). The
   base forms are joined with NUL separators: ``\\0russia\\0north\\0korea\\0...``.
2. One automaton (pyahocorasick) holds a pattern per distinct term spelling, e.g.
   ``\\0mutual\\0defence\\0`` (whole words) or ``\\0sanction`` (prefix ``sanction*``).
   A single pass reports every occurrence; the token position is recovered by counting
   separators. Terms stricter than the base form (normal terms keep diacritics, ``case:``
   terms keep case) are verified against the token's stricter form.
3. Only watches indexed under a term that occurs are evaluated (each watch is indexed by
   a set of terms at least one of which any matching article must contain). So the cost
   grows with article length and occurrences found, not with the number of watches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from monitor.matching.entities import EntityRegistry, Variants
from monitor.matching.normalise import (APOSTROPHES, TOKEN_SPLIT_RE, TokenForms,
                                        bases_of, fold_diacritics, normalise_token,
                                        term_tokens)
from monitor.matching.query import (DEFAULT_FIELDS, FIELDS, And, Near, Node, Not, Or,
                                    QueryError, Term)
from monitor.matching.snippet import make_snippet
from monitor.matching.watch import Watch
from monitor.models import Article, Hit, MatchSpan

SEP = "\x00"
UNANCHORED = ("query can never be required to match: it is true for an article that "
              "contains none of its terms (e.g. only NOT ...); add a term it requires")
MAX_ALTERNATIVES = 256

# comparison levels of a term spelling against a text token
BASE, FOLD, EXACT, EXACT_BASE = 0, 1, 2, 3

Occ = tuple[int, int, int]          # (field index, first token, token after the last)


def _level_form(forms: TokenForms, level: int) -> str:
    if level == BASE:
        return forms.base
    if level == FOLD:
        return forms.fold
    if level == EXACT:
        return forms.exact
    return fold_diacritics(forms.exact)


# --------------------------------------------------------------------------- bound tree

class BTerm:
    """A term leaf bound to its id in the term table."""

    __slots__ = ("tid", "label", "node")

    def __init__(self, tid: int, label: str, node: Term) -> None:
        self.tid, self.label, self.node = tid, label, node

    def eval(self, occ: dict) -> bool:
        return self.tid in occ

    def positions(self, occ: dict) -> Sequence[Occ]:
        return occ.get(self.tid, ())


class BAnd:
    __slots__ = ("children", "node")

    def __init__(self, children: list, node: Node) -> None:
        self.children, self.node = children, node

    def eval(self, occ: dict) -> bool:
        for child in self.children:
            if not child.eval(occ):
                return False
        return True


class BOr:
    __slots__ = ("children", "node")

    def __init__(self, children: list, node: Node) -> None:
        self.children, self.node = children, node

    def eval(self, occ: dict) -> bool:
        for child in self.children:
            if child.eval(occ):
                return True
        return False

    def positions(self, occ: dict) -> list[Occ]:
        out: list[Occ] = []
        for child in self.children:
            out.extend(child.positions(occ))
        return out


class BNot:
    __slots__ = ("child", "node")

    def __init__(self, child, node: Node) -> None:
        self.child, self.node = child, node

    def eval(self, occ: dict) -> bool:
        return not self.child.eval(occ)


class BNear:
    __slots__ = ("left", "right", "distance", "node")

    def __init__(self, left, right, distance: int, node: Node) -> None:
        self.left, self.right, self.distance, self.node = left, right, distance, node

    def eval(self, occ: dict) -> bool:
        if not (self.left.eval(occ) and self.right.eval(occ)):
            return False
        return bool(near_pairs(self.left.positions(occ), self.right.positions(occ),
                               self.distance, first_only=True))

    def positions(self, occ: dict) -> list[Occ]:
        if not (self.left.eval(occ) and self.right.eval(occ)):
            return []
        pairs = near_pairs(self.left.positions(occ), self.right.positions(occ),
                           self.distance)
        return sorted({(a[0], min(a[1], b[1]), max(a[2], b[2])) for a, b in pairs})


def near_pairs(left: Sequence[Occ], right: Sequence[Occ], distance: int,
               first_only: bool = False) -> list[tuple[Occ, Occ]]:
    """Pairs of occurrences in the same field, not overlapping, at most ``distance``
    words apart (words strictly between them), in either order.

    Args:
        left: occurrences of the left operand.
        right: occurrences of the right operand.
        distance: the largest number of words allowed between the two.
        first_only: stop at the first pair found.

    Returns:
        (left occurrence, right occurrence) pairs.
    """
    by_start = sorted(right)
    starts = [(f, s) for f, s, _ in by_start]
    by_end = sorted(right, key=lambda o: (o[0], o[2]))
    ends = [(f, e) for f, _, e in by_end]
    out = []
    for a in left:
        f, s, e = a
        # right occurrence after a: b.start in [a.end, a.end + distance]
        lo = bisect_left(starts, (f, e))
        hi = bisect_right(starts, (f, e + distance))
        for b in by_start[lo:hi]:
            out.append((a, b))
            if first_only:
                return out
        # right occurrence before a: b.end in [a.start - distance, a.start]
        lo = bisect_left(ends, (f, s - distance))
        hi = bisect_right(ends, (f, s))
        for b in by_end[lo:hi]:
            out.append((a, b))
            if first_only:
                return out
    return out


def collect(node, occ: dict, out: list[tuple[str, int, Occ]],
            within: list[Occ] | None = None, positive: bool = True) -> None:
    """Collect the occurrences that decide a node's value (its witnesses).

    Args:
        node: a bound node; true when ``positive``, false otherwise.
        occ: term id -> occurrences.
        out: receives (label, term id, occurrence).
        within: when set, only occurrences inside one of these spans (for NEAR operands).
        positive: True to explain why the node is true, False why it is false (under a
            NOT: ``NOT NOT x`` is true because of the occurrences of x).
    """
    if isinstance(node, BNot):
        collect(node.child, occ, out, within, not positive)
    elif not positive:
        # a false AND is false because of its false parts; a false OR because of all
        if isinstance(node, (BAnd, BOr)):
            for child in node.children:
                if not child.eval(occ):
                    collect(child, occ, out, within, False)
        # a false term or NEAR has no occurrences to show
    elif isinstance(node, BTerm):
        for o in occ.get(node.tid, ()):
            if within is None or any(w[0] == o[0] and w[1] <= o[1] and o[2] <= w[2]
                                     for w in within):
                out.append((node.label, node.tid, o))
    elif isinstance(node, BAnd):
        for child in node.children:
            collect(child, occ, out, within)
    elif isinstance(node, BOr):
        for child in node.children:
            if child.eval(occ):
                collect(child, occ, out, within)
    elif isinstance(node, BNear):
        pairs = near_pairs(node.left.positions(occ), node.right.positions(occ),
                           node.distance)
        if within is not None:
            pairs = [(a, b) for a, b in pairs if any(
                w[0] == a[0] and w[1] <= min(a[1], b[1]) and max(a[2], b[2]) <= w[2]
                for w in within)]
        if pairs:
            collect(node.left, occ, out, [a for a, _ in pairs])
            collect(node.right, occ, out, [b for _, b in pairs])


# --------------------------------------------------------------------------- term table

@dataclass
class _TermInfo:
    label: str
    fields: frozenset[int]
    weight: float


class _TermTable:
    """Distinct terms (shared by watches) and the automaton patterns that find them."""

    def __init__(self, entities: EntityRegistry, variants: Variants) -> None:
        self.entities = entities
        self.variants = variants
        self.terms: list[_TermInfo] = []
        self.by_key: dict[tuple, int] = {}
        # pattern -> [(token count, [(tid, fields, level, strict forms, wildcard)])]
        self.patterns: dict[str, list[tuple[int, frozenset[int], int, tuple, bool]]] = {}
        self.need_comments = False

    def spellings(self, term: Term, fold_diacritics_: bool) -> list[tuple[list, int, bool]]:
        """Every (tokens, level, wildcard) spelling that can match a term."""
        if term.kind == "entity":
            entity = self.entities.get(term.text[1:])
            if entity is None:
                raise QueryError(f"unknown entity '{term.text}' (not in entities.yaml)",
                                 term.text, 0)
            out = []
            level = BASE if fold_diacritics_ else FOLD
            for alias in entity.aliases:
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

    def _expand(self, tokens: list[TokenForms], level: int, wildcard: bool) -> list:
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
        """Register a term and return its id (identical terms share one id)."""
        fields = frozenset(FIELDS.index(f) for f in
                           ((term.field,) if term.field else DEFAULT_FIELDS))
        spellings = self.spellings(term, fold_diacritics_)
        key = (fields, frozenset((tuple(_level_form(t, lv) for t in toks), lv, wc)
                                 for toks, lv, wc in spellings))
        tid = self.by_key.get(key)
        if tid is not None:
            return tid
        tid = len(self.terms)
        self.by_key[key] = tid
        if FIELDS.index("comments") in fields:
            self.need_comments = True
        weight = 0.0
        for toks, level, wildcard in spellings:
            pattern = SEP + SEP.join(t.base for t in toks) + ("" if wildcard else SEP)
            strict = tuple(_level_form(t, level) for t in toks)
            self.patterns.setdefault(pattern, []).append(
                (len(toks), fields, level, strict, wildcard, tid))
            # a rough "how common" estimate: short single words are common, phrases rare
            weight += (4.0 if wildcard else 1.0) * (0.1 if len(toks) > 1 else
                                                    6.0 / max(len(toks[0].base), 1))
        self.terms.append(_TermInfo(term.text, fields, weight))
        return tid

    def automaton(self) -> ahocorasick.Automaton | None:
        """Build the automaton.

        Each value is (token count, pattern mode, checks); a check is (field indices,
        mode, level, strict forms, wildcard, term id). Modes: 0 the automaton match suffices
        (base level); 1 the term's strict forms equal its base forms, so only text
        tokens with diacritics need a look; 2 always compare the strict forms. The
        pattern mode is the largest mode of its checks.
        """
        if not self.patterns:
            return None
        auto = ahocorasick.Automaton()
        for pattern, entries in self.patterns.items():
            checks = []
            for ntok, fields, level, strict, wildcard, tid in entries:
                if level == BASE:
                    mode = 0
                elif level == FOLD and strict == tuple(fold_diacritics(t) for t in strict):
                    mode = 1
                else:
                    mode = 2
                checks.append((fields, mode, level, strict, wildcard, tid))
            auto.add_word(pattern, (entries[0][0], max(c[1] for c in checks),
                                    tuple(checks)))
        auto.make_automaton()
        return auto


# --------------------------------------------------------------------------- watch set

class WatchSet:
    """All watches, compiled once; match articles against every watch at once.

    Attributes:
        watches: the watches, in rule-file order.
        entities: the entity registry the watches were compiled with.
        variants: the spelling variants they were compiled with.
        rules_dir: the folder the watches came from (set by load_watches), or None.
        fingerprint: rules_fingerprint() of that folder just before it was read.
    """

    def __init__(self, watches: Iterable[Watch], entities: EntityRegistry | None = None,
                 variants: Variants | None = None) -> None:
        """Compile watches.

        Args:
            watches: the watches (ids must be unique).
            entities: entities referenced with ``@id`` (and reported in hits).
            variants: spelling variant groups applied to non-exact terms.

        Raises:
            QueryError: a watch refers to an unknown entity, has too many variants, or can
                match an article containing none of its terms (e.g. ``NOT x`` alone).
            ValueError: two watches share an id.
        """
        self.watches: list[Watch] = list(watches)
        self.rules_dir: Path | None = None
        self.fingerprint: tuple = ()
        self.entities = entities or EntityRegistry()
        self.variants = variants or Variants()
        self._by_id: dict[str, int] = {}
        for i, w in enumerate(self.watches):
            if w.id in self._by_id:
                raise ValueError(f"watch id '{w.id}' is used twice")
            self._by_id[w.id] = i
        self._table = _TermTable(self.entities, self.variants)
        self._programs = [self._bind(w.query, w.fold_diacritics) for w in self.watches]
        self._entity_terms = [(e.id, self._table.add(Term("@" + e.id, "entity"), False))
                              for e in self.entities]
        self._trigger: dict[int, list[int]] = {}
        for i, prog in enumerate(self._programs):
            if prog.eval({}):
                raise QueryError(UNANCHORED, self.watches[i].query_text, 0)
            for tid in _trigger_set(prog, self._table.terms):
                self._trigger.setdefault(tid, []).append(i)
        self._automaton = self._table.automaton()
        self._nfields = 3 if self._table.need_comments else 2

    # -- compiling -------------------------------------------------------------------

    def _bind(self, node: Node, fold: bool):
        if isinstance(node, Term):
            return BTerm(self._table.add(node, fold), node.text, node)
        if isinstance(node, And):
            return BAnd([self._bind(c, fold) for c in node.children], node)
        if isinstance(node, Or):
            return BOr([self._bind(c, fold) for c in node.children], node)
        if isinstance(node, Not):
            return BNot(self._bind(node.child, fold), node)
        if isinstance(node, Near):
            return BNear(self._bind(node.left, fold), self._bind(node.right, fold),
                         node.distance, node)
        raise TypeError(f"not a query node: {node!r}")

    # -- container protocol ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.watches)

    def __iter__(self):
        return iter(self.watches)

    def get(self, watch_id: str) -> Watch | None:
        """Return the watch with this id, or None."""
        i = self._by_id.get(watch_id)
        return None if i is None else self.watches[i]

    # -- matching --------------------------------------------------------------------

    def field_texts(self, article: Article) -> list[str]:
        """The article's texts in field order (title, text[, comments])."""
        texts = [article.title or "", article.text or ""]
        if self._nfields == 3:
            texts.append(article.comments or "")
        return texts

    def occurrences(self, texts: Sequence[str], tokens: dict | None = None
                    ) -> dict[int, list[Occ]]:
        """Find every term occurrence.

        Args:
            texts: field texts in field order.
            tokens: if given, receives field index -> the field split into alternating
                separators and raw tokens (``TOKEN_SPLIT_RE.split``), from which
                :class:`_HitContext` computes character offsets when there is a hit.

        Returns:
            term id -> [(field index, first token, token after the last)], in text order.
        """
        occ: dict[int, list[Occ]] = {}
        if tokens is None:
            tokens = {}
        auto = self._automaton
        if auto is None:
            return occ
        for fi, ftext in enumerate(texts):
            if not ftext:
                continue
            parts = TOKEN_SPLIT_RE.split(ftext)
            tokens[fi] = parts
            raws = parts[1::2]
            if not raws:
                continue
            joined = SEP + SEP.join(bases_of(raws)) + SEP
            ascii_field = ftext.isascii()
            pos = count = 0
            for end, (ntok, pmode, checks) in auto.iter(joined):
                count += joined.count(SEP, pos, end)
                pos = end
                s = count - ntok
                span = (fi, s, count)
                # plain: the matched tokens carry no diacritics, so terms that keep
                # diacritics but have none (mode 1) need no closer look
                plain = pmode == 0 or ascii_field or (
                    raws[s].isascii() if ntok == 1 else False) or _plain(raws, s, count)
                for fields, mode, level, strict, wildcard, tid in checks:
                    if fi not in fields:
                        continue
                    if mode and not (mode == 1 and plain) \
                            and not _verify(raws, s, level, strict, wildcard):
                        continue
                    lst = occ.get(tid)
                    if lst is None:
                        occ[tid] = [span]
                    elif lst[-1] != span:
                        lst.append(span)
        return occ

    def candidates(self, occ: dict[int, list[Occ]]) -> list[int]:
        """Indices of the watches that may be true given the terms present."""
        trig = self._trigger
        found: set[int] = set()
        for tid in occ:
            ws = trig.get(tid)
            if ws:
                found.update(ws)
        return sorted(found)

    def match(self, article: Article) -> list[Hit]:
        """Match one article against every watch.

        Args:
            article: the extracted article.

        Returns:
            One Hit per matching watch, in watch order, with every matched occurrence as
            a MatchSpan (offsets into the original field text), the entities seen, a
            snippet, and the watch's channels and mode.
        """
        texts = self.field_texts(article)
        tokens: dict = {}
        occ = self.occurrences(texts, tokens)
        if not occ:
            return []
        hits = []
        ctx = _HitContext(self, texts, occ, tokens)
        for i in self.candidates(occ):
            watch = self.watches[i]
            if not watch.accepts(article.source, article.language):
                continue
            if self._programs[i].eval(occ):
                hit = ctx.hit(i)
                if hit is not None:
                    hits.append(hit)
        return hits

    def match_one(self, watch_id: str, article: Article) -> Hit | None:
        """Match one article against one watch (filters and min_mentions included).

        Raises:
            KeyError: no watch has this id.
        """
        i = self._by_id[watch_id]
        texts = self.field_texts(article)
        tokens: dict = {}
        occ = self.occurrences(texts, tokens)
        watch = self.watches[i]
        if not watch.accepts(article.source, article.language) \
                or not self._programs[i].eval(occ):
            return None
        return _HitContext(self, texts, occ, tokens).hit(i)


def validate_watch(watch: Watch, entities: EntityRegistry | None = None,
                   variants: Variants | None = None) -> None:
    """Check that a watch compiles, without building an automaton.

    Args:
        watch: the watch.
        entities: the entity registry.
        variants: spelling variants.

    Raises:
        QueryError: unknown entity, too many spelling variants, or a query that would
            match an article containing none of its terms (such as ``NOT x`` alone).
    """
    ws = WatchSet.__new__(WatchSet)
    ws._table = _TermTable(entities or EntityRegistry(), variants or Variants())
    prog = ws._bind(watch.query, watch.fold_diacritics)
    if prog.eval({}):
        raise QueryError(UNANCHORED, watch.query_text, 0)


def _plain(raws: list[str], s: int, e: int) -> bool:
    """Whether none of tokens s..e-1 carries diacritics (fold form equals base form)."""
    for k in range(s, e):
        raw = raws[k]
        if not raw.isascii():
            forms = normalise_token(raw)
            if forms.fold != forms.base:
                return False
    return True


def _verify(raws: list[str], s: int, level: int, strict: tuple, wildcard: bool) -> bool:
    last = len(strict) - 1
    for k, want in enumerate(strict):
        got = _level_form(normalise_token(raws[s + k]), level)
        if got != want and not (wildcard and k == last and got.startswith(want)):
            return False
    return True


def _trigger_set(prog, terms: list[_TermInfo]) -> set[int]:
    """A set of term ids at least one of which every matching article contains."""

    def best(node) -> tuple[float, frozenset[int]] | None:
        if isinstance(node, BTerm):
            return terms[node.tid].weight, frozenset((node.tid,))
        if isinstance(node, BOr):
            parts = [best(c) for c in node.children]
            if any(p is None for p in parts):
                return None
            return sum(p[0] for p in parts), frozenset().union(*(p[1] for p in parts))
        if isinstance(node, (BAnd, BNear)):
            kids = node.children if isinstance(node, BAnd) else (node.left, node.right)
            parts = [p for p in (best(c) for c in kids) if p is not None]
            return min(parts, key=lambda p: p[0]) if parts else None
        return None  # NOT guarantees nothing

    found = best(prog)
    if found is not None:
        return set(found[1])
    return {t.tid for t in _leaves(prog)}


def _leaves(node) -> list[BTerm]:
    if isinstance(node, BTerm):
        return [node]
    if isinstance(node, (BAnd, BOr)):
        return [t for c in node.children for t in _leaves(c)]
    if isinstance(node, BNot):
        return _leaves(node.child)
    return _leaves(node.left) + _leaves(node.right)


class _HitContext:
    """Per-article state for building hits: token offsets are computed once, lazily."""

    def __init__(self, ws: WatchSet, texts: list[str], occ: dict,
                 tokens: dict | None = None) -> None:
        self.ws, self.texts, self.occ = ws, texts, occ
        self._parts = tokens if tokens is not None else {}
        self._bounds: dict[int, list[int]] = {}
        self._spans: dict[tuple[Occ, str], MatchSpan] = {}
        self._entities: list[str] | None = None
        self._by_field = dict(zip(FIELDS, texts))

    def offset(self, fi: int, k: int) -> tuple[int, int]:
        """Character (start, end) of token k of field fi; a possessive 's is left out."""
        bounds = self._bounds.get(fi)
        if bounds is None:
            parts = self._parts.get(fi)
            if parts is None:
                parts = self._parts[fi] = TOKEN_SPLIT_RE.split(self.texts[fi])
            # parts alternate separator, token, separator, ...: running lengths give
            # every token's start (bounds[2k]) and end (bounds[2k + 1])
            bounds = self._bounds[fi] = list(accumulate(map(len, parts)))
        a, b = bounds[2 * k], bounds[2 * k + 1]
        raw = self._parts[fi][2 * k + 1]
        if len(raw) > 2 and raw[-1] in "sS" and raw[-2] in APOSTROPHES:
            b -= 2  # "Russia's" matched as "Russia"
        return a, b

    def span(self, o: Occ, label: str) -> MatchSpan:
        got = self._spans.get((o, label))
        if got is None:
            got = self._spans[(o, label)] = self._make_span(o, label)
        return got

    def _make_span(self, o: Occ, label: str) -> MatchSpan:
        fi, s, e = o
        start, end = self.offset(fi, s)
        if e - s > 1:
            end = self.offset(fi, e - 1)[1]
        return MatchSpan(FIELDS[fi], start, end, label, self.texts[fi][start:end])

    def entities(self) -> list[str]:
        if self._entities is None:
            seen = [(self.occ[tid][0], eid) for eid, tid in self.ws._entity_terms
                    if tid in self.occ]
            self._entities = [eid for _, eid in sorted(seen)]
        return self._entities

    def witnesses(self, i: int) -> list[tuple[str, int, Occ]]:
        out: list[tuple[str, int, Occ]] = []
        collect(self.ws._programs[i], self.occ, out)
        return out

    def hit(self, i: int) -> Hit | None:
        watch = self.ws.watches[i]
        keys = sorted({(o, label) for label, _tid, o in self.witnesses(i)})
        if len(keys) < watch.min_mentions:
            return None
        span = self.span
        spans = [span(o, label) for o, label in keys]
        terms = list(dict.fromkeys(sp.term for sp in spans))
        snippet = make_snippet(self._by_field, spans)
        return Hit(watch_id=watch.id, watch_name=watch.name, terms=terms, spans=spans,
                   entities=list(self.entities()), snippet=snippet,
                   channels=tuple(watch.channels), mode=watch.mode)
