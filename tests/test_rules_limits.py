"""Queries nested too deeply (parentheses, NOT, field scopes, long NEAR chains) are a
file:line:column error with exit status 2, never a RecursionError; a daemon keeps its
last good rules and its log names the rule file."""

from __future__ import annotations

import shutil

import pytest

from monitor.matching import compile_query, parse_query
from monitor.matching.query import MAX_DEPTH, QueryError
from tests.conftest import RULES, monitor_cmd
from tests.matching_fixtures import ENTITIES, VARIANTS, art


def _parens(depth: int) -> str:
    return "(" * depth + "Zorblax" + ")" * depth


WORDS = [f"w{i}" for i in range(MAX_DEPTH + 1)]


@pytest.mark.parametrize("query", [
    _parens(MAX_DEPTH),
    "NOT " * MAX_DEPTH + "Zorblax",   # an even number: Zorblax
    " NEAR/3 ".join(WORDS),
    "title:(" * (MAX_DEPTH // 2) + "Zorblax" + ")" * (MAX_DEPTH // 2),  # two levels each
])
def test_deepest_allowed_query_compiles_and_matches(query):
    compiled = compile_query(query, entities=ENTITIES, variants=VARIANTS)
    text = "Zorblax observers logged it. " * 3 + " ".join(WORDS) + "."
    hit = compiled.match(art(text, "Zorblax seen"))
    assert hit is not None


def test_a_long_near_chain_costs_linear_time():
    """Each NEAR asked its sides twice (eval, then positions): 2^depth. A chain of 50
    repeated terms on an article that has them all took longer than the 120 s timeout;
    it must take well under a second per match now."""
    import time

    compiled = compile_query(" NEAR/5 ".join(["Zorblax"] * 30))
    text = "Zorblax observers logged it. " * 40
    started = time.process_time()
    assert compiled.match(art(text, "Zorblax seen")) is not None
    assert time.process_time() - started < 2.0


@pytest.mark.parametrize("query,column", [
    (_parens(MAX_DEPTH + 1), MAX_DEPTH + 1),
    (_parens(5000), MAX_DEPTH + 1),
    ("NOT " * 300 + "x", 4 * MAX_DEPTH + 1),
    (" NEAR/50 ".join(f"w{i}" for i in range(2000)), None),
    ("title:(" * 300 + "x" + ")" * 300, None),
    ("title:(" * (MAX_DEPTH // 2 + 1) + "x" + ")" * (MAX_DEPTH // 2 + 1), None),
])
def test_too_deep_query_is_a_query_error(query, column):
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert "query nested too deeply" in info.value.problem
    if column is not None:
        assert info.value.column == column


@pytest.mark.parametrize("query", [_parens(200), " NEAR/50 ".join(f"w{i}" for i in range(2000))])
def test_rules_check_names_file_and_line_and_exits_2(tmp_path, query):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "deep.yaml").write_text(f"id: deep\nquery: '{query}'\n")
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"database: {tmp_path / 'm.db'}\nrules: {rules}\n"
                   "channels: [{kind: console}]\n")
    for command in (["rules", "check"], ["crawl", "--no-deliver"]):
        r = monitor_cmd("-c", str(cfg), *command)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        out = r.stdout + r.stderr
        assert "Traceback" not in out and "RecursionError" not in out
        assert f"{rules / 'deep.yaml'}:2:" in out
        assert "query nested too deeply" in out


def test_daemon_log_names_the_rule_file_nested_too_deeply(tmp_path, caplog):
    from monitor.config import MonitorConfig
    from monitor.crawl.context import CrawlContext

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    ctx = CrawlContext(MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db",
                                     rules=rules))
    try:
        before = len(ctx.watches)
        (rules / "deep.yaml").write_text(f"id: deep\nquery: '{_parens(300)}'\n")
        assert ctx.reload_rules() is False
        assert len(ctx.watches) == before
        line = next(r.getMessage() for r in caplog.records
                    if "keeping the last good rules" in r.getMessage())
        assert f"{rules / 'deep.yaml'}:2:" in line and "nested too deeply" in line
    finally:
        ctx.close()
