"""The matching engine: every watch compiled into one Aho-Corasick automaton.

How one article is matched:

1. Each field (title, text; comments only if some watch asks) is split into tokens and
   each token mapped to its ``base`` form (see :mod:`monitor.matching.normalise`). The
   base forms are joined with NUL separators: ``\\0russia\\0north\\0korea\\0...``.
2. One automaton (pyahocorasick) holds a pattern per distinct term spelling, e.g.
   ``\\0mutual\\0defence\\0`` (whole words) or ``\\0sanction`` (prefix ``sanction*``);
   see :mod:`monitor.matching.terms`.
   A single pass reports every occurrence; the token position is recovered by counting
   separators. Terms stricter than the base form (normal terms keep diacritics, ``case:``
   terms keep case) are verified against the token's stricter form.
3. Only watches indexed under a term that occurs are evaluated (each watch is indexed by
   a set of terms at least one of which any matching article must contain). So the cost
   grows with article length and occurrences found, not with the number of watches.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields as dc_fields
from itertools import accumulate
from pathlib import Path
from typing import Any

from monitor.matching.entities import EntityRegistry, Variants
from monitor.matching.normalise import APOSTROPHES, TOKEN_SPLIT_RE, bases_of
from monitor.matching.query import FIELDS, QueryError, Term
from monitor.matching.snippet import snippet_of_sorted
from monitor.matching.terms import SEP, TermTable, marked_tokens, verify
from monitor.matching.tree import BOr, BTerm, Occ, bind, collect, trigger_set
from monitor.matching.watch import Watch
from monitor.models import Article, Hit, MatchSpan

#: A character that may belong to a token with diacritics: not ASCII, not a Latin-1 sign
#: or no-break space (U+00A0-U+00BF), not general punctuation (U+2000-U+206F: spaces,
#: dashes, curly quotes), not the modifier apostrophe.
_MAYBE_DIACRITICS = re.compile("[^\x00-\x7f\u00a0-\u00bf\u2000-\u206f\u02bc]")

UNANCHORED = ("query can never be required to match: it is true for an article that "
              "contains none of its terms (e.g. only NOT ...); add a term it requires")


# --------------------------------------------------------------------------- watch set

@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while watches are parsed or compiled.

    Compiling creates hundreds of thousands of objects and frees almost none, so every
    automatic collection meanwhile is wasted work: it walks every object of the process
    (with 50,000 watches, two thirds of the compile time went to it). The collector is
    enabled again afterwards if it was enabled before; reference counting frees
    memory as usual meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: rules_fingerprint() of a rules folder: (file name, modification time in ns, size in
#: bytes) of each rule file.
Fingerprint = tuple[tuple[str, int, int], ...]


class WatchSet:
    """All watches, compiled once; match articles against every watch at once.

    Attributes:
        watches: the watches, in rule-file order.
        entities: the entity registry the watches were compiled with.
        variants: the spelling variants they were compiled with.
        rules_dir: the folder the watches came from (set by load_watches), or None.
        fingerprint: rules_fingerprint() of that folder just before it was read.
    """

    _table: TermTable
    _automaton: Any
    _fresh_terms: int

    def __init__(self, watches: Iterable[Watch], entities: EntityRegistry | None = None,
                 variants: Variants | None = None, *, reuse: WatchSet | None = None
                 ) -> None:
        """Compile watches.

        Args:
            watches: the watches (ids must be unique).
            entities: entities referenced with ``@id`` (and reported in hits).
            variants: spelling variant groups applied to non-exact terms.
            reuse: an earlier WatchSet, for a reload: when it was compiled with the
                same ``entities`` and ``variants`` objects, each watch that is one of
                its watches (the same object) keeps its compiled query, new terms join
                its term table, and its automaton is kept when no term was added. It is
                not changed and stays usable meanwhile. Ignored otherwise.

        Raises:
            QueryError: a watch refers to an unknown entity, has too many variants, or can
                match an article containing none of its terms (e.g. ``NOT x`` alone).
            ValueError: two watches share an id.
        """
        with paused_gc():
            self._compile(watches, entities, variants, reuse)

    def _compile(self, watches: Iterable[Watch], entities: EntityRegistry | None,
                 variants: Variants | None, reuse: WatchSet | None) -> None:
        self.watches: list[Watch] = list(watches)
        self.rules_dir: Path | None = None
        self.fingerprint: Fingerprint = ()
        self.entities = entities if entities is not None else EntityRegistry()
        self.variants = variants if variants is not None else Variants()
        self._by_id: dict[str, int] = {}
        for i, w in enumerate(self.watches):
            if w.id in self._by_id:
                raise ValueError(f"watch id '{w.id}' is used twice")
            self._by_id[w.id] = i
        old = reuse
        if old is not None and (old.entities is not self.entities
                                or old.variants is not self.variants
                                or len(old._table.terms) > 2 * old._fresh_terms + 1000):
            old = None  # other entities or variants, or mostly terms no watch uses now
        #: how many watches kept their compiled query from ``reuse``
        self.reused = 0
        if old is None:
            table = TermTable(self.entities, self.variants)
            self._programs = [bind(w.query, table, w.fold_diacritics) for w in self.watches]
            self._entity_terms = [(e.id, table.add(Term("@" + e.id, "entity"), False))
                                  for e in self.entities]
            triggers: list[tuple[int, ...] | None] = [None] * len(self.watches)
        else:
            table = old._table
            known = len(table.terms)
            before = {id(w): j for j, w in enumerate(old.watches)}
            self._programs, triggers = [], []
            for w in self.watches:
                j = before.get(id(w))
                if j is not None and old.watches[j] is w:
                    self._programs.append(old._programs[j])
                    triggers.append(old._triggers[j])
                else:
                    self._programs.append(bind(w.query, table, w.fold_diacritics))
                    triggers.append(None)
            self.reused = sum(t is not None for t in triggers)
            self._entity_terms = old._entity_terms
        self._table = table
        weights = [t.weight for t in table.terms]
        trigger: dict[int, list[int]] = {}
        for i, prog in enumerate(self._programs):
            tids = triggers[i]
            if tids is None:
                if prog.eval({}):
                    raise QueryError(UNANCHORED, self.watches[i].query_text, 0)
                tids = triggers[i] = tuple(trigger_set(prog, weights))
            for tid in tids:
                trigger.setdefault(tid, []).append(i)
        self._triggers: list[tuple[int, ...]] = triggers  # type: ignore[assignment]
        # 1 for a watch true whenever it is a candidate (a term or an OR of terms, each
        # a trigger, with no source or language filter and one mention enough): it
        # needs no evaluation
        self._sure = bytearray(
            w.sources is None and w.languages is None and w.min_mentions == 1
            and (isinstance(p, BTerm) or (isinstance(p, BOr) and all(
                isinstance(c, BTerm) for c in p.children)))
            for w, p in zip(self.watches, self._programs, strict=True))
        # term id -> the watches indexed under it (tuples: a third smaller than lists)
        self._trigger: dict[int, tuple[int, ...]] = {t: tuple(ws) for t, ws in trigger.items()}
        if old is not None and len(table.terms) == known:
            self._automaton = old._automaton   # no new term: the same patterns
            self._fresh_terms = old._fresh_terms
        else:
            self._automaton = table.automaton()
            self._fresh_terms = len(table.terms) if old is None else old._fresh_terms
        self._nfields = 3 if table.need_comments else 2

    # -- container protocol ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.watches)

    def __iter__(self) -> Iterator[Watch]:
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

    def occurrences(self, texts: Sequence[str], tokens: dict[int, list[str]] | None = None
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
            # a plain field: no token in it carries diacritics (its non-ASCII characters,
            # if any, are quotes, dashes, spaces or Latin-1 signs), so terms that keep
            # diacritics but have none (mode 1) need no closer look anywhere in it
            plain_field = ftext.isascii() or _MAYBE_DIACRITICS.search(ftext) is None
            marked: set[int] | None = None   # tokens with diacritics, found on demand
            pos = count = 0
            for end, (ntok, plain_tids, base_tids, checks, strict) in auto.iter(joined):
                count += joined.count(SEP, pos, end)
                pos = end
                s = count - ntok
                span = (fi, s, count)
                plain = plain_field
                if not plain:
                    if marked is None:
                        marked = marked_tokens(raws)
                        marked_first, marked_last = min(marked, default=0), max(marked,
                                                                               default=0)
                    plain = not marked or s > marked_last or count <= marked_first or (
                        s not in marked if ntok == 1 else marked.isdisjoint(range(s, count)))
                if plain:
                    tids = plain_tids[fi]
                    if strict:
                        tids = list(tids)
                        tids.extend(tid for fields, _, level, forms, wildcard, tid in strict
                                    if fi in fields
                                    and verify(raws, s, level, forms, wildcard))
                else:
                    tids = list(base_tids[fi])
                    tids.extend(tid for fields, _, level, forms, wildcard, tid in checks
                                if fi in fields and verify(raws, s, level, forms, wildcard))
                for tid in tids:
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
            snippet, and the watch's channels and mode. The spans, terms, entities,
            snippet and matched words of a hit are built when first read (see
            :class:`LazyHit`), so a caller that keeps only some hits pays for those.
        """
        texts = self.field_texts(article)
        tokens: dict[int, list[str]] = {}
        occ = self.occurrences(texts, tokens)
        if not occ:
            return []
        hits: list[Hit] = []
        ctx = _HitContext(self, texts, occ, tokens)
        watches, programs = self.watches, self._programs
        source, language = article.source, article.language
        sure = self._sure
        for i in self.candidates(occ):
            if sure[i]:   # a candidate, so one of its terms occurred: it is true
                hits.append(LazyHit.deferred(ctx, i))
                continue
            watch = watches[i]
            if (watch.sources is not None or watch.languages is not None) \
                    and not watch.accepts(source, language):
                continue
            if programs[i].eval(occ):
                if watch.min_mentions > 1:
                    hit = ctx.hit(i)      # the mentions decide whether it is a hit
                    if hit is not None:
                        hits.append(hit)
                else:
                    hits.append(LazyHit.deferred(ctx, i))
        return hits

    def match_one(self, watch_id: str, article: Article) -> Hit | None:
        """Match one article against one watch (filters and min_mentions included).

        Raises:
            KeyError: no watch has this id.
        """
        i = self._by_id[watch_id]
        texts = self.field_texts(article)
        tokens: dict[int, list[str]] = {}
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
    table = TermTable(entities or EntityRegistry(), variants or Variants())
    prog = bind(watch.query, table, watch.fold_diacritics)
    if prog.eval({}):
        raise QueryError(UNANCHORED, watch.query_text, 0)


class _HitContext:
    """Per-article state for building hits: token offsets are computed once, lazily."""

    def __init__(self, ws: WatchSet, texts: list[str], occ: dict[int, list[Occ]],
                 tokens: dict[int, list[str]] | None = None) -> None:
        self.ws, self.texts, self.occ = ws, texts, occ
        self._parts = tokens if tokens is not None else {}
        self._bounds: dict[int, list[int]] = {}
        self._spans: dict[tuple[Occ, str], MatchSpan] = {}
        self._entities: list[str] | None = None
        #: term id -> its occurrences sorted, each once (the keys of one-term watches)
        self._sorted_occ: dict[int, list[Occ]] = {}
        #: (term, matched text) -> matched_words of a hit with that one span
        self._words_of_one: dict[tuple[str, str], list[str]] = {}
        #: lazy hits not built yet: the first one read builds them all, in one pass
        #: while the article's occurrences are at hand (cheaper than one by one among
        #: the store's writes, and a stored hit needs them all)
        self.pending: list[LazyHit] = []
        self.lock = threading.Lock()
        self._by_field = dict(zip(FIELDS, texts, strict=False))   # no comments: 2 texts

    def _field_bounds(self, fi: int) -> list[int]:
        """Running lengths of field fi's parts: token k starts at [2k], ends at [2k+1]."""
        bounds = self._bounds.get(fi)
        if bounds is None:
            parts = self._parts.get(fi)
            if parts is None:
                parts = self._parts[fi] = TOKEN_SPLIT_RE.split(self.texts[fi])
            # parts alternate separator, token, separator, ...: running lengths give
            # every token's start (bounds[2k]) and end (bounds[2k + 1])
            bounds = self._bounds[fi] = list(accumulate(map(len, parts)))
        return bounds

    def offset(self, fi: int, k: int) -> tuple[int, int]:
        """Character (start, end) of token k of field fi; a possessive 's is left out."""
        bounds = self._field_bounds(fi)
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
        bounds = self._bounds.get(fi)
        if bounds is None:
            bounds = self._field_bounds(fi)
        # from the start of token s to the end of token e - 1 (as offset() gives them)
        start, end = bounds[2 * s], bounds[2 * e - 1]
        raw = self._parts[fi][2 * e - 1]
        if len(raw) > 2 and raw[-1] in "sS" and raw[-2] in APOSTROPHES:
            end -= 2  # "Russia's" matched as "Russia"
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
        """The hit of watch ``i`` (true on this article), built at once; None when it
        has fewer distinct mentions than its ``min_mentions``."""
        watch = self.ws.watches[i]
        keys = self._keys(i)
        if watch.min_mentions > 1 and len({o for o, _ in keys}) < watch.min_mentions:
            return None  # mentions: distinct places in the text, whichever term found them
        if not keys:  # pragma: no cover - a true watch always has a witness
            return None
        d: dict[str, Any] = {}
        self.fill(d, i, keys)
        return Hit(watch_id=watch.id, watch_name=watch.name, terms=d["_terms"],
                   spans=d["_spans"], entities=d["_entities"], snippet=d["_snippet"],
                   channels=tuple(watch.channels), mode=watch.mode,
                   priority=watch.priority, matched=d["_matched"])

    def _keys(self, i: int) -> list[tuple[Occ, str]]:
        """The distinct (occurrence, term label) pairs that make watch i true, sorted."""
        if self.ws._sure[i]:
            # a term or an OR of terms: every occurrence of its terms (what collect gives)
            prog = self.ws._programs[i]
            occ = self.occ
            found = prog if isinstance(prog, BTerm) else None
            if isinstance(prog, BOr):   # usually only one of its terms occurs
                present = [t for t in prog.children if isinstance(t, BTerm) and t.tid in occ]
                if len(present) == 1:
                    found = present[0]
            if found is not None:   # one term: its occurrences, sorted once
                srt = self._sorted_occ.get(found.tid)
                if srt is None:
                    srt = self._sorted_occ[found.tid] = sorted(set(occ.get(found.tid, ())))
                label = found.label
                return [(o, label) for o in srt]
            return sorted({(o, t.label) for t in (prog.children if isinstance(prog, BOr)
                                                   else (prog,))
                           if isinstance(t, BTerm)  # always (see _sure)
                           for o in occ.get(t.tid, ())})
        return sorted({(o, label) for label, _tid, o in self.witnesses(i)})

    def fill(self, d: dict[str, Any], i: int, keys: list[tuple[Occ, str]] | None = None) -> None:
        """Put the details of watch ``i``'s hit in ``d`` (as ``_terms``, ``_spans``,
        ``_entities``, ``_snippet`` and ``_matched``)."""
        d["_terms"], d["_spans"], d["_entities"], d["_snippet"], d["_matched"] = \
            self.details(i, keys)

    def details(self, i: int, keys: list[tuple[Occ, str]] | None = None
                ) -> tuple[list[str], list[MatchSpan], list[str], str, list[str]]:
        """The details of watch ``i``'s hit: (terms, spans, entities, snippet, matched),
        each list the hit's own; the strings in them are shared with other hits."""
        if keys is None:
            keys = self._keys(i)
        if len(keys) == 1:   # most hits: one occurrence of one term
            o, label = keys[0]
            sp = self._spans.get((o, label))
            if sp is None:
                sp = self._spans[(o, label)] = self._make_span(o, label)
            words = self._words_of_one.get((label, sp.matched))
            if words is None:
                words = self._words_of_one[(label, sp.matched)] = matched_words(
                    (sp,), self.ws.entities)
            return ([label], [sp], list(self.entities()), self.snippet([sp]), list(words))
        span = self.span
        spans = [span(o, label) for o, label in keys]
        return (list(dict.fromkeys(sp.term for sp in spans)), spans, list(self.entities()),
                self.snippet(spans), matched_words(spans, self.ws.entities))

    def snippet(self, spans: list[MatchSpan]) -> str:
        """The snippet of a hit with these spans (sorted by field, then start)."""
        return snippet_of_sorted(self._by_field, spans)


def _deferred(name: str) -> property:
    """A Hit field that a :class:`LazyHit` builds on first read (and that can be set)."""
    key = "_" + name

    def get(self: LazyHit) -> Any:
        d = self.__dict__
        if key in d:
            return d[key]
        self._build()   # the details are in d under their own names now
        return d[name] if name in d else d[key]

    def set_(self: LazyHit, value: Any) -> None:
        self.__dict__[key] = value

    return property(get, set_, doc=f"The hit's {name} (built on first read).")


_DEFERRED = ("terms", "spans", "entities", "snippet", "matched")
_SET = tuple("_" + name for name in _DEFERRED)
#: Entries of a lazy hit's __dict__ once built (every Hit field, _ctx and _i), unless
#: a detail was set before (it is then also there under ``_<name>``).
_BUILT_LEN = len(dc_fields(Hit)) + 2


class LazyHit(Hit):
    """A :class:`~monitor.models.Hit` whose ``terms``, ``spans``, ``entities``,
    ``snippet`` and ``matched`` are built from the article's occurrences when one of
    them is first read (those of every hit of the same ``match`` call at once); the
    other fields are set at once. Once built, it is a plain Hit (its class changes).

    It is a Hit in every other way: it compares equal to a Hit with the same fields,
    ``dataclasses.replace`` and ``asdict`` work, and it pickles (and copies) as a plain
    Hit, so the article's text and the WatchSet never travel with it.
    """

    terms = _deferred("terms")
    spans = _deferred("spans")
    entities = _deferred("entities")
    snippet = _deferred("snippet")
    matched = _deferred("matched")

    @classmethod
    def deferred(cls, ctx: _HitContext, i: int) -> LazyHit:
        """A hit of watch ``i`` whose details ``ctx`` builds on first read."""
        self = cls.__new__(cls)
        watch = ctx.ws.watches[i]
        self.__dict__ = {"watch_id": watch.id, "watch_name": watch.name,
                         "channels": tuple(watch.channels), "mode": watch.mode,
                         "priority": watch.priority, "update": None, "_ctx": ctx, "_i": i}
        ctx.pending.append(self)
        return self

    def _build(self) -> None:
        ctx = self.__dict__.get("_ctx")
        if ctx is None:  # pragma: no cover - built by another thread meanwhile
            return
        with ctx.lock:   # one thread builds; another reading meanwhile waits for it
            pending, ctx.pending = ctx.pending, []
            for hit in pending or (self,):
                d = hit.__dict__
                if "_ctx" in d:
                    (d["terms"], d["spans"], d["entities"], d["snippet"],
                     d["matched"]) = ctx.details(d["_i"])
                    if len(d) > _BUILT_LEN:   # a detail set before the build: replaced
                        for key in _SET:
                            d.pop(key, None)
                    del d["_ctx"], d["_i"]
                    # built: from now on a plain Hit (plain attribute reads, eq, pickling)
                    hit.__class__ = Hit

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dc_fields(Hit))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return self._fields() == tuple(getattr(other, f.name) for f in dc_fields(Hit))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[Hit], tuple[Any, ...]]:
        return (Hit, self._fields())


#: Distinct spellings of one term shown in an alert; more are summed up as "and N more".
_SHOW_WORDS = 3


def matched_words(spans: Sequence[MatchSpan], entities: EntityRegistry) -> list[str]:
    """What each term matched, for a reader: the words as written in the article, with
    the entity's name (or the query term) beside them when it says something more.

    Args:
        spans: a hit's spans (each with its term label and the matched text).
        entities: the registry, for the names of ``@id`` terms.

    Returns:
        One entry per term, in order of first occurrence: ``"Russia"``,
        ``"Pyongyang, DPRK (entity North Korea)"``, ``"sanctions (sanction*)"``,
        ``"mutual defence"``; at most three spellings each, then ``and N more``.
    """
    words: dict[str, dict[str, str]] = {}
    for sp in spans:
        text = " ".join(sp.matched.split())
        words.setdefault(sp.term, {}).setdefault(text.casefold(), text)
    out = []
    for term, forms in words.items():
        shown = list(forms.values())
        listed = ", ".join(shown[:_SHOW_WORDS])
        if len(shown) > _SHOW_WORDS:
            listed += f" and {len(shown) - _SHOW_WORDS} more"
        if term.startswith("@"):
            entity = entities.get(term[1:])
            name = entity.name if entity is not None else term[1:]
            if list(forms) != [name.casefold()]:
                listed += f" (entity {name})"
        elif list(forms) != [" ".join(term.strip('"').split()).casefold()]:
            listed += f" ({term})"
        out.append(listed)
    return out
