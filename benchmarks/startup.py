"""Start-up costs: what a user waits for before a command does anything, and what an
extraction worker process loads.

    python benchmarks/startup.py [--runs 7] [--old PATH]

Each command runs ``--runs`` times in a fresh interpreter (the median wall time is
printed, with the CPU time of the same runs):

- ``python -c pass``: the interpreter alone, the floor;
- ``monitor --help``;
- ``monitor replay`` of the seed page (``seeds/cbc-news_2024-06-19.html``, a throw-away
  database, the repository's monitor.yaml and rules): extraction, dedup, matching, store;
- ``import monitor.store`` (every command that opens the database), and which of numpy,
  scipy and datasketch it loads;
- an extraction worker: a spawned worker of ``monitor.workers.worker_pool`` started from
  a main module that imports the console script's entry point (pyproject.toml's
  ``[project.scripts]``, as the ``monitor`` script does; a spawned worker imports it too),
  timed to its first extracted page, and the heavy packages it has loaded.

``--old PATH`` runs the same commands with the ``monitor`` package of another checkout
(e.g. the commit before, unpacked with ``git archive`` with its pyproject.toml) first,
as the baseline.

Targets (issue "Pay only for the work"): ``monitor --help`` under 0.3 s, ``monitor
replay`` of one page under 1 s, no scientific stack (numpy, scipy, datasketch) loaded
where it is not needed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "cbc-news_2024-06-19.html"
HEAVY = ("numpy", "scipy", "datasketch", "sqlite_utils", "trafilatura", "scrapy",
         "twisted", "pydantic", "click", "yaml", "apscheduler")

LAUNCH = ("import sys; sys.argv[0] = 'monitor'; from monitor.cli import main; "
          "sys.exit(main())")

WORKER = """
import sys, time
from {entry_module} import {entry_func}  # as the monitor console script does
def loaded():
    return sorted(m for m in {heavy!r} if m in sys.modules)
if __name__ == "__main__":
    from monitor.extract import extract, page_from_file
    from monitor.models import ExtractOptions
    from monitor.workers import worker_pool
    page = page_from_file({seed!r})
    t0 = time.perf_counter()
    with worker_pool(1) as pool:
        pool.submit(extract, page, ExtractOptions()).result()
        first = time.perf_counter() - t0
        mods = pool.submit(loaded).result()
    print(f"{{first:.3f}} {{','.join(mods) or '-'}}")
"""


def run(argv: list[str], repo: Path, runs: int, cwd: Path) -> tuple[float, float, str]:
    """Median wall seconds, median CPU seconds (user + sys of the child) and the last
    output line of ``runs`` runs of ``argv`` with ``repo`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    walls, cpus, out = [], [], ""
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        out = (proc.stdout.strip().splitlines() or [""])[-1]
    return statistics.median(walls), statistics.median(cpus), out


def entry_point(repo: Path) -> tuple[str, str]:
    """(module, function) of the ``monitor`` console script in ``repo``'s pyproject.toml."""
    import re

    text = (repo / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^monitor\s*=\s*"([\w.]+):(\w+)"', text, re.M)
    if not found:
        raise SystemExit(f"{repo / 'pyproject.toml'} names no monitor console script")
    return found.group(1), found.group(2)


def measure(repo: Path, runs: int) -> dict[str, tuple[float, float, str]]:
    py = sys.executable
    config = str(REPO / "monitor.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker_main.py"
        module, func = entry_point(repo)
        script.write_text(WORKER.format(heavy=HEAVY, seed=str(SEED), entry_module=module,
                                        entry_func=func), encoding="utf-8")
        return {
            # cwd: the checkout measured ("python -c" puts the working folder first)
            "python -c pass": run([py, "-c", "pass"], repo, runs, repo),
            "monitor --help": run([py, "-c", LAUNCH, "--help"], repo, runs, repo),
            "monitor replay (1 page)": run([py, "-c", LAUNCH, "-c", config, "replay",
                                            str(SEED)], repo, runs, repo),
            "import monitor.store": run([py, "-c", "import sys, monitor.store; print(','.join("
                                         f"m for m in {HEAVY!r} if m in sys.modules))"],
                                        repo, runs, repo),
            "extraction worker": run([py, str(script)], repo, max(3, runs // 2), repo),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--old", type=Path, help="a checkout to measure first, as the baseline")
    args = parser.parse_args()
    results = {}
    if args.old:
        results["old"] = measure(args.old.resolve(), args.runs)
    results["now"] = measure(REPO, args.runs)
    print(f"median of {args.runs} runs each (the worker: of {max(3, args.runs // 2)}); "
          f"wall seconds (CPU seconds)")
    print()
    for name in results["now"]:
        for label, res in results.items():
            wall, cpu, out = res[name]
            note = ""
            if name == "import monitor.store":
                note = f"loads: {out or '-'}"
            elif name == "extraction worker":
                first, mods = out.split(" ", 1)
                note = f"first page done after {float(first):.2f} s; worker loaded: {mods}"
            print(f"{label:>4}  {name:<26} {wall:6.3f} s ({cpu:5.3f} s CPU)  {note}")
    now = results["now"]
    help_t, replay_t = now["monitor --help"][0], now["monitor replay (1 page)"][0]
    store_mods = set(filter(None, now["import monitor.store"][2].split(",")))
    worker_mods = set(now["extraction worker"][2].split(" ", 1)[1].split(","))
    sci = {"scipy", "datasketch"}
    ok = help_t < 0.3 and replay_t < 1.0 and not (store_mods | worker_mods) & sci \
        and "numpy" not in worker_mods
    print()
    base = results.get("old")
    print(f"target: monitor --help {help_t:.2f} s (< 0.3 s"
          f"{'; old ' + format(base['monitor --help'][0], '.2f') + ' s' if base else ''}), "
          f"monitor replay of one page {replay_t:.2f} s (< 1 s"
          f"{'; old ' + format(base['monitor replay (1 page)'][0], '.2f') + ' s' if base else ''}"
          f"), no scipy/datasketch on opening the store, no numpy in extraction workers: "
          f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
