"""``monitor replay``: saved pages through the same pipeline as live pages."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import CORPUS, REPO, RULES, SEEDS


def _shipped_config() -> Path:
    """The repository's monitor.yaml with the shipped rules (:data:`RULES`) and a
    throw-away database: watches a user adds to rules/ do not change these results."""
    folder = Path(tempfile.mkdtemp(prefix="monitor-test-replay-"))
    atexit.register(shutil.rmtree, folder, True)
    text = re.sub(r"(?m)^rules:.*$", f"rules: {RULES}",
                  (REPO / "monitor.yaml").read_text(encoding="utf-8"))
    text = re.sub(r"(?m)^database:.*$", f"database: {folder / 'monitor.db'}", text)
    config = folder / "monitor.yaml"
    config.write_text(text, encoding="utf-8")
    return config


CONFIG = _shipped_config()


def _replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["-c", str(CONFIG), "replay", *args, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_replay_seeds_hits_the_seed_story_and_nothing_else(monkeypatch):
    monkeypatch.chdir(REPO)
    rows = {row["path"]: row for row in _replay()}   # default PATH is seeds/
    assert len(rows) == len(list(SEEDS.glob("*.html")))
    for path, row in rows.items():
        expect = json.loads((REPO / path).with_suffix(".json").read_text())["expect"]
        assert row["status"] == "stored", row
        assert row["title"] == expect["title"]
        assert row["published"].startswith(expect["published"])
        assert {h["watch"] for h in row["hits"]} == set(expect["hits"]), path
        for hit in row["hits"]:
            assert set(expect["hits"][hit["watch"]]) <= {t.lower() for t in hit["terms"]} | \
                set(hit["terms"])


def test_replay_text_flag_adds_the_body():
    [row] = _replay(str(SEEDS / "cbc-news_2024-06-19.html"), "--text")
    assert "Kim Il Sung Square" in row["text"]
    assert row["url"].startswith("https://www.cbc.ca/news/world/")


def test_replay_reports_rejections_with_reasons(tmp_path):
    (tmp_path / "tiny.html").write_text("<html><body><p>Subscribe now.</p></body></html>")
    (tmp_path / "data.html").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    rows = {r["path"].rsplit("/", 1)[1]: r for r in _replay(str(tmp_path))}
    assert rows["tiny.html"]["status"] == "rejected"
    assert rows["tiny.html"]["reason"] in {"too-short", "no-text"}
    assert rows["data.html"]["status"] == "rejected"
    assert rows["data.html"]["reason"] == "not-html"


def test_replay_summary_line(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["-c", str(CONFIG), "replay", "seeds"])
    assert result.exit_code == 0
    assert result.output.strip().splitlines()[-1].startswith(
        f"{len(list(SEEDS.glob('*.html')))} pages: ")
    assert "russia-north-korea" in result.output


def test_replay_missing_path_is_a_usage_error():
    result = CliRunner().invoke(cli, ["-c", str(CONFIG), "replay", "no/such/dir"])
    assert result.exit_code == 2
    assert "no/such/dir" in result.output


@pytest.mark.skipif(not (CORPUS / "pages").is_dir(),
                    reason="../shared/corpus/pages not present (real news pages)")
def test_replay_real_pages_sample_without_crash():
    pages = sorted((CORPUS / "pages" / "html").rglob("*.html.gz"))[::25]
    rows = _replay(*map(str, pages))
    assert len(rows) == len(pages)
    assert sum(r["status"] == "stored" for r in rows) >= len(rows) * 0.8


def test_an_unreadable_page_is_reported_and_the_others_go_on(tmp_path):
    import shutil

    shutil.copy(SEEDS / "cbc-news_2024-06-19.html", tmp_path / "good.html")
    (tmp_path / "broken.html.gz").write_bytes(b"this is not gzip")
    rows = {r["path"].rsplit("/", 1)[1]: r for r in _replay(str(tmp_path))}
    assert rows["broken.html.gz"]["status"] == "unreadable"
    assert "broken.html.gz" in rows["broken.html.gz"]["detail"]
    assert rows["good.html"]["status"] == "stored"


def test_text_without_json_is_a_usage_error():
    result = CliRunner().invoke(cli, ["-c", str(CONFIG), "replay", str(SEEDS), "--text"])
    assert result.exit_code == 2 and "--text" in result.output
