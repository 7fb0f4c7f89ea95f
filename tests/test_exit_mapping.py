"""One place turns errors into exit statuses (monitor/cli_errors.py): every command
prints a mapped error as one ``monitor: ...`` line and exits 2 for usage and config
errors, 1 for the others; no module outside the command line exits the process."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.cli_errors import ErrorMappingGroup
from monitor.errors import ArgumentError, ConfigError, DeliveryError, MonitorError, RuleError
from tests.conftest import REPO, write_config

#: Modules that may end the process with a status: the command line, whose one
#: mapping of errors is monitor/cli_errors.py (cli.py and rules_cli.py exit with the
#: outcome of a command: `monitor crawl` 1 when alerts were given up, `rules test` 1
#: without a hit).
CLI_MODULES = {"monitor/cli.py", "monitor/cli_errors.py", "monitor/rules_cli.py"}
#: os._exit, beyond the command line: an extraction worker whose parent died.
HARD_EXIT = {"monitor/workers.py"}


def _exits(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every way out of the process in a module's syntax tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("exit", "quit"):
                found.append((node.lineno, f"{func.id}()"))
            elif isinstance(func, ast.Attribute) and func.attr in ("exit", "_exit"):
                owner = func.value
                name = (owner.id if isinstance(owner, ast.Name) else
                        owner.attr if isinstance(owner, ast.Attribute) else
                        getattr(owner.func, "attr", getattr(owner.func, "id", ""))
                        if isinstance(owner, ast.Call) else "")
                if name in ("sys", "os") or "ctx" in name or "context" in name:
                    found.append((node.lineno, f"{name}.{func.attr}()"))
        elif isinstance(node, ast.Name) and node.id in ("SystemExit", "Exit"):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in ("SystemExit", "Exit"):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "exit_code" for t in node.targets):
            found.append((node.lineno, "exit_code ="))
    return found


def _product_modules() -> list[Path]:
    return sorted(p for folder in ("monitor", "spiders") for p in (REPO / folder).rglob("*.py"))


def test_only_the_command_line_exits():
    stray = []
    for path in _product_modules():
        rel = path.relative_to(REPO).as_posix()
        for line, what in _exits(ast.parse(path.read_text(encoding="utf-8"))):
            if rel in CLI_MODULES or (what == "os._exit()" and rel in HARD_EXIT):
                continue
            stray.append(f"{rel}:{line}: {what}")
    assert not stray, ("raise a typed error (monitor.errors) and let monitor/cli_errors.py "
                       "map it to an exit status:\n" + "\n".join(stray))


def test_the_exit_finder_finds_each_way_out():
    source = ("import os, sys, click\n"
              "def f(ctx):\n    ctx.exit(2)\n"
              "def g():\n    click.get_current_context().exit(1)\n"
              "def h():\n    sys.exit(1)\n"
              "def i():\n    raise SystemExit(3)\n"
              "def j():\n    os._exit(1)\n"
              "class E(click.ClickException):\n    exit_code = 2\n")
    assert sorted(line for line, _ in _exits(ast.parse(source))) == [3, 5, 7, 9, 11, 13]
    mapping = (REPO / "monitor" / "cli_errors.py").read_text(encoding="utf-8")
    assert _exits(ast.parse(mapping)), "the mapping module exits through ctx.exit"


@pytest.mark.parametrize(("error", "status", "line"), [
    (ConfigError("monitor.yaml: sources.0.url: not a URL"), 2,
     "monitor: monitor.yaml: sources.0.url: not a URL"),
    (RuleError("unbalanced parenthesis", "rules/a.yaml", 3, 8), 2,
     "monitor: rules/a.yaml:3:8: unbalanced parenthesis"),
    (ArgumentError("no watch 'x' in rules"), 2, "monitor: no watch 'x' in rules"),
    (DeliveryError("slack newsroom: 404 no_service"), 1,
     "monitor: slack newsroom: 404 no_service"),
    (MonitorError("https://example.test/: unreachable"), 1,
     "monitor: https://example.test/: unreachable"),
    (sqlite3.OperationalError("database is locked"), 1,
     "monitor: database: database is locked; nothing was lost, run the command again "
     "once it is free"),
    (sqlite3.OperationalError("attempt to write a readonly database"), 2,
     "monitor: database: read-only (attempt to write a readonly database): make the file "
     "and its folder writable; nothing was lost"),
])
def test_each_error_is_one_line_and_its_status(error, status, line):
    @click.group(cls=ErrorMappingGroup)
    def group() -> None:
        pass

    @group.command()
    def fail() -> None:
        raise error

    result = CliRunner().invoke(group, ["fail"])
    assert result.exit_code == status
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.output


def test_an_error_outside_the_mapping_keeps_its_traceback():
    @click.group(cls=ErrorMappingGroup)
    def group() -> None:
        pass

    @group.command()
    def fail() -> None:
        raise ValueError("a bug")

    result = CliRunner().invoke(group, ["fail"])
    assert isinstance(result.exception, ValueError)
    assert result.stderr == ""


def test_commands_of_every_group_map_their_errors_the_same_way(tmp_path, site):
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/f.xml")}])
    runner = CliRunner()
    # monitor watches (monitor/mutes_cli.py): an unknown watch
    snooze = runner.invoke(cli, ["-c", str(cfg), "watches", "snooze", "no-such", "1h"])
    assert snooze.exit_code == 2, snooze.output
    [line] = snooze.stderr.splitlines()
    assert line.startswith("monitor: no watch 'no-such'")
    # monitor rules (monitor/rules_cli.py): a query that cannot be read
    test = runner.invoke(cli, ["-c", str(cfg), "rules", "test", "--query", "(pact",
                               str(REPO / "seeds")])
    assert test.exit_code == 2, test.output
    assert test.stderr.splitlines()[-1].startswith("monitor: <query>:1:")
    # monitor sources discover (monitor/cli.py): a site with nothing to offer
    site.set("/", "<html><body>nothing here</body></html>")
    found = runner.invoke(cli, ["-c", str(cfg), "sources", "discover", site.url("/")])
    assert found.exit_code == 1, found.output
    assert found.stderr.splitlines() == [
        f"monitor: {site.url('/')}: no feed, sitemap or front page with article links found"]
