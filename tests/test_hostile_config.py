"""Hostile or broken config and database files: one line naming the file (and the line),
exit status 2, never a traceback; many sources load fast; a new database opened by
several processes at once never fails with 'database is locked'."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.store import Store
from tests.conftest import REPO, RULES, monitor_cmd


def _one_line(result, cfg: Path) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"monitor: {cfg}")
    return lines[0]


@pytest.mark.parametrize("content,where", [
    (b"database: monitor.db\nrules: rules\n# caf\xe9 (latin-1 comment)\n"
     b"channels: [{kind: console}]\n", ":3:6: "),
    (b"database: monitor.db\n\xff\n", ":2:1: "),
    (bytes(range(256)) * 16, ":2:118: "),   # byte 10 is a newline
])
def test_config_that_is_not_utf8_is_one_line_with_the_place(tmp_path, content, where):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_bytes(content)
    line = _one_line(CliRunner().invoke(cli, ["-c", str(cfg), "status"]), cfg)
    assert line.startswith(f"monitor: {cfg}{where}cannot read: not UTF-8 (byte 0x"), line


def test_config_not_utf8_through_the_real_command(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_bytes(b"database: m.db\n# caf\xe9\n")
    r = monitor_cmd("-c", str(cfg), "status")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"monitor: {cfg}:2:6: cannot read: not UTF-8 (byte 0xe9); "
                                "save the file as UTF-8")


@pytest.mark.parametrize("content,expected", [
    ("database: first.db\nrules: rules\ndatabase: second.db\n",
     ":3:1: key 'database' is given twice"),
    ("sources:\n  - name: a\n    kind: feed\n    url: http://127.0.0.1:9/a.xml\n"
     "    url: http://127.0.0.1:9/b.xml\n", ":5:5: key 'url' is given twice"),
    ("crawl: {obey_robots: true, obey_robots: false}\n",
     ":1:28: key 'obey_robots' is given twice"),
])
def test_duplicate_key_is_refused_with_file_and_line(tmp_path, content, expected):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(content)
    line = _one_line(CliRunner().invoke(cli, ["-c", str(cfg), "status"]), cfg)
    assert line == f"monitor: {cfg}{expected}"
    assert not (tmp_path / "first.db").exists() and not (tmp_path / "second.db").exists()


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("sources:\n  - &a {name: a, kind: feed, url: 'http://127.0.0.1:9/a.xml'}\n"
                   "  - <<: *a\n    name: b\n    url: 'http://127.0.0.1:9/b.xml'\n")
    config = load_config(cfg)
    assert [(s.name, s.kind, s.url) for s in config.sources] == [
        ("a", "feed", "http://127.0.0.1:9/a.xml"), ("b", "feed", "http://127.0.0.1:9/b.xml")]


def test_many_sources_load_in_seconds(tmp_path):
    """20,000 sources (1.6 MB): the C loader with the collector paused; the same file
    took 7 s to load with collections running (100,000: 2.5 s instead of 9 s)."""
    cfg = tmp_path / "monitor.yaml"
    with cfg.open("w") as f:
        f.write("database: monitor.db\nchannels: [{kind: console}]\nsources:\n")
        for i in range(20_000):
            f.write(f"  - {{name: s{i}, kind: feed, url: 'http://127.0.0.1:9/f{i}.xml', "
                    f"enabled: false}}\n")
    started = time.process_time()
    config = load_config(cfg)
    took = time.process_time() - started
    assert len(config.sources) == 20_000
    assert took < 3.0, f"loading 20,000 sources took {took:.1f} s of CPU"
    store = Store(tmp_path / "monitor.db")
    started = time.process_time()
    store.sync_sources(config.sources)
    assert time.process_time() - started < 3.0
    assert store.db.execute("select count(*) from sources").fetchone()[0] == 20_000


def test_new_database_opened_by_many_at_once_never_reports_locked(tmp_path):
    """Six connections creating the same new database at the same moment: the WAL switch
    and the migrations wait for each other (failed 50 of 60 times before)."""
    failures: list[str] = []
    for round_ in range(3):
        path = tmp_path / f"m{round_}.db"
        barrier = threading.Barrier(6)

        def open_it(barrier: threading.Barrier = barrier, path: Path = path) -> None:
            barrier.wait()
            try:
                Store(path).close()
            except ConfigError as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store = Store(path)
        names = [r[0] for r in store.db.execute(
            "select name from _sqlite_migrations order by id")]
        assert len(names) == len(set(names))   # each migration applied once
    assert failures == []


def test_new_database_opened_by_processes_at_once(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"database: m.db\nrules: {RULES}\nchannels: [{{kind: console}}]\n")
    procs = [subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "deliver"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _ in outcomes] == [0] * 4, outcomes


def _without_root_powers() -> list[str]:
    """A command prefix under which file modes are enforced (root ignores 0444)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only")
    return [setpriv, "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def test_read_only_database_is_one_line_naming_it(tmp_path):
    """A command that must write to a read-only database (mode 0444, enforced even for
    root by dropping its powers) prints one line naming it, exit 2; reading still works."""
    cfg = tmp_path / "monitor.yaml"
    db = tmp_path / "m.db"
    cfg.write_text(f"database: {db}\nrules: {RULES}\nchannels: [{{kind: console}}]\n"
                   "sources: [{name: a, kind: feed, url: 'http://127.0.0.1:9/a.xml'}]\n")
    seeds = REPO / "seeds"
    r = monitor_cmd("-c", str(cfg), "replay", "--db", str(db), str(seeds))
    assert r.returncode == 0, r.stderr   # leaves an alert pending in the outbox
    files = [p for p in tmp_path.iterdir() if p.name.startswith("m.db")]
    for p in files:
        p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        def run(*command: str) -> subprocess.CompletedProcess:
            return subprocess.run([*_without_root_powers(), sys.executable, "-m",
                                   "monitor.cli", "-c", str(cfg), *command], cwd=REPO,
                                  capture_output=True, text=True, timeout=60)

        for command in (["deliver"], ["crawl", "--no-deliver"]):
            r = run(*command)
            assert r.returncode == 2, (command, r.stderr)
            assert "Traceback" not in r.stderr
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert lines[0].startswith(f"monitor: database {db}: read-only"), lines
            assert "1 pending" not in r.stdout
        r = run("status")
        assert r.returncode == 0 and "1 pending" in r.stdout, r.stderr
    finally:
        for p in files:
            p.chmod(0o644)
