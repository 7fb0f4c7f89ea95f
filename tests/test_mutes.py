"""Snoozes and mutes (set on the web desk) hold back a watch's or story's alerts where
they are queued: Store.save_article writes them ``muted`` with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.extract import page_from_file
from monitor.matching import load_watches
from monitor.pipeline import Pipeline
from monitor.store import Store, iso, utcnow
from tests.conftest import RULES, SEEDS
from tests.desk_fixtures import HOSTILE

CBC = SEEDS / "cbc-news_2024-06-19.html"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "monitor.db")
    yield s
    s.close()


def _pipeline(store: Store) -> Pipeline:
    return Pipeline(store, load_watches(RULES), ["console", "slack"])


def _outbox(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.db.execute(
        "select watch_id, channel, status, last_error from outbox order by id")]


def test_a_snoozed_watch_queues_nothing_and_says_why(store):
    store.mute("watch", "russia-north-korea", utcnow() + timedelta(hours=4),
               reason="too noisy", by="desk")
    outcome = _pipeline(store).process(page_from_file(CBC))
    assert outcome.hits and outcome.alerts_queued == 0
    rows = _outbox(store)
    assert [r[2] for r in rows] == ["muted", "muted"]
    assert rows[0][3].startswith("watch russia-north-korea snoozed until ")
    assert rows[0][3].endswith(": too noisy")
    assert store.claim_alerts("immediate", ["console", "slack"]) == []


def test_alerts_flow_again_once_unmuted_or_the_snooze_is_over(store):
    pipeline = _pipeline(store)
    store.mute("watch", "russia-north-korea")
    assert store.unmute("watch", "russia-north-korea") == 1
    assert store.active_mutes() == []
    pipeline.process(page_from_file(CBC))
    assert {r[2] for r in _outbox(store)} == {"pending"}
    # a snooze whose end has passed holds nothing back
    store.db.execute("insert into mutes (kind, target, until, created_at) values "
                     "('watch', 'russia-north-korea', ?, ?)",
                     [iso(utcnow() - timedelta(minutes=1)), iso(utcnow())])
    pipeline.process(page_from_file(HOSTILE))
    assert [r[2] for r in _outbox(store)] == ["pending"] * 4


def test_a_muted_story_holds_back_only_that_story(store):
    pipeline = _pipeline(store)
    first = pipeline.process(page_from_file(CBC))
    story = store.db.execute("select story_id from articles").fetchone()[0]
    assert first.alerts_queued == 2
    store.mute("story", story, reason="covered")
    # its alerts still waiting are not sent either
    assert {r[2] for r in _outbox(store)} == {"muted"}
    assert _outbox(store)[0][3] == f"story {story} muted: covered"
    other = pipeline.process(page_from_file(HOSTILE))
    assert other.alerts_queued == 2
    assert [r[2] for r in _outbox(store)][-2:] == ["pending", "pending"]


def test_mute_refuses_bad_arguments(store):
    with pytest.raises(ValueError, match="kind"):
        store.mute("source", "x")
    with pytest.raises(ValueError, match="future"):
        store.mute("watch", "w", utcnow() - timedelta(seconds=1))
    with pytest.raises(ValueError, match="number"):
        store.mute("story", "abc")


def test_muted_rows_are_counted_apart(store):
    store.mute("watch", "russia-north-korea")
    _pipeline(store).process(page_from_file(CBC))
    assert store.outbox_status() == {"muted": 2}
    assert store.due_count("immediate", ["console", "slack"]) == 0
