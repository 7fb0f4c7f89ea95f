"""The poll schedule (monitor.schedule) and the writer's side of a poll, without Scrapy."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from monitor.config import MonitorConfig, SourceConfig
from monitor.records import RunResult
from monitor.schedule import Schedule, SourceState, backoff_delay, next_interval
from monitor.store import Store

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def _state(name="a", url="http://news.test/feed", interval=600.0, lo=60.0, hi=3600.0, **kw):
    return SourceState(name=name, url=url, interval=interval, min_interval=lo,
                       max_interval=hi, **kw)


def _result(name, at, *, ok=True, new=0, error=None, complete=True, url="http://news.test/feed",
            hold=None):
    return RunResult(run_id=1, source=name, url=url, ok=ok, error=error, new_links=new,
                     pages=0, complete=complete, started_at=at, finished_at=at, due_at=at,
                     retry_after_host=hold[0] if hold else None,
                     retry_after_until=hold[1] if hold else None)


def _poll(schedule, at, **kw):
    [state] = schedule.pop_due(at)
    return schedule.record(_result(state.name, at, **kw))


def test_interval_shortens_while_a_source_publishes_and_lengthens_when_it_goes_quiet():
    schedule = Schedule([_state(next_due_at=T0)], T0, rng=random.Random(1))
    now, seen = T0, []
    for new in [3, 2, 4, 1, 5, 2]:          # busy: something new at every poll
        state = _poll(schedule, now, new=new)
        seen.append(state.interval)
        now = state.next_due_at
    assert seen == sorted(seen, reverse=True) and seen[-1] == 60.0   # down to the minimum
    for _ in range(12):                      # quiet: nothing new
        state = _poll(schedule, now, new=0)
        seen.append(state.interval)
        now = state.next_due_at
    assert seen[-1] == 3600.0                # up to the maximum
    state = _poll(schedule, now, new=1)      # wakes up: halves at once
    assert state.interval == 1800.0


def test_next_due_time_is_the_interval_plus_a_little_jitter():
    schedule = Schedule([_state(next_due_at=T0)], T0, rng=random.Random(2))
    state = _poll(schedule, T0, new=0)
    delay = (state.next_due_at - T0).total_seconds()
    assert 900.0 <= delay <= 900.0 * 1.05


def test_a_failing_source_backs_off_exponentially_capped_and_recovers():
    schedule = Schedule([_state(next_due_at=T0)], T0, max_backoff=7200.0, rng=random.Random(3))
    now, delays = T0, []
    for _ in range(6):
        state = _poll(schedule, now, ok=False, error="HTTP 500")
        delays.append((state.next_due_at - now).total_seconds())
        now = state.next_due_at
    assert [round(d / 600) for d in delays[:3]] == [2, 4, 8]   # 2, 4, 8 times the interval
    assert max(delays) <= 7200.0 * 1.05                        # capped
    assert state.failures == 6 and state.failing_since == T0
    assert state.last_error == "HTTP 500" and state.interval == 600.0
    state = _poll(schedule, now, new=0)
    assert state.failures == 0 and state.failing_since is None and state.last_error is None
    assert (state.next_due_at - now).total_seconds() < 1000


def test_retry_after_holds_every_source_of_the_host():
    feed = _state("feed", "http://news.test/feed", next_due_at=T0)
    sitemap = _state("sitemap", "http://news.test/sitemap.xml",
                     next_due_at=T0 + timedelta(seconds=10))
    other = _state("other", "http://other.test/feed", next_due_at=T0 + timedelta(seconds=10))
    schedule = Schedule([feed, sitemap, other], T0, rng=random.Random(4))
    until = T0 + timedelta(seconds=120)
    [_taken] = schedule.pop_due(T0)
    schedule.record(_result("feed", T0, ok=False, error="HTTP 429",
                            hold=("news.test", until)))
    due = schedule.pop_due(T0 + timedelta(seconds=30))
    assert [s.name for s in due] == ["other"]             # news.test waits
    back = schedule.states["sitemap"].next_due_at
    assert until <= back <= until + timedelta(seconds=600 * 0.05)   # spread a little
    assert [s.name for s in schedule.pop_due(back)] == ["sitemap"]
    assert schedule.states["feed"].next_due_at >= until


def test_new_and_overdue_sources_are_spread_at_the_start_rate_not_polled_at_once():
    states = [_state(f"s{i:03}", next_due_at=None) for i in range(100)]
    states.append(_state("later", next_due_at=T0 + timedelta(minutes=5)))
    schedule = Schedule(states, T0, start_rate=20.0)
    assert len(schedule.pop_due(T0 + timedelta(seconds=1))) == 21   # 0 s .. 1 s
    assert len(schedule.pop_due(T0 + timedelta(seconds=4.99))) == 79
    assert schedule.pop_due(T0 + timedelta(minutes=4)) == []         # not due yet


def test_sources_added_while_running_are_spread_not_all_due_at_once():
    schedule = Schedule([], T0, start_rate=10.0)
    schedule.add([_state(f"n{i}") for i in range(50)], T0)
    assert len(schedule.pop_due(T0 + timedelta(seconds=1))) == 11
    assert len(schedule.pop_due(T0 + timedelta(seconds=5))) == 39


def test_a_source_in_flight_is_not_handed_out_twice():
    schedule = Schedule([_state(next_due_at=T0)], T0)
    assert len(schedule.pop_due(T0)) == 1
    assert schedule.pop_due(T0 + timedelta(hours=1)) == []
    schedule.release("a", T0)
    assert len(schedule.pop_due(T0)) == 1


def test_helpers_follow_the_documented_rule():
    assert next_interval(600, 1, 60, 3600) == 300
    assert next_interval(600, 0, 60, 3600) == 900
    assert next_interval(100, 5, 60, 3600) == 60
    assert backoff_delay(600, 1, 6 * 3600) == 1200
    assert backoff_delay(600, 20, 6 * 3600) == 6 * 3600
    with pytest.raises(ValueError, match="start_rate"):
        Schedule([], T0, start_rate=0)


def test_schedule_survives_in_the_store(tmp_path):
    from monitor.writer import new_schedule

    config = MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db")
    source = SourceConfig(name="a", kind="feed", url="http://news.test/feed", interval=600)
    store = Store(config.database)
    store.sync_sources([source])
    schedule = new_schedule(store, [source], config.schedule, now=T0)
    _poll(schedule, T0, new=2)
    store.save_schedule(schedule.take_dirty(), schedule.holds)
    store.close()

    store = Store(config.database)
    [state] = store.schedule_states([source])
    assert state.interval == 300.0 and state.last_new_at == T0
    assert state.next_due_at > T0 + timedelta(seconds=299)
    again = new_schedule(store, [source], config.schedule, now=T0 + timedelta(seconds=10))
    assert again.pop_due(T0 + timedelta(seconds=10)) == []   # resumes, no poll at start
    store.close()


def test_interval_limits_are_checked():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="min_interval"):
        SourceConfig(name="a", kind="feed", url="http://x.test/", interval=60, min_interval=120)
    s = SourceConfig(name="a", kind="feed", url="http://x.test/", interval="15m")
    assert (s.min_interval_s, s.max_interval_s) == (300.0, 3600.0)


def test_thousands_of_configured_sources_are_recorded_in_one_transaction(tmp_path):
    sources = [SourceConfig(name=f"s{i}", kind="feed", url=f"http://127.0.0.1:9/f{i}.xml")
               for i in range(5000)]
    store = Store(tmp_path / "m.db")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.sync_sources(sources)
    store.db.conn.set_trace_callback(None)
    assert sum(1 for s in statements if s.strip().upper() == "COMMIT") == 1
    assert store.db["sources"].count == 5000
    store.close()


def test_a_large_config_is_read_with_the_c_yaml_loader_when_present(tmp_path, monkeypatch):
    import yaml

    from monitor.config import load_config

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    used = []
    real = yaml.load
    monkeypatch.setattr(yaml, "load", lambda text, Loader: used.append(Loader) or
                        real(text, Loader=Loader))
    path = tmp_path / "monitor.yaml"
    path.write_text("sources:\n" + "".join(
        f"  - {{name: s{i}, kind: feed, url: 'http://127.0.0.1:9/f{i}.xml'}}\n"
        for i in range(2000)))
    assert len(load_config(path).sources) == 2000
    assert len(used) == 1 and issubclass(used[0], yaml.CSafeLoader)  # C parser kept


def test_a_page_the_store_refuses_stays_unseen_and_the_poll_forgets_its_validators(tmp_path):
    import sqlite3

    from monitor.matching import load_watches
    from monitor.models import Article, Page
    from monitor.pipeline import Pipeline
    from monitor.writer import Writer, new_schedule
    from tests.conftest import RULES

    config = MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db")
    source = SourceConfig(name="a", kind="feed", url="http://news.test/feed", interval=600)
    store = Store(config.database)
    store.sync_sources([source])
    store.save_fetch_state("http://news.test/feed", '"old"', None)
    pipeline = Pipeline(store, load_watches(RULES), ["console"])
    writer = Writer(store, pipeline, new_schedule(store, [source], config.schedule, now=T0),
                    {"a": source})
    [task] = writer.take_due(T0)
    assert task.etag == '"old"'                      # the poll task carries the validators

    def full(page, result):
        raise sqlite3.OperationalError("database or disk is full")
    pipeline.process_extracted = full
    page = Page(url="http://news.test/a1", body=b"", source="a", run_id=task.run_id)
    article = Article(url="http://news.test/a1", request_url="http://news.test/a1",
                      source="a", title="t", text="x " * 300)
    with pytest.raises(sqlite3.OperationalError):
        writer.write_page(page, article)
    result = RunResult(run_id=task.run_id, source="a", url=task.url, ok=True, error=None,
                       new_links=1, pages=1, complete=True, started_at=T0, finished_at=T0,
                       due_at=T0, validators=(("http://news.test/feed", '"new"', None),))
    [state] = writer.finish_runs([result])
    assert "1 page not stored (database: database or disk is full)" in state.last_error
    assert (state.next_due_at - T0).total_seconds() <= 200 * 1.05   # back after min_interval
    assert store.fetch_state("http://news.test/feed")["etag"] is None   # next GET in full
    assert store.unseen(["http://news.test/a1"]) == {"http://news.test/a1"}
    assert writer.flush()
    row = store.source_rows()["a"]
    assert row["last_status"] == "error" and "not stored" in row["last_error"]
    store.close()


def test_retry_after_is_capped_and_never_crashes():
    from scrapy.http import Request, Response

    from monitor.crawl.spider import retry_after
    from monitor.schedule import MAX_HOLD

    def answer(value):
        return Response("http://news.test/feed", status=429, headers={"Retry-After": value},
                        request=Request("http://news.test/feed"))
    assert retry_after(answer("120"), T0) == T0 + timedelta(seconds=120)
    assert retry_after(answer("31536000"), T0) == T0 + timedelta(seconds=MAX_HOLD)
    assert retry_after(answer("999999999999999"), T0) == T0 + timedelta(seconds=MAX_HOLD)
    assert retry_after(answer("Wed, 21 Oct 2099 07:28:00 GMT"), T0) == \
        T0 + timedelta(seconds=MAX_HOLD)
    assert retry_after(answer("soon"), T0) is None
