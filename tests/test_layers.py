"""Every module of monitor/ is placed in DESIGN.md's layers: the import contracts of
pyproject.toml (checked by ``lint-imports`` in .ci/lint) list the core modules by name, so
a new module must be added there or to the adapters below."""

from __future__ import annotations

import pkgutil

import pytest

import monitor
from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

#: The command line: the click groups, their error-to-exit-status mapping, ``python -m``.
TOP = {"monitor.cli", "monitor.cli_errors", "monitor.daemon", "monitor.__main__"}
#: Modules above the core: the Scrapy adapter, the daemon, the distributed mode (Scrapy
#: and Twisted in its workers), the command line and Scrapy's settings module.
ADAPTERS = TOP | {"monitor.crawl", "monitor.distributed", "monitor.settings"}


def _contract(name_start: str) -> dict:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [found] = [c for c in contracts if c["name"].startswith(name_start)]
    return found


def _modules() -> set[str]:
    return {f"monitor.{m.name}" for m in pkgutil.iter_modules(monitor.__path__)}


def test_every_module_is_core_or_an_adapter():
    core = set(_contract("The core imports no Scrapy")["source_modules"])
    adapters = ADAPTERS | {m for m in _modules() if m.endswith("_cli")}
    unplaced = _modules() - core - adapters
    assert not unplaced, f"add to the core contract in pyproject.toml or to ADAPTERS: {unplaced}"
    assert not core & adapters
    assert core <= _modules(), f"the contract names modules that are gone: {core - _modules()}"


def test_the_core_contract_forbids_the_crawl_stack():
    contract = _contract("The core imports no Scrapy")
    assert set(contract["forbidden_modules"]) == {"scrapy", "twisted", "apscheduler"}


def test_nothing_below_the_cli_imports_it_and_every_module_is_below():
    contract = _contract("Nothing below the CLI")
    below = set(contract["source_modules"]) - {"spiders"}
    cli_modules = {m for m in _modules() if m.endswith("_cli")}
    assert below == _modules() - TOP - cli_modules - {"monitor.settings"}
    assert set(contract["forbidden_modules"]) == TOP
