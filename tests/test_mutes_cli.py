"""Snooze and mute from the command line: monitor watches/stories snooze|mute|unmute,
shown in monitor status until they end; a snooze ends on its own (fixed clock)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.models import Article, Hit
from monitor.store import Store, parse_iso, utcnow
from tests.conftest import RULES

WATCH = "russia-north-korea"


def _article(n: int) -> Article:
    return Article(url=f"https://news.test/{n}", request_url=f"https://news.test/{n}",
                   source="wire", title=f"Story {n}",
                   text=f"Different story number {n} about talks in Pyongyang.")


def _hit(watch: str = WATCH) -> Hit:
    return Hit(watch, "Russia / North Korea", ["Pyongyang"], snippet="[[Pyongyang]]")


@pytest.fixture
def setup(tmp_path):
    db = tmp_path / "m.db"
    store = Store(db)
    saved = store.save_article(_article(1), [_hit()], ["console"])
    store.close()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"database: {db}\nrules: {RULES}\n")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, ["-c", str(cfg), *args])
    return run, db, saved.story_id


def test_a_snoozed_watch_shows_in_status_and_its_alerts_are_held(setup):
    run, db, _ = setup
    before = utcnow()
    result = run("watches", "snooze", WATCH, "4h", "--reason", "too noisy")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"watch {WATCH} snoozed until ")
    status = run("status")
    assert f"watch {WATCH} snoozed until " in status.output
    assert status.output.count("too noisy") == 1
    [mute] = json.loads(run("status", "--json").output)["mutes"]
    assert (mute["kind"], mute["target"], mute["reason"]) == ("watch", WATCH, "too noisy")
    assert abs((parse_iso(mute["until"]) - before).total_seconds() - 4 * 3600) < 5
    # the alert waiting is held back, and so is the next one
    store = Store(db)
    store.save_article(_article(2), [_hit()], ["console"])
    assert store.outbox_status() == {"muted": 2}
    store.close()
    assert run("watches", "unmute", WATCH).output == f"watch {WATCH}: alerts flow again\n"
    assert "snoozed" not in run("status").output
    assert json.loads(run("status", "--json").output)["mutes"] == []


def test_a_muted_story_shows_its_title_and_can_be_unmuted(setup):
    run, _, story = setup
    result = run("stories", "mute", str(story))
    assert result.exit_code == 0, result.output
    assert f"story {story} “Story 1” muted since " in run("status").output
    assert run("stories", "snooze", str(story), "1d").exit_code == 0
    assert run("stories", "unmute", str(story)).output == \
        f"story {story} “Story 1”: alerts flow again\n"
    assert run("stories", "unmute", str(story)).output == \
        f"story {story} “Story 1” was neither snoozed nor muted\n"


@pytest.mark.parametrize("args, message", [
    (["watches", "snooze", "no-such-watch", "4h"], "no watch 'no-such-watch' in "),
    (["watches", "mute", "nope"], "no watch 'nope' in "),
    (["stories", "snooze", "999", "1d"], "no story '999' in "),
    (["stories", "unmute", "five"], "no story 'five' in "),
    (["watches", "snooze", WATCH, "soon"], "'soon': must be a duration"),
])
def test_unknown_targets_and_bad_durations_are_one_line_and_status_2(setup, args, message):
    run, _, _ = setup
    result = run(*args)
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"monitor: {message}")


def test_a_snooze_ends_on_its_own(tmp_path):
    t0 = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    store = Store(tmp_path / "m.db")
    store.mute("watch", WATCH, t0 + timedelta(hours=4), by="cli", now=t0)
    assert [m["target"] for m in store.active_mutes(now=t0 + timedelta(hours=3))] == [WATCH]
    during = store.save_article(_article(1), [_hit()], ["console"],
                                now=t0 + timedelta(hours=3, minutes=59))
    assert during.alerts_queued == 0
    assert store.active_mutes(now=t0 + timedelta(hours=4)) == []
    after = store.save_article(_article(2), [_hit()], ["console"],
                               now=t0 + timedelta(hours=4, seconds=1))
    assert after.alerts_queued == 1
    assert store.outbox_status() == {"muted": 1, "pending": 1}
    store.close()


def test_the_commands_have_help():
    for group in ("watches", "stories"):
        for command in ("snooze", "mute", "unmute"):
            result = CliRunner().invoke(cli, [group, command, "--help"])
            assert result.exit_code == 0 and "Example:" in result.output


@pytest.mark.parametrize("group, target", [("watches", WATCH), ("stories", None)])
def test_the_unmute_hint_of_a_mute_is_a_command_that_works(setup, group, target):
    run, _, story_id = setup
    target = target or str(story_id)
    result = run(group, "mute", target)
    assert result.exit_code == 0, result.output
    hint = result.output.strip().rsplit("until: monitor ", 1)[1]
    assert hint == f"{group} unmute {target}"
    undone = run(*hint.split())
    assert undone.exit_code == 0 and "alerts flow again" in undone.output


def test_a_negative_duration_is_one_line_and_status_2(setup):
    run, _, _ = setup
    result = run("watches", "snooze", WATCH, "-5m")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "'-5m'" in result.output and "duration" in result.output
