"""A broken rule file shows in ``monitor status`` (and its JSON) until it is fixed, and
``monitor rules check`` reports unknown channels together with every other problem."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import RULES, write_config


def setup(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("entities.yaml", "variants.yaml"):
        shutil.copy(RULES / name, rules / name)
    (rules / "desk.yaml").write_text("id: desk\nname: Desk\nany: [sanctions]\n"
                                     "channels: [desk-mial]\n")
    (rules / "broken.yaml").write_text("id: broken\nname: Broken\nquery: '@nokorea'\n"
                                       "channels: [slakc]\n")
    cfg = write_config(tmp_path / "monitor.yaml", rules=rules,
                       sources=[{"name": "a", "kind": "feed",
                                 "url": "http://127.0.0.1:9/feed.xml"}])
    return rules, cfg


def test_rules_check_reports_unknown_channels_beside_the_other_problems(tmp_path):
    rules, cfg = setup(tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(cfg), "rules", "check"])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert lines == [
        f"{rules / 'broken.yaml'}:1: channel 'slakc' is not in {cfg} (known: console)",
        f"{rules / 'broken.yaml'}:3:9: unknown entity '@nokorea' (not in entities.yaml)",
        f"{rules / 'desk.yaml'}:1: channel 'desk-mial' is not in {cfg} (known: console)",
    ], result.output


def test_status_shows_rule_files_in_error_until_they_are_fixed(tmp_path):
    rules, cfg = setup(tmp_path)
    runner = CliRunner()
    text = runner.invoke(cli, ["-c", str(cfg), "status"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith(f"rules: 3 problems in {rules} ")
    assert f"  {rules / 'broken.yaml'}:3:9: unknown entity '@nokorea'" in text.output
    assert "channel 'desk-mial' is not in" in text.output
    data = json.loads(runner.invoke(cli, ["-c", str(cfg), "status", "--json"]).output)
    assert data["rules"]["ok"] is False
    assert [(p["file"], p["line"]) for p in data["rules"]["problems"]] == [
        (str(rules / "broken.yaml"), 1), (str(rules / "broken.yaml"), 3),
        (str(rules / "desk.yaml"), 1)]
    assert data["sources"][0]["name"] == "a" and "outbox" in data and "counts" in data

    (rules / "broken.yaml").unlink()
    (rules / "desk.yaml").write_text("id: desk\nname: Desk\nany: [sanctions]\n")
    fixed = runner.invoke(cli, ["-c", str(cfg), "status"])
    assert fixed.output.startswith(f"rules: 1 watch in {rules}, OK\n"), fixed.output
    assert json.loads(runner.invoke(cli, ["-c", str(cfg), "status", "--json"]).output
                      )["rules"] == {"folder": str(rules), "ok": True, "watches": 1,
                                     "problems": []}
