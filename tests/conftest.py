"""Shared fixtures: real local servers, a config writer and the repository paths."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.servers import SiteServer, SlackServer, SmtpServer

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"


def _shipped_rules() -> Path:
    """The rule files the repository ships (those git tracks in rules/), copied to a
    temporary folder: watches a user adds to rules/, as the README invites, must not
    change what the tests expect. Outside a git checkout, rules/ itself."""
    try:
        names = subprocess.run(["git", "ls-files", "rules"], cwd=REPO, capture_output=True,
                               text=True, check=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        names = []
    if not names:
        return REPO / "rules"
    folder = Path(tempfile.mkdtemp(prefix="monitor-test-rules-"))
    atexit.register(shutil.rmtree, folder, True)
    for name in names:
        shutil.copy2(REPO / name, folder / Path(name).name)
    return folder


RULES = _shipped_rules()
CORPUS = REPO.parent / "shared" / "corpus"


def pytest_configure(config):
    """Install Twisted's asyncio reactor before any test imports the reactor: the daemon
    and crawl tests run Scrapy in this process (:mod:`tests.inprocess`)."""
    from monitor.crawl.runner import install_asyncio_reactor

    install_asyncio_reactor()


def pytest_unconfigure(config):
    """End the reactor the in-process tests started (tests.inprocess.stop_reactor), so
    that its thread pool does not keep the process from exiting."""
    inprocess = sys.modules.get("tests.inprocess")
    if inprocess is not None:
        inprocess.stop_reactor()


@pytest.fixture
def site():
    """A local website (feeds, sitemaps, articles) on 127.0.0.1, port chosen by the OS."""
    with SiteServer({"/robots.txt": (200, "text/plain", b"User-agent: *\nAllow: /\n")}) as s:
        yield s


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 collecting the messages it receives."""
    with SmtpServer() as s:
        yield s


@pytest.fixture
def slack():
    """A local server answering like a Slack incoming webhook."""
    with SlackServer() as s:
        yield s


def seed_html(name: str) -> bytes:
    """The bytes of a seed page, e.g. ``seed_html("cbc-news_2024-06-19")``."""
    return (SEEDS / f"{name}.html").read_bytes()


def rss(items: list[tuple[str, str]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 feed listing (title, url) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid>"
        f"<pubDate>Wed, 19 Jun 2024 08:12:41 GMT</pubDate></item>" for t, u in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>http://127.0.0.1/</link>"
            f"<description>test</description>{entries}</channel></rss>").encode()


def write_config(path: Path, *, sources: list[dict], channels: list[dict] | None = None,
                 rules: Path = RULES, **extra) -> Path:
    """Write a monitor.yaml for a test and return its path."""
    import yaml

    config = {"database": str(path.parent / "monitor.db"), "rules": str(rules),
              "sources": sources,
              "channels": channels or [{"kind": "console", "name": "console"}],
              "crawl": {"obey_robots": True, "download_delay": 0, "autothrottle": False,
                        "download_timeout": 5},
              "delivery": {"interval": 1}, **extra}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def monitor_cmd(*args: str, env: dict | None = None, timeout: float = 120,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``monitor`` command line in a subprocess (its own reactor)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd or REPO)
