"""The monitor's exception hierarchy.

Every error names the offending file, field or URL in its message, so the CLI can print
it as one line (``monitor: <message>``) and exit with status 2 for config, rule and
argument errors, 1 for the others (:mod:`monitor.cli_errors` holds that mapping; no
other module exits).
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class for every error the monitor raises on purpose."""


class ConfigError(MonitorError):
    """monitor.yaml (or an environment variable it names) is missing or invalid."""


class RuleError(MonitorError):
    """A watch rule or entity file is missing or invalid.

    Attributes:
        path: the rule file, or None for an ad-hoc query.
        line: 1-based line in the file (or query), or None when unknown.
        column: 1-based column, or None when unknown.
        problem: what is wrong, without the location.
    """

    def __init__(self, problem: str, path: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        self.column = column
        where = path or "<query>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {problem}")


class DeliveryError(MonitorError):
    """An alert could not be delivered on a channel (names the channel and destination).

    Attributes:
        retry_after: seconds the destination asked us to wait (e.g. Slack 429), or None.
        permanent: True when retrying cannot help (e.g. Slack 404 no_service, SMTP 550).
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class ArgumentError(MonitorError):
    """A command was given something it cannot use: an unknown watch or story, a
    duration or query that cannot be read, a database or article file that is missing
    (the message names it)."""
