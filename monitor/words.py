"""Counting words for messages: one place that knows "1 watch", "2 watches",
"1 story", "2 stories"."""

from __future__ import annotations


def plural(noun: str) -> str:
    """The plural of an English noun as messages use them: ``watch`` -> ``watches``,
    ``story`` -> ``stories``, ``hit`` -> ``hits``, ``day`` -> ``days``."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def count(n: int, noun: str) -> str:
    """``count(1, "watch")`` -> "1 watch"; ``count(3, "watch")`` -> "3 watches";
    ``count(2, "new article")`` -> "2 new articles"."""
    return f"{n} {noun if n == 1 else plural(noun)}"
