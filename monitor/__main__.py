"""The ``monitor`` command's entry point, also ``python -m monitor``.

It imports nothing at module level: the extraction worker processes are spawned, and a
spawned process imports the parent's main script again, here the console script, which
imports this module. Keeping it empty of imports means a worker loads what extraction
needs and nothing of the command line (click, pydantic, the config, the rules).
"""

from __future__ import annotations


def main() -> None:
    """Run the command line (:func:`monitor.cli.main`): parse ``sys.argv``, run the
    command and exit with its status."""
    from monitor.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
