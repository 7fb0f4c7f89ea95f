"""Snippets: a short excerpt around the first match, with every match marked ``[[...]]``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.models import MatchSpan

SNIPPET_CHARS = 200
_LEAD = 60
_SPACES = "\n\r\t\u00a0"
_FIELD_PREFERENCE = ("text", "title", "comments")


def make_snippet(texts: Mapping[str, str], spans: Sequence[MatchSpan],
                 width: int = SNIPPET_CHARS) -> str:
    """Cut about ``width`` characters around the first match and mark matches.

    The excerpt comes from the body text when it has a match (it gives more context than
    the headline), else from the title, else from the comments. It starts a little before
    the first match in that field, is widened to whole words and never cuts a match in
    two; overlapping matches are marked once. Line breaks, tabs and no-break
    spaces become spaces, and runs of spaces one space.

    Args:
        texts: field name -> original text.
        spans: the matches (offsets into ``texts[span.field]``).
        width: target length in characters (before markers and ellipses).

    Returns:
        The snippet, with "…" where it was cut; "" when there are no spans.
    """
    present = {s.field for s in spans}
    field = next((f for f in _FIELD_PREFERENCE if f in present), None)
    if field is None:
        return ""
    text = texts[field]
    n = len(text)
    ranges = sorted([(s.start, s.end) for s in spans if s.field == field])
    if len(ranges) > 1:
        ranges = _merge(ranges)
    first_start, first_end = ranges[0]
    start = first_start - _LEAD if first_start > _LEAD else 0
    end = min(n, max(start + width, first_end))
    for a, b in ranges:            # never cut a match in two
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
        out.append(f"[[{text[a:b]}]]")
        pos = b
    out.append(text[pos:end])
    # str.replace, not a regex: it runs at memchr speed, and this is per hit
    body = "".join(out)
    for space in _SPACES:
        if space in body:
            body = body.replace(space, " ")
    while "  " in body:
        body = body.replace("  ", " ")
    body = body.strip()
    return ("…" if start > 0 else "") + body + ("…" if end < n else "")


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
    if i == 0 or text[i - 1].isspace():
        return i
    limit = max(0, i - 20)
    cut = max(text.rfind(" ", limit, i), text.rfind("\n", limit, i))
    return cut + 1 if cut >= 0 else limit


def _word_end(text: str, i: int) -> int:
    """Move i forward to the end of the word it falls in (at most 20 characters)."""
    n = len(text)
    if i >= n or text[i].isspace():
        return i
    limit = min(n, i + 20)
    cuts = [c for c in (text.find(" ", i, limit), text.find("\n", i, limit)) if c >= 0]
    return min(cuts) if cuts else limit
