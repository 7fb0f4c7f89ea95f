"""Checking where watches point: their channels and sources must exist in monitor.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.errors import RuleError
from monitor.matching.engine import WatchSet
from monitor.matching.watch import Watch

if TYPE_CHECKING:  # the loader imports this module
    from monitor.matching.loader import WatchTargets


def check_watch_targets(watches: WatchSet | Iterable[Watch | WatchTargets],
                        channels: Iterable[str],
                        sources: Iterable[str], *,
                        config: str = "monitor.yaml") -> list[RuleError]:
    """Find watch ``channels:`` and ``sources:`` entries that name nothing configured.

    A misspelt channel would silently drop the watch's alerts, and a misspelt source
    would silently stop the watch from ever matching, so the daemon and
    ``monitor rules check`` report them.

    Args:
        watches: the loaded watches (a WatchSet, or any iterable of Watch or of
            :class:`monitor.matching.loader.WatchTargets`).
        channels: the channel names configured in monitor.yaml.
        sources: the source names configured in monitor.yaml.
        config: how to name the config file in messages.

    Returns:
        One RuleError per unknown name, located at the watch's file and line, e.g.
        ``rules/pacts.yaml:3: channel 'desk-mial' is not in monitor.yaml (known:
        console, desk-mail)``; empty when every name is known. Watch order, then the
        order of the entries (sources sorted by name).
    """
    items = watches.watches if isinstance(watches, WatchSet) else watches
    known = {"channel": set(channels), "source": set(sources)}
    listed = {what: ", ".join(sorted(names)) or "none" for what, names in known.items()}
    errors = []
    for watch in items:
        for what, names in (("channel", watch.channels),
                            ("source", sorted(watch.sources or ()))):
            for name in names:
                if name not in known[what]:
                    errors.append(RuleError(
                        f"{what} '{name}' is not in {config} (known: {listed[what]})",
                        path=watch.path, line=watch.line))
    return errors


__all__ = ["check_watch_targets"]
