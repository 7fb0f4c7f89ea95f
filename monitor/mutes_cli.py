"""``monitor watches`` and ``monitor stories``: snooze, mute and unmute from the command
line (the web desk sets the same ``mutes`` rows, see :meth:`monitor.store.Store.mute`).

While a watch or story is snoozed (until a time) or muted (until unmuted), its new
alerts are not queued: their outbox rows are written ``muted`` with the reason, and the
alerts of it still waiting are set so too. ``monitor status`` shows what is in force.
An unknown watch or story, or a duration that cannot be read, prints one line and
exits with status 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import click

from monitor.config import MonitorConfig, parse_duration
from monitor.errors import ArgumentError

if TYPE_CHECKING:  # the store (sqlite-utils, numpy) is loaded by the commands only
    from monitor.store import Store


def _fail(ctx: click.Context, message: str) -> NoReturn:
    """Raise the error for an unknown target or a bad duration (status 2, one line:
    :mod:`monitor.cli_errors`).

    Raises:
        ArgumentError: always.
    """
    raise ArgumentError(message)


def _config(ctx: click.Context) -> MonitorConfig:
    from monitor.cli import _config as load

    return load(ctx.find_root())


def known_watches(config: MonitorConfig, store: Store) -> set[str]:
    """The watch ids one may snooze or mute: those of the rule files (also of watches
    with errors, so a broken file can be silenced), and those with hits in the store.

    Returns:
        A set of watch ids.
    """
    from monitor.matching.loader import read_rule_files

    ids: set[str] = set()
    if config.rules.is_dir():
        watches, _errors, broken = read_rule_files(config.rules)
        ids |= {w.id for w in watches} | {b.id for b in broken if b.id}
    ids |= store.watch_ids_with_hits()
    return ids


def _target(ctx: click.Context, kind: str, target: str, config: MonitorConfig,
            store: Store) -> str:
    """Check that the watch or story exists.

    Returns:
        The target as stored (a story's number without leading zeros).

    Raises:
        ArgumentError: no such watch or story.
    """
    if kind == "watch":
        known = known_watches(config, store)
        if target not in known:
            shown = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
            _fail(ctx, f"no watch {target!r} in {config.rules} or the database "
                       f"(known: {shown or 'none'})")
        return target
    if not target.isdigit() or not store.has_story(int(target)):
        _fail(ctx, f"no story {target!r} in {config.database} (a story is given by its "
                   f"number, as in monitor report and the web desk)")
    return str(int(target))


def _what(kind: str, target: str, store: Store) -> str:
    if kind == "watch":
        return f"watch {target}"
    title = store.story_title(int(target))
    return f"story {target}" + (f" “{title}”" if title else "")


def _snooze(ctx: click.Context, kind: str, target: str, duration: str,
            reason: str | None) -> None:
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        _fail(ctx, f"{duration!r}: {exc}")
    from monitor.clock import iso, utcnow
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    try:
        target = _target(ctx, kind, target, config, store)
        until = utcnow().replace(microsecond=0) + timedelta(seconds=seconds)
        store.mute(kind, target, until, reason=reason, by="cli")
        click.echo(f"{_what(kind, target, store)} snoozed until {iso(until)}: its new "
                   f"alerts are not sent meanwhile")
    finally:
        store.close()


#: The command group of each kind of target (``monitor watches``, ``monitor stories``).
_GROUPS = {"watch": "watches", "story": "stories"}


def _mute(ctx: click.Context, kind: str, target: str, reason: str | None) -> None:
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    try:
        target = _target(ctx, kind, target, config, store)
        store.mute(kind, target, None, reason=reason, by="cli")
        click.echo(f"{_what(kind, target, store)} muted: its new alerts are not sent "
                   f"until: monitor {_GROUPS[kind]} unmute {target}")
    finally:
        store.close()


def _unmute(ctx: click.Context, kind: str, target: str) -> None:
    from monitor.store import Store

    config = _config(ctx)
    store = Store(config.database)
    try:
        target = _target(ctx, kind, target, config, store)
        n = store.unmute(kind, target)
        what = _what(kind, target, store)
        click.echo(f"{what}: alerts flow again" if n else
                   f"{what} was neither snoozed nor muted")
    finally:
        store.close()


_REASON = click.option("--reason", default=None, help="A note kept with it (shown in "
                                                      "monitor status and the outbox).")


@click.group()
def watches() -> None:
    """Snooze or mute a watch: its new alerts are not sent meanwhile.

    \b
    Example:
        monitor watches snooze russia-north-korea 4h
        monitor watches mute russia-north-korea --reason "covered all week"
        monitor watches unmute russia-north-korea
    """


def _add_commands(group: click.Group, kind: str, example: str) -> None:
    """Add ``snooze``, ``mute`` and ``unmute`` for one kind of target to its group.

    Args:
        group: ``watches`` or ``stories``.
        kind: ``watch`` or ``story`` (the ``mutes`` row's kind).
        example: a target for the help texts' examples (a watch id, a story number).
    """
    arg = kind.upper()

    # "-5m" is read as the DURATION (and refused by parse_duration in one line), not as
    # an unknown option
    @group.command("snooze", context_settings={"ignore_unknown_options": True},
                   help=f"""Hold back a {kind}'s alerts for DURATION (90, 30m,
        4h, 1d, 1w).

        \b
        Example:
            monitor {group.name} snooze {example} {"4h" if kind == "watch" else "1d"}
        """)
    @click.argument(arg)
    @click.argument("duration")
    @_REASON
    @click.pass_context
    def snooze(ctx: click.Context, duration: str, reason: str | None, **target: str) -> None:
        _snooze(ctx, kind, target[kind], duration, reason)

    @group.command("mute", help=f"""Hold back a {kind}'s alerts until it is unmuted.

        \b
        Example:
            monitor {group.name} mute {example}
        """)
    @click.argument(arg)
    @_REASON
    @click.pass_context
    def mute(ctx: click.Context, reason: str | None, **target: str) -> None:
        _mute(ctx, kind, target[kind], reason)

    @group.command("unmute", help=f"""End a {kind}'s snooze or mute now (alerts held back
        meanwhile stay unsent).

        \b
        Example:
            monitor {group.name} unmute {example}
        """)
    @click.argument(arg)
    @click.pass_context
    def unmute(ctx: click.Context, **target: str) -> None:
        _unmute(ctx, kind, target[kind])


@click.group()
def stories() -> None:
    """Snooze or mute a story (by its number): no more alerts for it meanwhile, from
    any watch, while other stories still alert.

    \b
    Example:
        monitor stories snooze 5 1d
        monitor stories mute 5
        monitor stories unmute 5
    """


_add_commands(watches, "watch", "russia-north-korea")
_add_commands(stories, "story", "5")


def mute_lines(mutes: list[dict[str, Any]], titles: Mapping[str, str | None]) -> list[str]:
    """``monitor status`` lines for the snoozes and mutes in force.

    Args:
        mutes: :meth:`monitor.store.Store.active_mutes` rows.
        titles: story id (text) -> title, for stories.

    Returns:
        One line per snooze or mute, e.g. ``watch rnk snoozed until
        2026-11-30T19:00:00+00:00 (by cli): too noisy``.
    """
    lines = []
    for m in mutes:
        what = f"{m['kind']} {m['target']}"
        if m["kind"] == "story" and titles.get(m["target"]):
            what += f" “{titles[m['target']]}”"
        how = f"snoozed until {m['until']}" if m["until"] else f"muted since {m['created_at']}"
        by = f" (by {m['created_by']})" if m.get("created_by") else ""
        lines.append(f"{what} {how}{by}" + (f": {m['reason']}" if m.get("reason") else ""))
    return lines
