"""The Watch: one saved rule, as read from a rule file."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.matching.query import Node

MODES = ("immediate", "digest")
#: A watch's ``priority``: ``urgent`` alerts bypass quiet hours, budgets and bursts.
PRIORITIES = ("normal", "urgent")


@dataclass(frozen=True)
class SpikeSettings:
    """When a watch's (or one of its entities') coverage counts as a spike
    (``spike:`` in a rule file; see :mod:`monitor.health`).

    Attributes:
        window: the current window, seconds (``1h``).
        min_count: at least this many articles in the window.
        baseline: the window is compared with this long before it, seconds (``7d``).
        p: the largest Poisson upper-tail probability of the count, under the
            baseline's rate, that still counts as a spike (default 0.001).
    """

    window: float = 3600.0
    min_count: int = 5
    baseline: float = 7 * 86400.0
    p: float = 0.001


@dataclass(frozen=True, slots=True)
class Watch:
    """A saved watch rule.

    Attributes:
        id: unique id across all rule files (letters, digits, '-', '_', '.').
        name: human name shown in alerts.
        query: the syntax tree (the ``query`` field AND-ed with ``any``/``all``/``none``).
        query_text: the query as a person would read it (for ``rules explain``).
        channels: channel names to alert on; empty means every channel.
        mode: "immediate" or "digest".
        priority: "normal" (default) or "urgent": urgent alerts go out at once even in a
            channel's quiet hours, beyond its budget or in a burst.
        sources: only articles from these source names, or None for all sources.
        languages: only articles in these ISO 639-1 languages, or None for all. Articles
            whose language is unknown are not filtered out.
        min_mentions: the hit needs at least this many matched occurrences in total.
        fold_diacritics: ignore diacritics on both sides ("Sao Paulo" = "São Paulo").
        spike: spike alerts for this watch and the entities of its query, or None (off).
        path: the rule file, or None for an ad-hoc query.
        line: 1-based line where the watch starts in ``path``.
    """

    id: str
    name: str
    query: Node
    query_text: str
    channels: tuple[str, ...] = ()
    mode: str = "immediate"
    priority: str = "normal"
    sources: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    min_mentions: int = 1
    fold_diacritics: bool = False
    spike: SpikeSettings | None = None
    path: str | None = None
    line: int | None = None

    def accepts(self, source: str, language: str | None) -> bool:
        """Whether the source and language filters let an article through.

        Args:
            source: the article's source name.
            language: the article's language code, or None when unknown.

        Returns:
            True when neither filter excludes the article.
        """
        if self.sources is not None and source not in self.sources:
            return False
        return not (self.languages is not None and language is not None
                    and language.lower() not in self.languages)
