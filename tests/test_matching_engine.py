"""The engine: every feature on small articles and on the seed story, spans, snippets,
filters, and the term index."""

from __future__ import annotations

import pytest

from monitor.matching import Watch, WatchSet, compile_query, explain, parse_query
from monitor.matching.entities import EntityRegistry, Variants
from tests.matching_fixtures import ENTITIES, FOOTBALL, RECIPE, VARIANTS, art, seed_article

SEED = seed_article()


def q(text: str, **kw):
    kw.setdefault("entities", ENTITIES)
    kw.setdefault("variants", VARIANTS)
    return compile_query(text, **kw)


def check_spans(article, hit):
    for sp in hit.spans:
        assert getattr(article, sp.field)[sp.start:sp.end] == sp.matched, sp


# --------------------------------------------------------------------------- the seed

@pytest.mark.parametrize("query, expected", [
    ('"mutual defence"', True),
    ('"mutual defense"', True),                   # declared variant
    ("@north-korea", True),
    ("@russia AND @north-korea", True),
    ('"mutual defence" NEAR/5 pledge', True),
    ('pledge NEAR/0 "mutual defence"', True),     # adjacent, either order
    ('"mutual defence" NEAR/2 Ukraine', False),
    ("sanction*", True),
    ("title:Pyongyang", False),                   # Pyongyang is only in the body
    ("text:Pyongyang", True),
    ('title:"mutual defence"', True),
    ("title:@north-korea", True),
    ("Kim Jong Un", True),
    ('"Kim Jong Un"', True),
    ("@kim-jong-un", True),
    ("defenceless", False),
    ("case:us", False),
    ("case:U.S.", True),
    ("football OR recipe", False),
    ("Putin NOT football", True),
    ("Putin NOT Pyongyang", False),
    ('"strengthened ties" AND title:pact', True),
    ("cooperation", True),                        # declared variant of co-operation
])
def test_seed_article(query, expected):
    hit = q(query).match(SEED)
    assert (hit is not None) == expected, explain(q(query), SEED).render()
    if hit:
        check_spans(SEED, hit)


def test_mutual_defense_needs_the_variant_declared():
    assert q('"mutual defense"', variants=None).match(SEED) is None
    assert q('"mutual defense"').match(SEED) is not None


def test_seed_hit_details():
    hit = q('"mutual defence" NEAR/5 pledge OR sanction*').match(SEED)
    assert hit.terms == ["mutual defence", "pledge", "sanction*"]
    assert [(s.field, s.matched) for s in hit.spans][:3] == [
        ("text", "mutual defence"), ("text", "pledge"), ("text", "sanctions")]
    assert "[[mutual defence]] [[pledge]]" in hit.snippet
    assert 150 <= len(hit.snippet) <= 280
    assert hit.entities[:2] == ["russia", "north-korea"]
    assert set(hit.entities) == {"russia", "north-korea", "kim-jong-un", "vladimir-putin"}
    check_spans(SEED, hit)


def test_kim_jong_un_span_covers_the_hyphenated_original():
    hit = q('"Kim Jong Un"').match(SEED)
    assert {s.matched for s in hit.spans} == {"Kim Jong-un"}


def test_possessive_span_excludes_the_s():
    hit = q("Russia").match(SEED)
    assert {s.matched for s in hit.spans} == {"Russia"}
    check_spans(SEED, hit)


def test_unrelated_news_does_not_fire():
    for query in ['"mutual defence"', "@north-korea", "sanction*", "Pyongyang",
                  "defence NEAR/3 pact"]:
        assert q(query).match(FOOTBALL) is None, query
        assert q(query).match(RECIPE) is None, query


# --------------------------------------------------------------------------- features

@pytest.mark.parametrize("query, title, text, expected", [
    # whole words only
    ("defence", "", "A defenceless starter", False),
    ("defence", "", "the defence.", True),
    ("fence", "", "defence", False),
    # case: ignored by default, exact with case:
    ("us", "", "The US said", True),
    ("case:US", "", "he told us", False),
    ("case:US", "", "The US said", True),
    ("case:US", "", "The U.S. said", False),
    ('case:"New York"', "", "new york", False),
    ('case:"New York"', "", "in New York today", True),
    # punctuation, quotes, dashes, spaces
    ("Russia", "", "Russia\u2019s army", True),
    ('"Russia\'s army"', "", "Russia\u2019s army", True),
    ('"they\'ve"', "", "they\u2019ve", True),
    ("defence", "", "de\u00adfence", True),
    ('"mutual defence"', "", "mutual\u00a0defence", True),
    ('"mutual defence"', "", "mutual\n\ndefence", True),
    ('"Kim Jong Un"', "", "Kim Jong\u2013un", True),
    ('"Kim Jong-un"', "", "Kim Jong Un", True),
    ("finance", "", "\ufb01nance", True),
    # phrases are contiguous
    ('"mutual defence"', "", "mutual and defence", False),
    ('"mutual defence"', "mutual", "defence", False),       # never across fields
    # diacritics kept by default
    ('"Sao Paulo"', "", "S\u00e3o Paulo", False),
    ('"S\u00e3o Paulo"', "", "S\u00e3o Paulo", True),
    ('"S\u00e3o Paulo"', "", "Sao Paulo", False),
    ('case:"S\u00e3o Paulo"', "", "S\u00e3o Paulo", True),
    # wildcards
    ("sanction*", "", "they sanctioned him", True),
    ("sanction*", "", "a sanction", True),
    ("sanction*", "", "unsanctioned", False),
    ('"economic sanction*"', "", "economic sanctions bite", True),
    ('"economic sanction*"', "", "economic and sanctions", False),
    ("case:Sanction*", "", "sanctions", False),
    ("case:Sanction*", "", "Sanctions", True),
    # NEAR: at most N words between, either order, same field, no overlap
    ("pact NEAR/2 defence", "", "defence of the pact", True),
    ("pact NEAR/1 defence", "", "defence of the pact", False),
    ("defence NEAR/2 pact", "", "pact for the defence", True),
    ("pact NEAR/50 defence", "pact", "defence", False),
    ("defence NEAR/3 defence", "", "defence", False),
    ("defence NEAR/3 defence", "", "defence and defence", True),
    ('"mutual defence" NEAR/0 defence', "", "mutual defence", False),
    ("(a1 OR b1) NEAR/1 c1", "", "x b1 y c1", True),
    ("(a1 NEAR/1 b1) NEAR/1 c1", "", "a1 x b1 y c1", True),
    ("(a1 NEAR/1 b1) NEAR/0 c1", "", "a1 x b1 y c1", False),
    # field scope
    ("title:pact", "A pact", "", True),
    ("title:pact", "", "A pact", False),
    ("text:pact", "A pact", "", False),
    # boolean
    ("a1 b1", "", "b1 then a1", True),
    ("a1 b1", "a1", "b1", True),                            # AND spans fields
    ("a1 AND NOT b1", "", "a1 b1", False),
    ("a1 OR b1", "", "b1", True),
    ("(a1 OR b1) NOT (c1 d1)", "", "a1 c1", True),
    ("(a1 OR b1) NOT (c1 d1)", "", "a1 c1 d1", False),
])
def test_features(query, title, text, expected):
    article = art(text, title)
    hit = q(query).match(article)
    assert (hit is not None) == expected, explain(q(query), article).render()
    if hit:
        check_spans(article, hit)


def test_fold_diacritics_option():
    a = art("Flooding in S\u00e3o Paulo and \u0141\u00f3d\u017a")
    assert q('"Sao Paulo" Lodz').match(a) is None
    assert q('"Sao Paulo" Lodz', fold_diacritics=True).match(a) is not None
    b = art("Flooding in Sao Paulo")
    assert q('"S\u00e3o Paulo"', fold_diacritics=True).match(b) is not None


def test_comments_only_when_asked():
    a = art("Story about the budget.", comments="This is about Pyongyang really")
    assert q("Pyongyang").match(a) is None
    hit = q("comments:Pyongyang").match(a)
    assert hit.spans[0].field == "comments" and hit.spans[0].matched == "Pyongyang"


def test_exact_case_entity_alias():
    reg = EntityRegistry.from_dict({"us": ["United States"]})
    reg.entities["us"] = reg.entities["us"].__class__(
        "us", "place", "United States", ("United States",), ("US",))
    assert compile_query("@us", entities=reg).match(art("The US said")) is not None
    assert compile_query("@us", entities=reg).match(art("they told us")) is None


def test_snippet_marks_every_match_and_falls_back_to_title():
    hit = q("Arsenal OR Chelsea").match(FOOTBALL)
    assert hit.snippet.startswith("The match at the Emirates was settled by a late header. "
                                  "[[Chelsea]]'s defence")
    only_title = q("Arsenal").match(FOOTBALL)
    assert only_title.snippet == "[[Arsenal]] beat Chelsea in a tense derby"


# --------------------------------------------------------------------------- watch sets

def watch(wid, query, **kw):
    return Watch(id=wid, name=wid.title(), query=parse_query(query), query_text=query, **kw)


def test_hit_carries_channels_and_mode():
    ws = WatchSet([watch("w", "Pyongyang", channels=("slack",), mode="digest")])
    [hit] = ws.match(SEED)
    assert (hit.watch_id, hit.watch_name, hit.channels, hit.mode) == (
        "w", "W", ("slack",), "digest")


@pytest.mark.parametrize("kw, expected", [
    ({"sources": frozenset({"desk"})}, True),
    ({"sources": frozenset({"bbc"})}, False),
    ({"languages": frozenset({"en"})}, True),
    ({"languages": frozenset({"fr"})}, False),
    ({"min_mentions": 3}, True),
    ({"min_mentions": 4}, False),
])
def test_watch_filters(kw, expected):
    article = art("Pyongyang said that Kim would visit; Pyongyang denied it.",
                  language="en")
    ws = WatchSet([watch("w", "Pyongyang OR Kim OR Seoul", **kw)])
    assert bool(ws.match(article)) == expected


def test_unknown_language_is_not_filtered_out():
    ws = WatchSet([watch("w", "Pyongyang", languages=frozenset({"fr"}))])
    assert ws.match(art("Pyongyang", language=None))
    assert not ws.match(art("Pyongyang", language="en"))


def test_only_watches_with_a_term_present_are_evaluated():
    watches = [watch(f"w{i}", f"zzterm{i} AND (xxother{i} OR Pyongyang)")
               for i in range(1000)]
    watches.append(watch("seed", '"mutual defence" NEAR/5 pledge'))
    ws = WatchSet(watches)
    occ = ws.occurrences(ws.field_texts(SEED))
    # the AND is indexed by its rarer side, so "Pyongyang" triggers none of the 1000
    assert ws.candidates(occ) == [1000]
    assert [h.watch_id for h in ws.match(SEED)] == ["seed"]


def test_watch_set_agrees_with_single_queries():
    queries = ['"mutual defence"', "sanction*", "title:Pyongyang", "Kim Jong Un",
               "defenceless", "@north-korea NOT football", "Putin NEAR/3 said",
               '"mutual defence" NEAR/2 Ukraine', "case:US OR case:U.S.", "Arsenal",
               "header NEAR/5 late", "starter AND NOT sourdough", "co-operation"]
    reg = EntityRegistry.from_dict(ENTITIES)
    var = Variants()
    for group in VARIANTS:
        var.add(group)
    ws = WatchSet([Watch(f"w{i}", t, parse_query(t), t) for i, t in enumerate(queries)],
                  reg, var)
    for article in (SEED, FOOTBALL, RECIPE):
        together = {h.watch_id: h for h in ws.match(article)}
        for i, text in enumerate(queries):
            alone = compile_query(text, entities=reg, variants=var,
                                  watch_id=f"w{i}").match(article)
            assert (alone is None) == (f"w{i}" not in together), (text, article.url)
            if alone:
                assert alone.spans == together[f"w{i}"].spans


def test_duplicate_watch_ids_are_rejected():
    with pytest.raises(ValueError, match="used twice"):
        WatchSet([watch("w", "a1"), watch("w", "b1")])


def test_get_len_iter():
    ws = WatchSet([watch("a", "x1"), watch("b", "y1")])
    assert len(ws) == 2 and ws.get("b").id == "b" and ws.get("c") is None
    assert [w.id for w in ws] == ["a", "b"] == [w.id for w in ws.watches]


# --------------------------------------------------------------------------- explain

def test_explain_tree():
    result = explain(q('"mutual defence" NEAR/2 Ukraine OR title:Pyongyang'), SEED)
    assert not result.matched
    near, title = result.root.children
    assert "never within 2 words" in near.detail
    assert [c.value for c in near.children] == [True, True]
    assert (title.label, title.value, title.detail) == ("title:Pyongyang", False,
                                                        "not found")
    text = result.render()
    assert text.splitlines()[0] == "watch query: no match"
    assert "[no]  NEAR/2" in text


def test_explain_agrees_with_match_including_filters():
    ws = WatchSet([watch("w", "Pyongyang", sources=frozenset({"bbc"}))])
    result = explain(ws, SEED, "w")
    assert result.root.value and not result.matched
    assert result.checks[0][:2] == ("sources", False)
    assert result.to_dict()["matched"] is False


def test_offsets_in_long_texts():
    """Fields longer than one tokenising chunk: every span still points at its text."""
    paragraph = ("Officials in Pyongyang\u2019s ministry met Russia\u2019s envoy; "
                 "the mutual\u00a0defence pact, signed in S\u00e3o Paulo, was "
                 "discussed at length by the délégués and the press.  ")
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(200))
    article = art(text, "Pyongyang")
    hit = q('Pyongyang OR Russia OR "mutual defence" OR case:"S\u00e3o Paulo" OR '
            'd\u00e9l\u00e9gu\u00e9s').match(article)
    assert len([s for s in hit.spans if s.field == "text"]) == 5 * 200
    check_spans(article, hit)
    assert {s.matched for s in hit.spans} == {"Pyongyang", "Russia", "mutual\u00a0defence",
                                               "S\u00e3o Paulo", "délégués"}


def test_min_mentions_counts_places_not_terms():
    """Pyongyang found by two terms is still one mention."""
    ws = WatchSet([watch("w", "Pyongyang OR @north-korea", min_mentions=2)],
                  EntityRegistry.from_dict(ENTITIES))
    assert not ws.match(art("Talks in Pyongyang."))
    assert ws.match(art("Talks in Pyongyang with the DPRK."))


def test_hits_build_their_details_when_read_and_travel_as_plain_hits():
    """match() returns hits whose spans, snippet and matched words are built on first
    read: equal to the hits built at once (match_one), and a copy or a pickle of one is
    a plain Hit that carries neither the article's text nor the watch set."""
    import dataclasses
    import pickle

    from monitor.models import Hit

    ws = WatchSet([Watch("pact", "pact", parse_query('"mutual defence" OR pact'), "q"),
                   Watch("kim", "kim", parse_query("Kim AND Putin"), "q")])
    article = seed_article()
    hits = ws.match(article)
    assert [h.watch_id for h in hits] == ["pact", "kim"]
    assert "_spans" not in vars(hits[0])             # nothing built yet
    eager = [ws.match_one(h.watch_id, article) for h in hits]
    assert hits == eager and eager == hits            # either side of ==
    assert "[[mutual defence]]" in hits[0].snippet and hits[0].matched
    assert hits[0].spans[0].matched in ("mutual defence", "pact")

    again = ws.match(article)[1]
    copy = pickle.loads(pickle.dumps(again))
    assert type(copy) is Hit and copy == eager[1]
    assert len(pickle.dumps(again)) < 2_000          # no article text, no watch set
    revised = dataclasses.replace(ws.match(article)[0], update="updated: now mentions pact")
    assert revised.update == "updated: now mentions pact" and revised.snippet == eager[0].snippet
    assert dataclasses.asdict(ws.match(article)[0])["snippet"] == eager[0].snippet
