"""Snippets: a short excerpt around the first match, with every match marked ``[[...]]``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.models import MatchSpan

SNIPPET_CHARS = 200
_LEAD = 60
_FIELD_PREFERENCE = ("text", "title", "comments")


def make_snippet(texts: Mapping[str, str], spans: Sequence[MatchSpan],
                 width: int = SNIPPET_CHARS) -> str:
    """Cut about ``width`` characters around the first match and mark matches.

    The excerpt comes from the body text when it has a match (it gives more context than
    the headline), else from the title, else from the comments. It starts a little before
    the first match in that field, is widened to whole words and never cuts a match in
    two; overlapping matches are marked once. Whitespace runs become one space.

    Args:
        texts: field name -> original text.
        spans: the matches (offsets into ``texts[span.field]``).
        width: target length in characters (before markers and ellipses).

    Returns:
        The snippet, with "…" where it was cut; "" when there are no spans.
    """
    field = next((f for f in _FIELD_PREFERENCE if any(s.field == f for s in spans)), None)
    if field is None:
        return ""
    text = texts[field]
    ranges = _merge(sorted((s.start, s.end) for s in spans if s.field == field))
    first = ranges[0]
    start = max(0, first[0] - _LEAD)
    end = min(len(text), start + width)
    end = max(end, first[1])
    # never cut a match in two
    for a, b in ranges:
        if a < start < b:
            start = a
        if a < end < b:
            end = b
    start = _word_start(text, start)
    end = _word_end(text, end)
    out = []
    pos = start
    for a, b in ranges:
        if b <= start or a >= end:
            continue
        out.append(text[pos:a])
        out.append("[[" + text[a:b] + "]]")
        pos = b
    out.append(text[pos:end])
    body = " ".join("".join(out).split())
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _word_start(text: str, i: int) -> int:
    """Move i back to the start of the word it falls in (at most 20 characters)."""
    limit = max(0, i - 20)
    while i > limit and not text[i - 1].isspace():
        i -= 1
    return i


def _word_end(text: str, i: int) -> int:
    """Move i forward to the end of the word it falls in (at most 20 characters)."""
    limit = min(len(text), i + 20)
    while i < limit and not text[i].isspace():
        i += 1
    return i
