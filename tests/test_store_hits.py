"""Many hits of one article are stored at once (Store.save_article, revise_article):
each hit's row id is the one its outbox rows point to, and snoozes and mutes of its
watch or story are read once per article but still give each hit its own reason."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.models import Article, Hit, MatchSpan
from monitor.store import Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "monitor.db")
    yield s
    s.close()


def _article(n: int, text: str) -> Article:
    url = f"https://news.test/{n}"
    return Article(url=url, request_url=url, source="news", title=f"Story {n}", text=text)


def _hits(watch_ids: list[str], text: str) -> list[Hit]:
    shared = MatchSpan("text", 0, 5, "alpha", text[:5])   # one span object, many hits
    return [Hit(w, f"Watch {w}", ["alpha", w], spans=[shared, MatchSpan(
        "text", 6, 10, w, text[6:10])], entities=["nk"] if i % 2 else [],
        snippet=f"[[{text[:5]}]] {w}", channels=("slack",) if i % 3 == 0 else (),
        matched=[text[:5], w]) for i, w in enumerate(watch_ids)]


def test_each_hit_id_is_the_one_its_outbox_rows_point_to(store):
    first = store.save_article(_article(1, "Alpha beta one " * 40),
                               _hits(["w9", "w1"], "Alpha beta"), ["console", "slack"],
                               now=NOW)
    watches = [f"w{n}" for n in (50, 3, 27, 1, 88, 12, 40, 7, 61, 2)]
    text = "Alpha gamma two, a different story " * 30
    saved = store.save_article(_article(2, text), _hits(watches, text),
                               ["console", "slack"], now=NOW)
    assert first is not None and saved is not None
    assert len(set(first.hit_ids + saved.hit_ids)) == 12
    stored = {r[0]: r[1:] for r in store.db.execute(
        "select id, watch_id, article_id, terms, spans, entities, matched from hits")}
    for hit, hit_id in zip(_hits(watches, text), saved.hit_ids, strict=True):
        watch_id, article_id, terms, spans, entities, matched = stored[hit_id]
        assert (watch_id, article_id) == (hit.watch_id, saved.article_id)
        # the text stored is what json.dumps writes, shared spans or not
        assert terms == json.dumps(hit.terms) and matched == json.dumps(hit.matched)
        assert spans == json.dumps([s.__dict__ for s in hit.spans])
        assert entities == json.dumps(hit.entities)
    outbox = store.db.execute("select o.watch_id, h.watch_id, o.channel from outbox o "
                              "join hits h on h.id = o.hit_id where h.article_id = ?",
                              [saved.article_id]).fetchall()
    assert all(o == h for o, h, _ in outbox)
    expected = {(w, c) for i, w in enumerate(watches)
                for c in (("slack",) if i % 3 == 0 else ("console", "slack"))}
    assert {(o, c) for o, _, c in outbox} == expected
    assert saved.alerts_queued == len(expected)


def test_hits_added_by_an_edit_point_their_outbox_rows_at_themselves(store):
    text = "Alpha beta three " * 40
    saved = store.save_article(_article(3, text), _hits(["w5", "w6"], text),
                               ["console", "slack"], now=NOW)
    assert saved is not None
    revision = store.revise_article(saved.article_id, _article(3, text + " Delta."),
                                    _hits(["w6", "w8", "w4"], text), ["console", "slack"],
                                    now=NOW + timedelta(hours=1))
    assert [h.watch_id for h in revision.hits] == ["w8", "w4"]
    rows = store.db.execute("select h.watch_id, o.watch_id, o.channel from hits h join "
                            "outbox o on o.hit_id = h.id where h.article_id = ? "
                            "order by h.id, o.channel", [saved.article_id]).fetchall()
    assert rows == [("w5", "w5", "slack"), ("w6", "w6", "console"), ("w6", "w6", "slack"),
                    ("w8", "w8", "console"), ("w8", "w8", "slack"), ("w4", "w4", "console"),
                    ("w4", "w4", "slack")]


def test_each_hit_gets_the_longest_mute_of_its_watch_or_story(store):
    text = "Alpha beta four " * 40
    store.save_article(_article(4, "Another text entirely, alpha " * 30), [], ["console"],
                       now=NOW)
    story_id = 2   # the next story (each text above is its own story)
    store.mute("story", str(story_id), NOW + timedelta(hours=2), reason="wire", now=NOW)
    store.mute("watch", "w1", reason="noisy", now=NOW)                   # no end: first
    store.mute("watch", "w2", NOW + timedelta(hours=5), now=NOW)         # outlasts story
    store.mute("watch", "w3", NOW + timedelta(hours=1), now=NOW)         # story outlasts
    store.mute("watch", "w4", NOW + timedelta(minutes=1), now=NOW)       # over by then
    saved = store.save_article(_article(5, text), _hits(["w1", "w2", "w3", "w4", "w5"],
                                                        text),
                               ["console", "slack"], now=NOW + timedelta(minutes=30))
    assert saved is not None and saved.story_id == story_id
    assert saved.alerts_queued == 0
    reasons = dict(store.db.execute("select watch_id, last_error from outbox where "
                                    "status = 'muted'").fetchall())
    story = f"story {story_id} snoozed until 2026-11-30T14:00:00+00:00: wire"
    assert reasons == {"w1": "watch w1 muted: noisy",
                       "w2": "watch w2 snoozed until 2026-11-30T17:00:00+00:00",
                       "w3": story, "w4": story, "w5": story}


@pytest.mark.parametrize("words", [
    ['say "no"', "back\\slash", "tab\there"],
    ["Pyongyang, DPRK (entity North Korea)", "Kim Jong\u2011un", "\u5317\u671d\u9bae",
     "\U0001f642", "\u2028", "\x00"],
    [],
])
def test_hit_fields_are_stored_as_json_dumps_writes_them(store, words):
    text = "Alpha beta five " * 40
    spans = [MatchSpan("title", 2**40, 2**40 + 3, w, w) for w in words]
    hit = Hit("w1", "Watch 1", words, spans=spans, entities=words[:1], snippet="s",
              matched=words[::-1])
    saved = store.save_article(_article(6, text), [hit], ["console"], now=NOW)
    assert saved is not None
    row = store.db.execute("select terms, spans, entities, matched from hits where id = ?",
                           saved.hit_ids).fetchone()
    assert tuple(row) == (json.dumps(words), json.dumps([s.__dict__ for s in spans]),
                          json.dumps(words[:1]), json.dumps(words[::-1]))
