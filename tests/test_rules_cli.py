"""``monitor rules``: check, test and explain, through click's CliRunner."""

from __future__ import annotations

import gzip
import json
import shutil
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor import rules_cli
from monitor.config import parse_duration
from monitor.models import Article, Rejection
from monitor.rules_cli import PAGE_SUFFIXES, page_files, rules
from monitor.store import Store, iso, parse_iso
from tests.conftest import RULES
from tests.matching_fixtures import REPO, SEED_EXCERPT, SEED_PAGE, article_from_lines


def run(*args: str):
    return CliRunner().invoke(rules, list(args), catch_exceptions=False)


def run_monitor(*args: str):
    """Run through the top-level ``monitor`` command (so ``-c`` applies)."""
    from monitor.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Run every test from an empty folder, so the repository's monitor.yaml is not read."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "monitor.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.fixture
def articles(tmp_path):
    """A folder with the seed story and a football report as .txt articles."""
    d = tmp_path / "articles"
    (d / "sport").mkdir(parents=True)
    (d / "seed.txt").write_text(SEED_EXCERPT, encoding="utf-8")
    (d / "sport" / "match.txt").write_text(
        "Arsenal beat Chelsea\nA derby\nThe football match ended 2-1 after a late goal.\n",
        encoding="utf-8")
    (d / "notes.md").write_text("not an article")
    return d


# --------------------------------------------------------------------------- help

def test_every_command_has_help_with_an_example():
    assert rules.help and "Example" in rules.help
    assert set(rules.commands) == {"check", "test", "explain"}
    for name, command in rules.commands.items():
        assert command.help and "Example" in command.help, name
        assert command.get_short_help_str(), name
        result = run(name, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"


def test_help_examples_name_files_that_exist():
    for command in [rules, *rules.commands.values()]:
        for word in command.help.split():
            if word.startswith("seeds/") and "." in word:
                assert (REPO / word).is_file(), f"{command.name}: {word}"


# --------------------------------------------------------------------------- check

def test_check_ok():
    result = run("--rules", str(RULES), "check")
    assert result.exit_code == 0
    assert result.output.strip() == "1 watch, 4 entities, 10 variant groups OK"


def test_check_reports_every_problem_as_file_line_col(tmp_path):
    shutil.copytree(RULES, tmp_path / "r")
    (tmp_path / "r" / "bad.yaml").write_text("id: bad\nquery: Putin AND\n")
    (tmp_path / "r" / "worse.yaml").write_text("id: worse\nmode: sometimes\nany: [x1]\n")
    result = run("--rules", str(tmp_path / "r"), "check")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert f"{tmp_path / 'r' / 'bad.yaml'}:2:14: AND needs a term on its right" in lines
    assert any(line.startswith(f"{tmp_path / 'r' / 'worse.yaml'}:2:7: mode must be")
               for line in lines)
    assert "2 problem(s)" in result.output


def test_check_missing_folder(tmp_path):
    result = run("--rules", str(tmp_path / "none"), "check")
    assert result.exit_code == 2 and "rules folder not found" in result.output


# --------------------------------------------------------------------------- -c config

def test_rules_folder_comes_from_the_config(tmp_path):
    shutil.copytree(RULES, tmp_path / "etc" / "watches")
    cfg = write_config(tmp_path / "etc", "rules: watches\n")
    result = run_monitor("-c", str(cfg), "rules", "check")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 watch, 4 entities, 10 variant groups OK"


def test_explicit_rules_option_beats_the_config(tmp_path):
    cfg = write_config(tmp_path / "etc", "rules: nowhere\n")
    result = run_monitor("-c", str(cfg), "rules", "--rules", str(RULES), "check")
    assert result.exit_code == 0, result.output
    result = run_monitor("-c", str(cfg), "rules", "check")
    assert result.exit_code == 2 and "nowhere" in result.output


def test_without_a_config_the_rules_are_in_the_current_folder(_elsewhere):
    shutil.copytree(RULES, _elsewhere / "rules")
    result = run_monitor("rules", "check")
    assert result.exit_code == 0, result.output
    assert "1 watch" in result.output


def test_database_comes_from_the_config(tmp_path):
    now = datetime.now(timezone.utc)
    seed = article_from_lines(SEED_EXCERPT)
    cfg = write_config(tmp_path / "etc", f"rules: {RULES}\ndatabase: data/m.db\n")
    (tmp_path / "etc" / "data").mkdir()
    make_db(tmp_path / "etc" / "data" / "m.db", [
        {"url": "https://x.example/new", "title": seed.title, "text": seed.text,
         "source": "cbc-world", "published": None, "language": "en",
         "fetched_at": (now - timedelta(hours=3)).isoformat(timespec="seconds")}])
    result = run_monitor("-c", str(cfg), "rules", "test", "--query", '"mutual defence"',
                         "--since", "2d")
    assert result.exit_code == 0, result.output
    assert "https://x.example/new: query" in result.output
    # an explicit --db still wins
    result = run_monitor("-c", str(cfg), "rules", "test", "--query", '"mutual defence"',
                         "--since", "2d", "--db", str(tmp_path / "missing.db"))
    assert result.exit_code == 2 and "missing.db" in result.output


def test_check_reports_unknown_channels_and_sources_from_the_config(tmp_path):
    shutil.copytree(RULES, tmp_path / "etc" / "rules")
    (tmp_path / "etc" / "rules" / "desk.yaml").write_text(
        "id: desk\nquery: Putin\nchannels: [desk-mial]\nsources: [cbc-world]\n")
    (tmp_path / "etc" / "rules" / "bad.yaml").write_text("id: bad\nquery: Putin AND\n")
    cfg = write_config(tmp_path / "etc", textwrap.dedent("""\
        sources:
          - {name: cbc-world, kind: feed, url: "https://cbc.example/rss"}
        channels:
          - {kind: console, name: console}
          - {kind: webhook, name: desk-mail, url: "https://hooks.example/x"}
        """))
    result = run_monitor("-c", str(cfg), "rules", "check")
    assert result.exit_code == 2, result.output
    desk = tmp_path / "etc" / "rules" / "desk.yaml"
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'etc' / 'rules' / 'bad.yaml'}:2:14: AND needs a term on its right",
        f"{desk}:1: channel 'desk-mial' is not in {cfg} (known: console, desk-mail)",
    ]
    assert "2 problem(s)" in result.stderr
    # with --rules and no config, the targets cannot be checked: only the bad query
    result = run("--rules", str(tmp_path / "etc" / "rules"), "check")
    assert result.exit_code == 2 and "desk-mial" not in result.output


@pytest.mark.parametrize("text, message", [
    (None, "config file not found"),
    ("sources: [1, 2\n", "not valid YAML"),
    ("rulez: rules\n", "rulez: unknown setting"),
])
def test_config_errors_are_one_line_exit_2(tmp_path, text, message):
    cfg = tmp_path / "monitor.yaml"
    if text is not None:
        cfg.write_text(text, encoding="utf-8")
    for args in (["check"], ["test", "--query", "x1", str(SEED_PAGE)]):
        result = run_monitor("-c", str(cfg), "rules", *args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith(f"monitor: {cfg}") and message in line


# --------------------------------------------------------------------------- test

def test_test_all_watches_over_a_folder(articles):
    result = run("--rules", str(RULES), "test", str(articles))
    assert result.exit_code == 0, result.output
    assert f"{articles / 'seed.txt'}: russia-north-korea" in result.output
    # the snippet starts at the first match: "Russian" is a form of @russia
    assert "[[Russian]] President Vladimir Putin" in result.output
    assert "match.txt" not in result.output.split("\n1 of")[0]
    assert result.output.strip().endswith("1 of 2 article(s) hit, 1 hit(s)")


@pytest.mark.parametrize("query, code", [
    ('"mutual defense" NEAR/5 pledge', 0),
    ("@kim-jong-un", 0),
    ("title:Pyongyang", 1),               # nothing hit: exit status 1, like grep
])
def test_test_query(articles, query, code):
    result = run("--rules", str(RULES), "test", "--query", query,
                 str(articles / "seed.txt"))
    assert result.exit_code == code, result.output


def test_test_json(articles):
    result = run("--rules", str(RULES), "test", "--watch", "russia-north-korea", "--json",
                 str(articles))
    data = [json.loads(line) for line in result.output.splitlines()]  # JSON lines
    assert [Path(d["article"]).name for d in data] == ["seed.txt", "match.txt"]
    [hit] = data[0]["hits"]
    assert hit["watch_id"] == "russia-north-korea"
    text = rules_cli.read_text_article(articles / "seed.txt").text  # what was matched
    for span in hit["spans"]:
        if span["field"] == "text":
            assert text[span["start"]:span["end"]] == span["matched"]
    assert data[1]["hits"] == []


@pytest.mark.parametrize("args, message", [
    (["--watch", "nope"], "no watch 'nope'"),
    (["--watch", "russia-north-korea", "--query", "x1"], "not both"),
    (["--query", "(Putin"], "<query>:1:1: unclosed '('"),
    (["--query", "NOT Putin"], "can never be required to match"),
    (["--since", "soon"], "not a positive duration"),
    ([], "give article PATHS"),
])
def test_test_errors_exit_2(articles, args, message):
    extra = [] if args in ([], ["--since", "soon"]) else [str(articles)]
    result = run("--rules", str(RULES), "test", *args, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_test_reads_html_and_gz_through_extraction(tmp_path, monkeypatch):
    """HTML goes through monitor.extract.extract(Page); gzip is undone first."""
    seen = []

    def fake_extract(page, options):
        seen.append((page.source, page.path, page.body[:6]))
        if b"consent" in page.body:
            return Rejection(page.url, page.source, "consent-wall", "cookie wall")
        return article_from_lines(SEED_EXCERPT, url=page.url)

    monkeypatch.setattr(rules_cli, "extract_page", fake_extract)
    (tmp_path / "a.html").write_bytes(b"<html>seed</html>")
    (tmp_path / "b.html.gz").write_bytes(gzip.compress(b"<html>seed</html>"))
    (tmp_path / "c.html").write_bytes(b"<html>consent</html>")
    result = run("--rules", str(RULES), "test", "--query", "Pyongyang", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [s[0] for s in seen] == ["replay"] * 3
    assert all(body == b"<html>" for _, _, body in seen)
    assert "2 of 2 article(s) hit" in result.output
    assert "c.html: skipped (consent-wall: cookie wall)" in result.output


def test_test_on_the_real_seed_page():
    result = run("--rules", str(RULES), "test", "--watch", "russia-north-korea",
                 str(SEED_PAGE))
    assert result.exit_code == 0, result.output
    assert "russia-north-korea" in result.output


def test_test_json_has_the_sidecar_source(tmp_path):
    """A saved page's source is the one its sidecar records, as in replay."""
    result = run("--rules", str(RULES), "test", "--json", str(SEED_PAGE))
    [line] = result.output.splitlines()
    data = json.loads(line)
    assert data["source"] == "cbc-world"
    assert data["url"].startswith("https://www.cbc.ca/news/world/")
    assert [h["watch_id"] for h in data["hits"]] == ["russia-north-korea"]


def test_test_matches_with_the_pages_source(tmp_path, monkeypatch):
    """The article carries the Page's source, so a watch's sources: filter works."""
    monkeypatch.setattr(rules_cli, "extract_page", lambda page, options: article_from_lines(
        SEED_EXCERPT, url=page.url, source="something-else"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "w.yaml").write_text("id: w\nquery: Pyongyang\nsources: [desk]\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.html").write_bytes(b"<html></html>")
    (tmp_path / "p" / "a.json").write_text('{"url": "https://desk.example/a", '
                                           '"source": "desk"}')
    (tmp_path / "p" / "b.html").write_bytes(b"<html></html>")  # no sidecar: "replay"
    result = run("--rules", str(tmp_path / "r"), "test", "--json", str(tmp_path / "p"))
    data = [json.loads(line) for line in result.output.splitlines()]
    assert [(d["source"], len(d["hits"])) for d in data] == [("desk", 1), ("replay", 0)]


@pytest.mark.parametrize("extraction, reason", [
    ("min_text_chars: 100000", "too-short"),
    ("max_page_bytes: 1000", "too-large"),
])
def test_test_extracts_with_the_configs_limits(tmp_path, extraction, reason):
    """Rule testing extracts exactly like the live pipeline, config limits included."""
    cfg = write_config(tmp_path / "etc", f"rules: {RULES}\nextraction:\n  {extraction}\n")
    result = run_monitor("-c", str(cfg), "rules", "test", "--watch", "russia-north-korea",
                         str(SEED_PAGE))
    assert result.exit_code == 1, result.output
    assert f"{SEED_PAGE}: skipped ({reason}:" in result.output
    assert "0 of 0 article(s) hit" in result.output
    result = run_monitor("-c", str(cfg), "rules", "explain", "--watch", "russia-north-korea",
                         str(SEED_PAGE))
    assert result.exit_code == 2 and f"skipped ({reason}:" in result.output


# --------------------------------------------------------------------------- --since

def make_db(path: Path, rows: list[dict]) -> None:
    """A monitor database (through Store) holding these articles; each row gives the
    Article fields plus ``fetched_at``."""
    store = Store(path)
    for row in rows:
        fields = {k: v for k, v in row.items() if k != "fetched_at"}
        published = parse_iso(fields.pop("published", None))
        store.save_article(Article(request_url=fields["url"], published=published,
                                   **fields), [], [])
        store.db.execute("update articles set fetched_at = ? where url = ?",
                         [row["fetched_at"], row["url"]])
    store.close()


def test_since_reads_recent_stored_articles(tmp_path):
    now = datetime.now(timezone.utc)
    seed = article_from_lines(SEED_EXCERPT)
    make_db(tmp_path / "m.db", [
        {"url": "https://x.example/new", "title": seed.title, "text": seed.text,
         "source": "cbc-world", "published": None, "language": "en",
         "fetched_at": (now - timedelta(hours=3)).isoformat(timespec="seconds")},
        {"url": "https://x.example/old", "title": seed.title, "text": seed.text,
         "source": "cbc-world", "published": "2024-06-19T08:12:41+00:00", "language": "en",
         "fetched_at": (now - timedelta(days=10)).isoformat(timespec="seconds")},
    ])
    result = run("--rules", str(RULES), "test", "--query", '"mutual defence"',
                 "--since", "2d", "--db", str(tmp_path / "m.db"))
    assert result.exit_code == 0, result.output
    assert "https://x.example/new: query" in result.output
    assert "x.example/old" not in result.output
    assert "1 of 1 article(s) hit" in result.output


def test_since_on_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "m.db").write_text("not a database at all " * 100)
    result = run("--rules", str(RULES), "test", "--query", "x1", "--since", "1d",
                 "--db", str(tmp_path / "m.db"))
    assert result.exit_code == 2, result.output
    assert f"database {tmp_path / 'm.db'}: cannot open" in result.output


def test_since_without_database(tmp_path):
    result = run("--rules", str(RULES), "test", "--query", "x1", "--since", "1d",
                 "--db", str(tmp_path / "missing.db"))
    assert result.exit_code == 2 and "not found" in result.output


def test_since_takes_weeks(tmp_path):
    """--since uses monitor.yaml's duration grammar, which has weeks too."""
    assert parse_duration("1w") == 604800 and parse_duration("1.5h") == 5400
    now = datetime.now(timezone.utc)
    seed = article_from_lines(SEED_EXCERPT)
    make_db(tmp_path / "m.db", [
        {"url": f"https://x.example/{days}", "title": seed.title, "text": seed.text,
         "source": "cbc-world", "fetched_at": iso(now - timedelta(days=days))}
        for days in (3, 10)])
    result = run("--rules", str(RULES), "test", "--query", "Pyongyang", "--since", "1w",
                 "--db", str(tmp_path / "m.db"))
    assert result.exit_code == 0, result.output
    assert "x.example/3:" in result.output and "x.example/10" not in result.output


@pytest.mark.parametrize("text", ["", "soon", "2x", "0m", "1d soon", "-1h"])
def test_since_rejects_what_is_not_a_duration(text):
    result = run("--rules", str(RULES), "test", "--query", "x1", "--since", text)
    assert result.exit_code == 2
    assert f"'{text}' is not a positive duration like 30m, 6h, 2d or 1w" in result.output


# --------------------------------------------------------------------------- page_files

def test_page_files(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ("b/deep/z.html", "b/a.HTML", "b/c.htm.gz", "b/d.txt", "b/e.json",
                 "one.txt"):
        (tmp_path / name).write_text("x")
    assert page_files([tmp_path / "one.txt", tmp_path / "b"]) == [
        tmp_path / "one.txt", tmp_path / "b" / "a.HTML", tmp_path / "b" / "c.htm.gz",
        tmp_path / "b" / "deep" / "z.html"]
    assert tmp_path / "b" / "d.txt" in page_files([tmp_path / "b"],
                                                   (*PAGE_SUFFIXES, ".txt"))
    with pytest.raises(click.BadParameter, match="nope: no such file or folder"):
        page_files([tmp_path / "nope"])


# --------------------------------------------------------------------------- lower-case operators

def test_test_query_warns_about_lower_case_operators(articles):
    result = run("--rules", str(RULES), "test", "--query", "Pyongyang or Moscow",
                 str(articles / "seed.txt"))
    assert result.exit_code == 1  # a warning, not an error: the query ran (and missed)
    assert result.stderr == ("<query>:1:11: warning: 'or' is searched for as a word; "
                             "operators are upper case: did you mean OR?\n")
    assert "0 of 1 article(s) hit" in result.stdout
    for fine in ("Pyongyang OR Moscow", 'Pyongyang "or" Moscow', "or Pyongyang"):
        result = run("--rules", str(RULES), "test", "--query", fine,
                     str(articles / "seed.txt"))
        assert "warning" not in result.stderr, fine


def test_check_warns_about_lower_case_operators(tmp_path):
    shutil.copytree(RULES, tmp_path / "r")
    path = tmp_path / "r" / "w.yaml"
    path.write_text("# a watch\nid: w\nquery: Putin and Kim near/5 summit\n")
    result = run("--rules", str(tmp_path / "r"), "check")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{path}:2: warning: watch 'w': '{word}' is searched for as a word; operators are "
        f"upper case: did you mean {word.upper()}?" for word in ("and", "near/5")]
    assert result.stdout.strip() == "2 watches, 4 entities, 10 variant groups OK"
    path.write_text("id: w\nquery: Putin \"and\" Kim\n")  # quoted: meant as a word
    result = run("--rules", str(tmp_path / "r"), "check")
    assert result.exit_code == 0 and result.stderr == ""


# --------------------------------------------------------------------------- explain

def test_explain(articles):
    result = run("--rules", str(RULES), "explain", "--query",
                 '"mutual defence" NEAR/2 Ukraine OR title:Pyongyang',
                 str(articles / "seed.txt"))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "watch query: no match"
    assert any("[no]  NEAR/2 -- both present but never within 2 words" in x for x in lines)
    assert any("[no]  title:Pyongyang -- not found" in x for x in lines)


def test_explain_watch_json(articles):
    result = run("--rules", str(RULES), "explain", "--watch", "russia-north-korea",
                 "--json", str(articles / "seed.txt"))
    data = json.loads(result.output)
    assert data["matched"] is True and data["query"]["label"] == "AND"
    assert "[[" in data["snippet"]


def test_explain_needs_a_watch_or_query(articles):
    result = run("--rules", str(RULES), "explain", str(articles / "seed.txt"))
    assert result.exit_code == 2


def test_test_skips_unreadable_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(rules_cli, "extract_page",
                        lambda page, options: article_from_lines(SEED_EXCERPT,
                                                                 url=page.url))
    (tmp_path / "broken.html.gz").write_bytes(b"not gzip at all")
    (tmp_path / "ok.html").write_bytes(b"<html></html>")
    result = run("--rules", str(RULES), "test", "--query", "Pyongyang", str(tmp_path))
    assert result.exit_code == 0
    assert "broken.html.gz: skipped" in result.output
    assert "1 of 1 article(s) hit" in result.output


def test_txt_standfirst_is_searched_like_an_html_standfirst(tmp_path):
    page = tmp_path / "story.txt"
    page.write_text("Headline\nPutin makes his first visit in 24 years\nBody text here.\n")
    article = rules_cli.read_text_article(page)
    assert "first visit in 24 years" in article.text
