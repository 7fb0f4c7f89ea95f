"""The command line's one mapping from errors to exit statuses and one-line messages.

Core modules raise typed errors (:mod:`monitor.errors`) and never exit. Every
``monitor`` command runs inside :class:`ErrorMappingGroup` (so do the ``rules`` group's
commands when that group is run on its own), which prints such an error as
``monitor: <message>`` on stderr, one line per line of the message and no traceback,
and exits with the status :func:`exit_status` gives: 2 for usage and config errors, 1
for the others.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from monitor.errors import ArgumentError, ConfigError, MonitorError, RuleError

#: Exit status of a command that failed.
EXIT_FAILURE = 1
#: Exit status of a usage or config error: fix the command or the files, then run again.
EXIT_USAGE = 2

#: Error class -> exit status; the first class the error is an instance of decides.
EXIT_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, EXIT_USAGE),
    (RuleError, EXIT_USAGE),
    (ArgumentError, EXIT_USAGE),
    (MonitorError, EXIT_FAILURE),
    # locked past the busy timeout, or a full disk: a passing state (read-only: 2)
    (sqlite3.OperationalError, EXIT_FAILURE),
)

#: The errors :class:`ErrorMappingGroup` turns into a message and a status.
MAPPED = tuple(cls for cls, _status in EXIT_STATUSES)


def exit_status(exc: BaseException) -> int | None:
    """The exit status of a command that raised ``exc``.

    Args:
        exc: the error.

    Returns:
        :data:`EXIT_USAGE` or :data:`EXIT_FAILURE`; :data:`EXIT_USAGE` for a read-only
        database (a setup error); None for an error not in :data:`EXIT_STATUSES` (a bug:
        its traceback is shown).
    """
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return EXIT_USAGE
    for cls, status in EXIT_STATUSES:
        if isinstance(exc, cls):
            return status
    return None


def error_lines(exc: BaseException, database: object = None) -> list[str]:
    """What to print for ``exc``, one line each (without the ``monitor:`` prefix).

    Args:
        exc: the error.
        database: the database path of the command, named in database errors.

    Returns:
        The lines: one per line of the error's message (a config error lists each
        problem); a database error says that nothing was lost and what to do.
    """
    if isinstance(exc, sqlite3.OperationalError):
        where = f"database {database}" if database else "database"
        if "readonly" in str(exc):
            return [f"{where}: read-only ({exc}): make the file and its folder writable; "
                    f"nothing was lost"]
        # another process held the write lock past the busy timeout, or the disk is
        # full: nothing half-written, try again later
        return [f"{where}: {exc}; nothing was lost, run the command again once it is free"]
    return str(exc).splitlines() or [""]


class ErrorMappingGroup(click.Group):
    """A click group whose commands' errors (:data:`EXIT_STATUSES`) become
    ``monitor: <message>`` lines on stderr and an exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map an error it raises (see :func:`exit_status`).

        Raises:
            click.exceptions.Exit: with the mapped status, after the message.
        """
        try:
            return super().invoke(ctx)
        except MAPPED as exc:
            obj = ctx.find_root().obj
            database = obj.get("database") if isinstance(obj, dict) else None
            for line in error_lines(exc, database):
                click.echo(f"monitor: {line}", err=True)
            ctx.exit(exit_status(exc) or EXIT_FAILURE)
