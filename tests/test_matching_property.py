"""Property tests: the compiled engine agrees with a slow, obviously correct evaluator.

The reference tokenises with ``re.findall(r"[A-Za-z0-9]+")`` (the generated texts use
only ASCII words and separators, where that is exactly the engine's tokenisation), finds
each term by comparing token lists position by position, and evaluates the query tree
directly. Several random queries go into one WatchSet, so the term index that picks
which watches to evaluate is checked too.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import RuleError
from monitor.matching import Watch, WatchSet, parse_query
from monitor.models import Article

WORDS = ["alpha", "Alpha", "ALPHA", "beta", "Beta", "gamma", "delta", "alphabet",
         "alphas", "betamax", "omega"]
SEPARATORS = [" ", " ", " ", ", ", "-", ". ", "\n\n", "\u00a0", " \u2014 ", "/"]
TERMS = ["alpha", "beta", "gamma", "delta", "alphabet", "omega"]
PREFIXES = ["alph", "bet", "gam"]
EXACT = ["Alpha", "ALPHA", "Beta", "beta"]


# --------------------------------------------------------------------------- generation

texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)),
                 max_size=25).map(lambda pairs: "".join(w + s for w, s in pairs))

fields = st.sampled_from([None, None, None, "title", "text"])


@st.composite
def terms(draw):
    kind = draw(st.sampled_from(["word", "word", "phrase", "wild", "exact"]))
    field = draw(fields)
    if kind == "word":
        words, wild, exact = [draw(st.sampled_from(TERMS))], False, False
    elif kind == "phrase":
        words = draw(st.lists(st.sampled_from(TERMS), min_size=2, max_size=3))
        wild, exact = draw(st.booleans()), False
        if wild:
            words[-1] = draw(st.sampled_from(PREFIXES))
    elif kind == "wild":
        words, wild, exact = [draw(st.sampled_from(PREFIXES))], True, False
    else:
        words, wild, exact = [draw(st.sampled_from(EXACT))], False, True
    return ("T", tuple(words), wild, exact, field)


positional = st.recursive(
    terms(),
    lambda kids: st.one_of(
        st.tuples(st.just("OR"), st.lists(kids, min_size=2, max_size=3).map(tuple)),
        st.tuples(st.just("NEAR"), kids, kids, st.integers(0, 4))),
    max_leaves=4)

queries = st.recursive(
    positional,
    lambda kids: st.one_of(
        st.tuples(st.just("AND"), st.lists(kids, min_size=2, max_size=3).map(tuple)),
        st.tuples(st.just("OR"), st.lists(kids, min_size=2, max_size=3).map(tuple)),
        st.tuples(st.just("NOT"), kids)),
    max_leaves=6)


def render(node) -> str:
    kind = node[0]
    if kind == "T":
        _, words, wild, exact, field = node
        body = " ".join(words) + ("*" if wild else "")
        body = f'"{body}"' if len(words) > 1 else body
        body = f"case:{body}" if exact else body
        return f"{field}:{body}" if field else body
    if kind in ("AND", "OR"):
        return "(" + f" {kind} ".join(render(c) for c in node[1]) + ")"
    if kind == "NOT":
        return f"(NOT {render(node[1])})"
    return f"({render(node[1])} NEAR/{node[3]} {render(node[2])})"


# --------------------------------------------------------------------------- reference

def tokens(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


def occurrences(node, doc) -> list[tuple[str, int, int]]:
    """Positions (field, first token, end token) of a positional node."""
    kind = node[0]
    if kind == "T":
        _, words, wild, exact, field = node
        out = []
        for name in ([field] if field else ["title", "text"]):
            toks = doc[name]
            for i in range(len(toks) - len(words) + 1):
                ok = True
                for k, w in enumerate(words):
                    have = toks[i + k] if exact else toks[i + k].lower()
                    want = w if exact else w.lower()
                    last = k == len(words) - 1
                    if not (have.startswith(want) if (wild and last) else have == want):
                        ok = False
                if ok:
                    out.append((name, i, i + len(words)))
        return out
    if kind == "OR":
        return [o for c in node[1] for o in occurrences(c, doc)]
    left, right, n = occurrences(node[1], doc), occurrences(node[2], doc), node[3]
    out = []
    for a in left:
        for b in right:
            if a[0] != b[0]:
                continue
            first, second = (a, b) if a[1] <= b[1] else (b, a)
            if first[2] <= second[1] and second[1] - first[2] <= n:
                out.append((a[0], min(a[1], b[1]), max(a[2], b[2])))
    return out


def truth(node, doc) -> bool:
    kind = node[0]
    if kind == "AND":
        return all(truth(c, doc) for c in node[1])
    if kind == "OR":
        return any(truth(c, doc) for c in node[1])
    if kind == "NOT":
        return not truth(node[1], doc)
    return bool(occurrences(node, doc))


# --------------------------------------------------------------------------- properties

@settings(max_examples=int(os.environ.get("MATCHING_EXAMPLES", "250")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(qs=st.lists(queries, min_size=1, max_size=6), title=texts, body=texts)
def test_engine_agrees_with_reference(qs, title, body):
    doc = {"title": tokens(title), "text": tokens(body)}
    empty = {"title": [], "text": []}
    watches = []
    expected = set()
    for i, node in enumerate(qs):
        text = render(node)
        tree = parse_query(text)
        watch = Watch(f"w{i}", text, tree, text)
        try:
            WatchSet([watch])
        except RuleError:
            # rejected exactly when the query is true for an article with no terms
            assert truth(node, empty), text
            continue
        assert not truth(node, empty), text
        watches.append(watch)
        if truth(node, doc):
            expected.add(f"w{i}")
    article = Article(url="u", request_url="u", source="s", title=title, text=body)
    hits = WatchSet(watches).match(article)
    assert {h.watch_id for h in hits} == expected, [w.query_text for w in watches]
    for hit in hits:
        for sp in hit.spans:
            assert getattr(article, sp.field)[sp.start:sp.end] == sp.matched


@settings(max_examples=150, deadline=None)
@given(node=queries)
def test_rendered_queries_parse_back_to_the_same_tree(node):
    text = render(node)
    assert str(parse_query(str(parse_query(text)))) == str(parse_query(text))


@settings(max_examples=200, deadline=None)
@given(body=texts, title=texts, picks=st.lists(st.tuples(st.integers(0, 400),
                                                        st.integers(1, 3)), max_size=60))
def test_snippets_of_sorted_spans_equal_make_snippet(body, title, picks):
    """The fast snippet (reads only the spans near the first) gives exactly the snippet
    of make_snippet, whatever the spans: many, overlapping, in both fields."""
    from monitor.matching.snippet import make_snippet, snippet_of_sorted
    from monitor.models import MatchSpan

    body = body * 8          # long enough for spans far past the snippet
    texts_ = {"title": title, "text": body}
    words = {f: [m.span() for m in re.finditer(r"[A-Za-z0-9]+", t)] for f, t in texts_.items()}
    spans = []
    for k, (start, length) in enumerate(picks):
        field = "title" if k % 5 == 0 else "text"
        toks = words[field]
        if not toks:
            continue
        a = toks[start % len(toks)][0]
        b = toks[min(start % len(toks) + length, len(toks)) - 1][1]
        spans.append(MatchSpan(field, a, b, "t", texts_[field][a:b]))
    spans.sort(key=lambda s: (("title", "text").index(s.field), s.start, s.end))
    assert snippet_of_sorted(texts_, spans) == make_snippet(texts_, spans)


@settings(max_examples=300, deadline=None)
@given(body=texts, start=st.integers(0, 2000), length=st.integers(1, 4),
       width=st.sampled_from([20, 60, 200]))
def test_a_snippet_of_one_match_equals_the_general_cut(body, start, length, width):
    """One match (most hits) takes a shorter path: the same snippet as the general one,
    which a second, far-away match does not change."""
    from monitor.matching.snippet import make_snippet
    from monitor.models import MatchSpan

    body = body * 6
    toks = [m.span() for m in re.finditer(r"[A-Za-z0-9]+", body)]
    if not toks:
        return
    k = start % len(toks)
    a, b = toks[k][0], toks[min(k + length, len(toks)) - 1][1]
    one = MatchSpan("text", a, b, "t", body[a:b])
    far = MatchSpan("text", len(body) + 10, len(body) + 12, "t", "zz")
    texts_ = {"text": body + " " * 10 + "zz"}
    assert make_snippet(texts_, [one], width) == make_snippet(texts_, [one, far], width) \
        or make_snippet(texts_, [one, far], width).count("[[") == 2
