"""Source-health and spike notices (issue: watching the watcher): each condition fires
once and recovers once with a fixed clock on the real store; notices reach a real SMTP
server and a Slack look-alike; a whole network down is one notice; a real crawl of a
feed that moved permanently suggests the new URL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.alerts import build_channel
from monitor.config import MonitorConfig, SourceConfig
from monitor.health import Health, deliver_notices, open_episodes, poisson_tail
from monitor.matching.query import parse_query
from monitor.matching.watch import SpikeSettings, Watch
from monitor.models import Article, Hit
from monitor.store import Store, iso
from tests.conftest import monitor_cmd, rss, seed_html, write_config
from tests.servers import Route

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
TEXT = ("The council approved the new wind farm on Tuesday after a long debate about "
        "the noise, the birds and the price of power for the valley's households. ") * 3


def _config(tmp_path, n_sources=1, **health) -> MonitorConfig:
    sources = [SourceConfig(name=f"s{i}", kind="feed", url=f"https://s{i}.test/feed")
               for i in range(n_sources)]
    return MonitorConfig(path=tmp_path / "monitor.yaml", database=tmp_path / "m.db",
                         sources=sources, health={"silent_min": 3600, **health})


def _store(config) -> Store:
    store = Store(config.database)
    store.sync_sources(config.sources)
    return store


def _poll(store, name, *, failures=0, error=None, since=None, at=T0, moved=None):
    store.db.execute(
        "update sources set failures = ?, last_error = ?, failing_since = ?, "
        "last_polled_at = ?, moved_to = ? where name = ?",
        [failures, error, iso(since) if failures else None, iso(at), moved, name])
    store.db.conn.commit()


def _article(store, source, n, at, text=TEXT, hits=()):
    saved = store.save_article(Article(url=f"https://{source}.test/a{n}",
                                       request_url=f"https://{source}.test/a{n}",
                                       source=source, title=f"Story {n}", text=f"{n} {text}"),
                               list(hits), [])
    store.db.execute("update articles set fetched_at = ? where url = ?",
                     [iso(at), f"https://{source}.test/a{n}"])
    store.db.execute("update pages set first_seen = ? where url = ?",
                     [iso(at), f"https://{source}.test/a{n}"])
    store.db.execute("update hits set created_at = ? where article_id = (select id from "
                     "articles where url = ?)", [iso(at), f"https://{source}.test/a{n}"])
    store.db.conn.commit()
    return saved


def _notices(store):
    return store.db.execute("select e.kind, e.subject, n.event, n.channel from notices n "
                            "join episodes e on e.id = n.episode_id order by n.id").fetchall()


def test_poisson_tail_matches_known_values():
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(5, 1.0) == pytest.approx(0.00366, abs=1e-5)
    assert poisson_tail(1, 2.0) == pytest.approx(1 - 0.135335, abs=1e-6)
    assert poisson_tail(3, 0.0) == 0.0


def test_a_failing_source_is_told_once_and_its_recovery_once(tmp_path):
    config = _config(tmp_path, failing_polls=3)
    store = _store(config)
    health = Health(store, config)
    _poll(store, "s0", failures=2, error="https://s0.test/feed: HTTP 503", since=T0)
    assert health.check(now=T0) == (0, 0)          # two failures: not yet
    _poll(store, "s0", failures=3, error="https://s0.test/feed: HTTP 503", since=T0)
    assert health.check(now=T0 + timedelta(minutes=1)) == (1, 0)
    assert health.check(now=T0 + timedelta(minutes=2)) == (0, 0)   # once per episode
    [episode] = open_episodes(store)
    assert episode["title"].startswith("source s0 is failing: 3 polls in a row since")
    assert "last error: https://s0.test/feed: HTTP 503" in episode["lines"]
    _poll(store, "s0", failures=0)
    assert health.check(now=T0 + timedelta(minutes=3)) == (0, 1)
    assert health.check(now=T0 + timedelta(minutes=4)) == (0, 0)
    assert _notices(store) == [("source-failing", "s0", "start", "console"),
                               ("source-failing", "s0", "end", "console")]


def test_failing_for_a_long_time_counts_too_and_the_title_says_gone(tmp_path):
    config = _config(tmp_path, failing_polls=10, failing_for="2h")
    store = _store(config)
    _poll(store, "s0", failures=2, error="https://s0.test/feed: HTTP 404",
          since=T0 - timedelta(hours=3))
    Health(store, config).check(now=T0)
    [episode] = open_episodes(store)
    assert episode["title"].startswith("source s0: its feed is gone (HTTP 404")


def test_http_errors_of_one_site_are_not_a_network_down(tmp_path):
    """Six sources on one host answering 500: the network works; each source is told."""
    config = MonitorConfig(
        path=tmp_path / "monitor.yaml", database=tmp_path / "m.db",
        sources=[SourceConfig(name=f"s{i}", kind="feed", url=f"https://one.test/f{i}")
                 for i in range(6)], health={"failing_polls": 1})
    store = _store(config)
    for i in range(6):
        _poll(store, f"s{i}", failures=1, since=T0, error=f"https://one.test/f{i}: HTTP 500")
    assert Health(store, config).check(now=T0) == (6, 0)
    assert {e["kind"] for e in open_episodes(store)} == {"source-failing"}


def test_a_source_removed_from_the_config_is_not_a_recovery(tmp_path):
    config = _config(tmp_path, n_sources=2, failing_polls=1)
    store = _store(config)
    _poll(store, "s1", failures=2, since=T0, error="https://s1.test/feed: HTTP 404")
    Health(store, config).check(now=T0)
    smaller = config.model_copy(update={"sources": config.sources[:1]})
    assert Health(store, smaller).check(now=T0 + timedelta(minutes=1)) == (0, 1)
    assert [event for _, _, event, _ in _notices(store)] == ["start"]   # no "resolved"
    assert open_episodes(store) == []


def test_a_whole_network_down_is_one_notice_not_one_per_source(tmp_path):
    config = _config(tmp_path, n_sources=6, failing_polls=1)
    store = _store(config)
    for i in range(6):
        _poll(store, f"s{i}", failures=2, since=T0,
              error=f"https://s{i}.test/feed: DNS lookup failed: no address for s{i}.test")
    health = Health(store, config)
    assert health.check(now=T0) == (1, 0)
    [episode] = open_episodes(store)
    assert episode["kind"] == "network-down"
    assert episode["title"] == ("6 of 6 sources are failing at once: the network or DNS "
                                "is probably down")
    for i in range(6):
        _poll(store, f"s{i}", failures=0)
    assert health.check(now=T0 + timedelta(minutes=5)) == (0, 1)
    assert [k for k, *_ in _notices(store)] == ["network-down", "network-down"]


def test_a_silent_source_by_its_own_rhythm(tmp_path):
    config = _config(tmp_path, silent_factor=4, silent_min=3600)
    store = _store(config)
    _poll(store, "s0")
    for n in range(10):                     # one new article an hour
        _article(store, "s0", n, T0 - timedelta(hours=10 - n))
    last = T0 - timedelta(hours=1)
    health = Health(store, config)
    assert health.check(now=last + timedelta(hours=3)) == (0, 0)
    health._last_slow = None                # the slow checks run again at once
    assert health.check(now=last + timedelta(hours=5)) == (1, 0)
    [episode] = open_episodes(store)
    assert episode["title"] == ("source s0 is silent: no new article for 5h "
                                "(usually one every 1h)")
    _article(store, "s0", 99, last + timedelta(hours=5, minutes=30))
    health._last_slow = None
    assert health.check(now=last + timedelta(hours=6)) == (0, 1)


def test_extraction_drift_when_pages_turn_into_consent_walls(tmp_path):
    config = _config(tmp_path, drift_min_pages=5)
    store = _store(config)
    _poll(store, "s0")
    for n in range(10):                     # a normal week
        _article(store, "s0", n, T0 - timedelta(days=2 + n * 0.5))
    health = Health(store, config)
    assert health.check(now=T0) == (0, 0)
    for n in range(8):                      # the redesign: consent walls everywhere
        store.db.execute("insert into pages (url, source, first_seen, status, reason, "
                         "detail) values (?, 's0', ?, 'rejected', 'consent-wall', 'x')",
                         [f"https://s0.test/new{n}", iso(T0 - timedelta(hours=n + 1))])
    for n in range(2):
        _article(store, "s0", 100 + n, T0 - timedelta(hours=n + 1))
    store.db.conn.commit()
    health._last_slow = None
    assert health.check(now=T0) == (1, 0)
    [episode] = open_episodes(store)
    assert episode["kind"] == "extraction-drift"
    assert episode["lines"][0].startswith("8 of 10 pages rejected in the last 1d "
                                          "(consent-wall 8), against 0% before")
    assert any(line.startswith("e.g. https://s0.test/new") for line in episode["lines"])


def _spike_store(tmp_path, per_window_baseline: list[int], current: int,
                 window: float = 3600):
    config = _config(tmp_path)
    store = _store(config)
    watch = Watch(id="pacts", name="Defence pacts", query=parse_query("pact", None),
                  query_text="pact", spike=SpikeSettings(window=window, min_count=5,
                                                         baseline=7 * 86400))
    n = 0
    hit = Hit(watch_id="pacts", watch_name="Defence pacts", terms=["pact"])
    for windows_ago, count in enumerate(per_window_baseline, start=1):
        for i in range(count):
            _article(store, "s0", n, T0 - timedelta(seconds=window * windows_ago + 60 * i + 30),
                     hits=[hit])
            n += 1
    for i in range(current):
        _article(store, "s0", n, T0 - timedelta(minutes=5 + i), hits=[hit])
        n += 1
    return config, store, watch


def test_a_rise_over_the_baseline_is_a_spike_told_once(tmp_path):
    # about one hit every 8 hours for a week, then 9 in the last hour
    config, store, watch = _spike_store(tmp_path, [1 if h % 8 == 0 else 0
                                                   for h in range(160)], 9)
    health = Health(store, config)
    assert health.check([watch], now=T0) == (1, 0)
    assert health.check([watch], now=T0 + timedelta(minutes=1)) == (0, 0)
    [episode] = open_episodes(store)
    assert episode["subject"] == "watch:pacts"
    assert episode["title"].startswith("spike: watch 'Defence pacts': 9 articles in the "
                                       "last 1h, usually 0.")
    assert "Poisson P = " in episode["lines"][0]
    assert episode["lines"][1].startswith("· Story ")
    # an hour later the rise is over
    assert health.check([watch], now=T0 + timedelta(hours=2)) == (0, 1)


def test_the_same_volume_spread_evenly_is_no_spike(tmp_path):
    # nine a day for over a week, then nine in the last day
    config, store, watch = _spike_store(tmp_path, [9] * 8, 9, window=86400)
    assert Health(store, config).check([watch], now=T0) == (0, 0)


def test_no_spike_before_the_store_has_a_baseline(tmp_path):
    """A fresh database has no "usual" yet: its first crawl is not a spike."""
    config, store, watch = _spike_store(tmp_path, [], 9)
    assert Health(store, config).check([watch], now=T0) == (0, 0)


def test_notices_reach_real_mail_and_slack_with_every_line(tmp_path, smtp, slack):
    config = MonitorConfig(
        path=tmp_path / "monitor.yaml", database=tmp_path / "m.db",
        sources=[SourceConfig(name="valley", kind="feed", url="https://valley.test/rss")],
        channels=[{"kind": "email", "name": "desk", "host": "127.0.0.1", "port": smtp.port,
                   "security": "none", "sender": "monitor@test.invalid",
                   "recipients": ["desk@test.invalid"]},
                  {"kind": "slack", "name": "ops", "webhook_url_env": "X"}],
        health={"failing_polls": 1, "channels": ["desk", "ops"]})
    store = _store(config)
    channels = {"desk": build_channel("email", "desk", host="127.0.0.1", port=smtp.port,
                                      sender="monitor@test.invalid",
                                      recipients=["desk@test.invalid"], security="none"),
                "ops": build_channel("slack", "ops", webhook_url=slack.url)}
    _poll(store, "valley", failures=4, since=T0,
          error="https://valley.test/rss is an HTML page, not a feed: its feed is "
                "announced at https://valley.test/feed.xml, use that as url")
    health = Health(store, config)
    health.check(now=T0)
    assert deliver_notices(store, channels, now=T0) == (2, 0)
    [mail] = smtp.wait_for(1)
    assert mail["Subject"].startswith("[monitor] notice 1: source valley: its feed URL "
                                      "does not serve a feed")
    body = mail.get_body(("plain",)).get_content()
    assert "announced at https://valley.test/feed.xml" in body
    [post] = slack.wait_for(1)
    assert post["text"].startswith("source valley: its feed URL does not serve a feed")
    assert post["blocks"][-1]["elements"][0]["text"].startswith("news-monitor notice 1 ·")
    _poll(store, "valley", failures=0)
    health.check(now=T0 + timedelta(minutes=1))
    assert deliver_notices(store, channels, now=T0 + timedelta(minutes=1)) == (2, 0)
    assert smtp.wait_for(2)[1]["Subject"].startswith("[monitor] notice 1: resolved: ")
    assert slack.wait_for(2)[1]["text"].startswith("resolved: source valley")
    # nothing is sent twice
    assert deliver_notices(store, channels, now=T0 + timedelta(minutes=2)) == (0, 0)
    for channel in channels.values():
        channel.close()


def test_unknown_health_channels_are_a_config_error(tmp_path):
    with pytest.raises(ValueError, match=r"health.channels\[0\]: no channel named 'ops'"):
        MonitorConfig(health={"channels": ["ops"]})


def test_a_feed_that_moved_for_good_is_told_with_its_new_url(tmp_path, site):
    site.set("/new/feed.xml", rss([("Russia, North Korea pact", site.url("/a.html"))]),
             content_type="application/rss+xml")
    site.set("/a.html", seed_html("cbc-news_2024-06-19"))
    site["/old/feed.xml"] = Route(status=301, headers={"Location": site.url("/new/feed.xml")})
    cfg = write_config(tmp_path / "monitor.yaml", extraction={"workers": 0},
                       sources=[{"name": "moving", "kind": "feed",
                                 "url": site.url("/old/feed.xml")}])
    done = monitor_cmd("--config", str(cfg), "crawl")
    assert done.returncode == 0, done.stderr
    status = json.loads(monitor_cmd("--config", str(cfg), "status", "--json").stdout)
    [episode] = [e for e in status["health"] if e["kind"] == "source-moved"]
    assert episode["title"] == (f"source moving moved: {site.url('/old/feed.xml')} "
                                f"redirects permanently to {site.url('/new/feed.xml')}")
    # the console channel printed the notice
    assert "news-monitor notice" in done.stdout and "moved" in done.stdout
    report = monitor_cmd("--config", str(cfg), "report", "--since", "1d")
    assert "moving: ok, 1 new article" in report.stdout
    assert "source moving moved" in report.stdout
    assert monitor_cmd("--config", str(cfg), "report", "--since", "1000000d").returncode == 0


def test_crawl_without_delivery_still_opens_episodes_and_deliver_sends_them(tmp_path, site):
    site.set("/gone.xml", "nope", status=404)
    cfg = write_config(tmp_path / "monitor.yaml", health={"failing_polls": 1},
                       sources=[{"name": "gone", "kind": "feed", "url": site.url("/gone.xml")}])
    monitor_cmd("--config", str(cfg), "crawl", "--no-deliver")
    status = json.loads(monitor_cmd("--config", str(cfg), "status", "--json").stdout)
    assert [e["subject"] for e in status["health"]] == ["gone"]
    done = monitor_cmd("--config", str(cfg), "deliver")
    assert "health notices: 1 sent" in done.stdout


def test_spike_settings_in_rule_files(tmp_path):
    from monitor.errors import RuleError
    from monitor.matching import load_watches

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "w.yaml").write_text("watches:\n- id: a\n  query: pact\n  spike: {window: 2h, "
                                  "min_count: 3}\n- id: b\n  query: treaty\n  spike: true\n",
                                  "utf-8")
    watches = {w.id: w for w in load_watches(rules).watches}
    assert watches["a"].spike == SpikeSettings(window=7200, min_count=3)
    assert watches["b"].spike == SpikeSettings()
    (rules / "w.yaml").write_text("id: a\nquery: pact\nspike: {window: 2h, baseline: 1h}\n",
                                  "utf-8")
    with pytest.raises(RuleError, match=r"w\.yaml:3:31: 'spike\.baseline': must be longer"):
        load_watches(rules)
    (rules / "w.yaml").write_text("id: a\nquery: pact\nspike: false\n", "utf-8")
    assert load_watches(rules).watches[0].spike is None
