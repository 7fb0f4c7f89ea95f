"""What the ``monitor`` command and its extraction workers load: a worker process
(spawned, so it imports the console script again) loads what extraction needs and
nothing of the command line, the store or the crawler."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from tests.conftest import REPO

#: Packages an extraction worker has no use for.
NOT_FOR_EXTRACTION = ("click", "pydantic", "yaml", "numpy", "scipy", "datasketch",
                      "sqlite_utils", "scrapy", "twisted", "apscheduler", "jinja2", "httpx")


def _entry_point() -> tuple[str, str]:
    """(module, function) of the ``monitor`` console script (pyproject.toml)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^monitor\s*=\s*"([\w.]+):(\w+)"', text, re.M)
    assert found, "pyproject.toml names no monitor console script"
    return found.group(1), found.group(2)


def test_an_extraction_worker_loads_only_what_extraction_needs(tmp_path):
    module, func = _entry_point()
    script = tmp_path / "monitor_script.py"
    # what pip writes for the console script, plus a worker pool like monitor run's
    script.write_text(textwrap.dedent(f"""\
        import sys
        from {module} import {func}

        def loaded(names):
            return sorted(n for n in names if n in sys.modules)

        if __name__ == "__main__":
            from monitor.extract import extract, page_from_file
            from monitor.models import ExtractOptions
            from monitor.workers import worker_pool
            page = page_from_file({str(REPO / "seeds" / "cbc-news_2024-06-19.html")!r})
            with worker_pool(1) as pool:
                article = pool.submit(extract, page, ExtractOptions()).result()
                print(article.title)
                print(pool.submit(loaded, {NOT_FOR_EXTRACTION!r}).result())
        """), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    title, loaded = out.stdout.strip().splitlines()[-2:]
    assert "North Korea" in title
    assert loaded == "[]"


def test_python_m_monitor_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0 and "Usage: monitor" in out.stdout


def test_opening_the_store_loads_no_extraction_and_no_crawler():
    # monitor status, watches, stories and the web desk open the store: trafilatura
    # (about 0.1 s), Scrapy and Twisted are not theirs to pay for
    code = ("import sys; from monitor.store import Store; "
            "print(sorted(m for m in ('trafilatura', 'scrapy', 'twisted', 'monitor.extract') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_help_loads_no_rule_engine_store_or_crawler():
    # `monitor --help` (and every command's import) stays cheap: the rule engine, the
    # store and the crawler are loaded by the commands that use them
    code = ("import sys\nfrom click.testing import CliRunner\nfrom monitor.cli import cli\n"
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
            "print(sorted(m for m in ('monitor.matching', 'monitor.store', 'scrapy', "
            "'trafilatura', 'ahocorasick') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
