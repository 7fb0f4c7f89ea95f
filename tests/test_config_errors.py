"""Bad input: one line naming the file, the field and the problem; exit status 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config, parse_duration
from tests.conftest import RULES

GOOD_SOURCE = "sources:\n  - {name: a, kind: feed, url: 'http://127.0.0.1:9/feed.xml'}\n"

CASES = [
    # (file content or None for missing, expected fragment of the one-line error)
    (None, "config file not found"),
    ("sources: [\n", "not valid YAML"),
    ("- just\n- a list\n", "the top level must be a mapping"),
    ("sourcez: []\n", "sourcez: unknown setting"),
    ("sources:\n  - {name: a, kind: atom, url: 'http://x/'}\n", "sources[0].kind"),
    ("sources:\n  - {name: a, kind: feed, url: 'ftp://x/'}\n", "sources[0].url: must be an http(s) URL"),
    ("sources:\n  - {name: a, kind: feed, url: 'http://x/', interval: soon}\n",
     "sources[0].interval: must be a duration"),
    ("sources:\n  - {name: a, kind: feed, url: 'http://x/'}\n  - {name: a, kind: feed, url: 'http://y/'}\n",
     "sources[1].name: 'a' is used twice"),
    ("channels:\n  - {kind: email, host: h, recipients: [x@y]}\n", "channels[0].sender: Field required"),
    ("channels:\n  - {kind: slack}\n",
     "channels[0]: give webhook_url_env, or bot_token_env with channel"),
    ("channels:\n  - {kind: slack, bot_token_env: SLACK_BOT}\n",
     "channels[0]: bot_token_env needs channel"),
]


@pytest.mark.parametrize("content,expected", CASES)
def test_bad_config_is_one_line_with_status_2(tmp_path, content, expected):
    cfg = tmp_path / "monitor.yaml"
    if content is not None:
        cfg.write_text(content)
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"monitor: {cfg}")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_missing_secret_names_the_variable_not_the_value(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_WEBHOOK", raising=False)
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {RULES}\nchannels:\n"
                   "  - {kind: slack, name: s, webhook_url_env: NOT_SET_WEBHOOK}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"monitor: {cfg}: channels[0].webhook_url_env: environment variable "
        "NOT_SET_WEBHOOK is not set")


def test_unknown_source_name_lists_the_known_ones(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {RULES}\ndatabase: {tmp_path / 'm.db'}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl", "nope"])
    assert result.exit_code == 2
    assert "no source named 'nope' (known: a;" in result.output


def test_bad_rule_file_stops_crawl_with_status_2(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("id: broken\nname: Broken\nquery: '(sanctions'\n")
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {rules}\ndatabase: {tmp_path / 'm.db'}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "broken.yaml" in line


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    cfg = tmp_path / "sub" / "monitor.yaml"
    cfg.parent.mkdir()
    cfg.write_text("database: data/m.db\nrules: myrules\n")
    config = load_config(cfg)
    assert config.database == cfg.parent.resolve() / "data" / "m.db"
    assert config.rules == cfg.parent.resolve() / "myrules"


@pytest.mark.parametrize("value,seconds", [(90, 90.0), ("30s", 30.0), ("15m", 900.0),
                                           ("1h", 3600.0), ("2d", 172800.0), ("1.5", 1.5)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["0", "-5", "soon", "5 minutes", True])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and len(command.help) > 30, f"{name} has no help text"
        assert "Example" in (command.help or ""), f"{name} help shows no example"


def test_channel_settings_the_channel_rejects_are_config_errors(tmp_path, monkeypatch):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {RULES}\ndatabase: {tmp_path / 'm.db'}\nchannels:\n"
                   "  - {kind: email, name: m, host: smtp.test.invalid, sender: a@b.test,\n"
                   "     recipients: [c@d.test], username: someone}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"monitor: {cfg}: channels[0]: ")
    assert len(result.output.strip().splitlines()) == 1


def test_a_misspelt_key_is_named_before_the_missing_one(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("sources:\n  - {name: a, kind: feed, urll: 'http://x/'}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl"])
    assert result.exit_code == 2
    assert f"{cfg}: sources[0].urll: unknown setting" in result.output


@pytest.mark.parametrize("make", [
    lambda p: p.mkdir(),                                   # a folder, not a file
    lambda p: p.write_bytes(b"this is not an SQLite database" * 100),
])
def test_a_bad_database_file_is_one_line_with_status_2(tmp_path, make):
    db = tmp_path / "m.db"
    make(db)
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {RULES}\ndatabase: {db}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "status"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert f"database {db}: cannot open" in result.output


def test_a_watch_naming_an_unknown_channel_stops_the_crawl(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "desk.yaml").write_text(
        "id: desk\nname: Desk\nany: [sanctions]\nchannels: [desk-mial]\n")
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(GOOD_SOURCE + f"rules: {rules}\ndatabase: {tmp_path / 'm.db'}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "desk.yaml" in line and "channel 'desk-mial' is not in" in line


def test_every_validation_problem_is_one_line_with_its_field_path(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("sources:\n  - {name: a, kind: atom, url: 'ftp://x/'}\n"
                   "channels:\n  - {kind: email, host: h, recipients: [x@y]}\n"
                   "  - {kind: slack, webhook_url_env: W, timeout: soon}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "crawl"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"monitor: {cfg}: sources[0].kind: Input should be 'feed'")
    assert lines[1:] == [
        f"monitor: {cfg}: sources[0].url: must be an http(s) URL, got 'ftp://x/'",
        f"monitor: {cfg}: channels[0].sender: Field required",
        f"monitor: {cfg}: channels[1].timeout: must be a duration such as 90, "
        f"\"30s\", \"15m\" or \"1h\"",
    ]
    assert "more problems" not in result.output


@pytest.mark.parametrize("kind,extra", [
    ("slack", "webhook_url_env: W"),
    ("webhook", "url: 'http://127.0.0.1:9/'"),
    ("email", "host: h, sender: a@b, recipients: [x@y]"),
])
def test_channel_timeouts_take_units(tmp_path, kind, extra):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"channels:\n  - {{kind: {kind}, {extra}, timeout: 8s}}\n"
                   "crawl: {download_delay: 500ms}\n")
    config = load_config(cfg)
    assert config.channels[0].timeout == 8.0
    assert config.crawl.download_delay == 0.5
