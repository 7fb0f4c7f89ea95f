"""Near-duplicate stories: a wire copy with small edits joins the original's story and is
not alerted again; different articles on one topic stay apart; the index survives a
restart and sees stories stored by another process."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import dedup
from monitor.extract import extract, page_from_file
from monitor.models import Article, Hit
from monitor.store import Store, text_fingerprint
from tests.conftest import RULES

SEED = Path(__file__).resolve().parent.parent / "seeds" / "cbc-news_2024-06-19.html"

#: An article on the same summit, written in other words (not a copy).
REWRITE = """\
Vladimir Putin arrived in Pyongyang before dawn on Wednesday for his first trip to North
Korea since 2000, and left the next day with a treaty that both governments described as
the most important step in their relations since the Cold War.

The document, signed at the Kumsusan guest house after several hours of talks, commits
each country to come to the other's aid if it is attacked. Its full text has not been
published, and analysts in Seoul and Tokyo said they would wait to see its wording before
judging how far the promise really goes.

Kim Jong-un greeted the Russian leader at the airport with a hug and later called him the
dearest friend of the Korean people. State television showed crowds waving flags along the
road into the capital and a banquet in the evening.

Washington and its allies accuse Pyongyang of shipping artillery ammunition and missiles
to Moscow for use in Ukraine, a charge both capitals deny. South Korea's national security
adviser said Seoul would review whether to send weapons to Kyiv in response.

Beijing, North Korea's main trading partner, said only that it had noted the visit. From
Pyongyang, Putin flew on to Vietnam for a shorter stop.
"""


def _seed_text() -> str:
    return extract(page_from_file(str(SEED))).text


def _wire_copy(text: str) -> str:
    """The seed story as another outlet runs it: an added first paragraph, a different
    trailing line and three edited words."""
    paragraphs = text.split("\n\n")
    body = "\n\n".join(paragraphs[:-1])
    for old, new in (("Wednesday", "Tuesday"), ("significant", "important"),
                     ("dramatic", "major")):
        assert old in body
        body = body.replace(old, new, 1)
    return ("PYONGYANG (Reuters) — This story was updated with comment from Seoul and "
            "Washington.\n\n" + body + "\n\nRelated: What the Russia-North Korea pact means "
            "for the region")


def _article(n: int, text: str) -> Article:
    return Article(url=f"https://news{n}.test/story", request_url=f"https://news{n}.test/story",
                   source=f"outlet{n}", title=f"Putin in Pyongyang ({n})", text=text)


def _hit() -> Hit:
    return Hit("rnk", "Russia and North Korea", ["mutual defence"], channels=("console",))


def _outbox(store: Store) -> list[dict]:
    return list(store.db.query("select watch_id, story_id, channel from outbox"))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "monitor.db"


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def test_a_wire_copy_with_small_edits_joins_the_story_and_is_not_alerted_again(store):
    text = _seed_text()
    copy = _wire_copy(text)
    assert text_fingerprint(copy) != text_fingerprint(text)
    first = store.save_article(_article(1, text), [_hit()], ["console"])
    second = store.save_article(_article(2, copy), [_hit()], ["console"])
    assert first.new_story and first.alerts_queued == 1
    assert not second.new_story and second.story_id == first.story_id
    assert second.alerts_queued == 0 and len(second.hit_ids) == 1   # the hit is still kept
    assert _outbox(store) == [{"watch_id": "rnk", "story_id": first.story_id,
                               "channel": "console"}]
    assert store.counts()["articles"] == 2 and store.counts()["stories"] == 1
    row = next(store.db.query("select article_count from stories"))
    assert row["article_count"] == 2


def test_two_articles_on_the_same_summit_in_other_words_are_two_stories(store):
    first = store.save_article(_article(1, _seed_text()), [_hit()], ["console"])
    second = store.save_article(_article(2, REWRITE), [_hit()], ["console"])
    assert second.new_story and second.story_id != first.story_id
    assert second.alerts_queued == 1 and len(_outbox(store)) == 2


def test_short_texts_are_grouped_by_exact_text_only(store):
    short = "Putin and Kim signed a mutual defence pact in Pyongyang on Wednesday."
    assert dedup.signature(short) is None
    a = store.save_article(_article(1, short), [], [])
    b = store.save_article(_article(2, short.replace("Wednesday", "Tuesday")), [], [])
    c = store.save_article(_article(3, short.upper()), [], [])
    assert b.new_story and b.story_id != a.story_id
    assert not c.new_story and c.story_id == a.story_id


def test_the_index_survives_a_restart(db_path):
    text = _seed_text()
    with_first = Store(db_path)
    first = with_first.save_article(_article(1, text), [_hit()], ["console"])
    with_first.close()
    stored = sqlite3.connect(db_path).execute("select minhash from stories").fetchone()[0]
    assert len(stored) == dedup.NUM_PERM * 4
    restarted = Store(db_path)
    try:
        second = restarted.save_article(_article(2, _wire_copy(text)), [_hit()], ["console"])
        assert second.story_id == first.story_id and not second.new_story
        assert second.alerts_queued == 0 and len(_outbox(restarted)) == 1
    finally:
        restarted.close()


def test_a_story_stored_by_another_process_is_found(db_path):
    text = _seed_text()
    daemon, replay = Store(db_path), Store(db_path)
    try:
        # The daemon's index is loaded (empty of the seed story) before replay stores it.
        daemon.save_article(_article(9, REWRITE), [], [])
        first = replay.save_article(_article(1, text), [_hit()], ["console"])
        second = daemon.save_article(_article(2, _wire_copy(text)), [_hit()], ["console"])
        assert second.story_id == first.story_id and not second.new_story
        assert len(_outbox(daemon)) == 1
    finally:
        daemon.close()
        replay.close()


def test_stories_older_than_the_window_are_not_joined(db_path, monkeypatch):
    import monitor.clock

    text = _seed_text()
    store = Store(db_path, story_window_days=1)
    try:
        first = store.save_article(_article(1, text), [], [])
        store.save_article(_article(2, REWRITE), [], [])      # story 1 is in the index now
        later = monitor.clock.utcnow() + timedelta(days=2)
        monkeypatch.setattr(monitor.clock, "utcnow", lambda: later)
        # The running Store forgets the story as it leaves the window...
        copy = store.save_article(_article(3, _wire_copy(text)), [], [])
        assert copy.new_story and copy.story_id != first.story_id
        # ...and so does a restarted one.
        restarted = Store(db_path, story_window_days=1)
        try:
            # another edit of the copy joins the copy's story (in the window), not the first
            again = restarted.save_article(_article(5, _wire_copy(text) + " More."), [], [])
            assert again.story_id == copy.story_id and not again.new_story
            exact = restarted.save_article(_article(4, text), [], [])
            assert exact.story_id == first.story_id      # an exact copy joins at any age
        finally:
            restarted.close()
    finally:
        store.close()


def test_signatures_round_trip_and_are_the_same_in_every_process():
    text = _seed_text()
    sig = dedup.signature(text)
    assert dedup.from_bytes(dedup.to_bytes(sig)).jaccard(sig) == 1.0
    assert dedup.to_bytes(dedup.signature(text)) == dedup.to_bytes(sig)
    with pytest.raises(ValueError, match="bytes"):
        dedup.from_bytes(b"\0" * 10)


def test_story_index_picks_the_most_similar_story():
    text = _seed_text()
    index = dedup.StoryIndex()
    index.add(1, dedup.signature(REWRITE))
    index.add(2, dedup.signature(text))
    assert index.find(_wire_copy(text)) == 2
    assert index.find("too short to say") is None
    index.remove(2)
    assert index.find(_wire_copy(text)) is None and len(index) == 1


def test_upgrading_an_existing_database_computes_signatures_of_recent_stories(db_path):
    import sqlite_utils

    from monitor.store import migrations

    text = _seed_text()
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m003_story_minhash")   # a database from before
    old.close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("insert into stories (id, fingerprint, title, first_seen, article_count) "
                     "values (1, ?, 'Putin in Pyongyang', "
                     "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), 1)", [text_fingerprint(text)])
        conn.execute("insert into articles (url, request_url, source, title, text, partial, "
                     "story_id) values ('https://old.test/a', 'https://old.test/a', 'old', "
                     "'Putin in Pyongyang', ?, 0, 1)", [text])
    conn.close()
    store = Store(db_path)
    try:
        copy = store.save_article(_article(2, _wire_copy(text)), [], [])
        assert copy.story_id == 1 and not copy.new_story
    finally:
        store.close()


def test_a_wire_copy_of_an_alerted_story_says_so_in_one_info_line(tmp_path, caplog):
    from monitor.matching import load_watches
    from monitor.models import Page
    from monitor.pipeline import Pipeline

    store = Store(tmp_path / "m.db")
    pipeline = Pipeline(store, load_watches(RULES),
                        ["console"])
    seed = extract(page_from_file(str(SEED)))
    first = pipeline.process_extracted(Page(url=seed.url, body=b"", source="cbc"), seed)
    assert first.alerts_queued == 1
    copy = Article(url="https://wire.test/pact", request_url="https://wire.test/pact",
                   source="wire", title="Putin and Kim sign pact", text=_wire_copy(seed.text))
    caplog.clear()
    with caplog.at_level("INFO", logger="monitor.pipeline"):
        second = pipeline.process_extracted(Page(url=copy.url, body=b"", source="wire"), copy)
    assert second.status == "stored" and not second.new_story and second.alerts_queued == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.pipeline"]
    assert len(lines) == 1, lines
    story = store.db.execute("select story_id from articles where url = ?",
                             [copy.url]).fetchone()[0]
    assert f"joins story {story} \u201c{seed.title}\u201d" in lines[0]
    assert "https://wire.test/pact" in lines[0] and "no new alert" in lines[0]
    store.close()


def test_upgrading_moves_recent_stories_into_the_band_table(db_path):
    """A database from before m009 (signatures of the old datasketch scheme, kept in
    memory by the old Store): recent stories get new signatures and band keys, so a wire
    copy still joins them after the upgrade; stories outside the window are cleared."""
    import sqlite_utils

    from monitor.store import iso, migrations, utcnow

    text = _seed_text()
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m009_story_bands")
    old.close()
    conn = sqlite3.connect(db_path)
    with conn:
        for sid, age_days, body in ((1, 0.5, text), (2, 10, REWRITE)):
            conn.execute("insert into stories (id, fingerprint, title, first_seen, "
                         "article_count, minhash) values (?, ?, 't', ?, 1, ?)",
                         [sid, text_fingerprint(body),
                          iso(utcnow() - timedelta(days=age_days)), b"\x01" * 512])
            conn.execute("insert into articles (url, request_url, source, title, text, "
                         "partial, story_id) values (?, ?, 'old', 't', ?, 0, ?)",
                         [f"https://old.test/{sid}", f"https://old.test/{sid}", body, sid])
    conn.close()
    store = Store(db_path)
    try:
        bands = dict(store.db.execute(
            "select story_id, count(*) from story_bands group by story_id").fetchall())
        assert bands == {1: dedup.BANDS}
        minhash = dict(store.db.execute("select id, minhash from stories").fetchall())
        assert minhash[2] is None
        # m009 writes the scheme of its day (crc32-mix64-ms, words split by \w+): not
        # the old bytes, and the same text under today's scheme is still one story
        assert minhash[1] != b"\x01" * 512 and len(minhash[1]) == dedup.NUM_PERM * 4
        old_scheme = dedup.from_bytes(minhash[1])
        assert old_scheme.jaccard(dedup.signature(text)) >= dedup.THRESHOLD
        copy = store.save_article(_article(3, _wire_copy(text)), [], [])
        assert copy.story_id == 1 and not copy.new_story
    finally:
        store.close()


def test_a_near_duplicate_is_found_among_many_stories_after_a_restart(db_path):
    """Thousands of stories in the band table: the copy finds its own story, and the
    other stories' keys do not make it join a wrong one."""
    import random

    rnd = random.Random(3)
    words = sorted(set(dedup.tokens(_seed_text() + " " + REWRITE)))
    store = Store(db_path)
    try:
        for n in range(300):
            store.save_article(_article(100 + n, " ".join(rnd.choices(words, k=200))), [], [])
        first = store.save_article(_article(1, _seed_text()), [_hit()], ["console"])
    finally:
        store.close()
    restarted = Store(db_path)
    try:
        second = restarted.save_article(_article(2, _wire_copy(_seed_text())), [_hit()],
                                        ["console"])
        assert second.story_id == first.story_id and second.alerts_queued == 0
        assert restarted.counts()["stories"] == 301
    finally:
        restarted.close()


def test_the_command_line_and_the_store_import_no_scientific_stack():
    """``monitor --help`` loads neither numpy nor the store; opening the store never loads
    scipy or datasketch (numpy comes with sqlite-utils when it is installed)."""
    import subprocess
    import sys

    code = ("import sys, monitor.cli; a = sorted(m for m in ('numpy', 'scipy', "
            "'datasketch', 'sqlite_utils') if m in sys.modules); import monitor.store; "
            "print(a, sorted(m for m in ('scipy', 'datasketch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[] []"
