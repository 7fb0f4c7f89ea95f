"""Snippets: a short excerpt around the first match, with every match marked ``[[...]]``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from monitor.models import MatchSpan

SNIPPET_CHARS = 200
#: What stands between two paragraphs of the text in a snippet (it never runs
#: "...in 24 years. Russian President..." together).
PARAGRAPH_SEPARATOR = " \u00b6 "
_LEAD = 60
#: How far a cut looks for a space before giving up and cutting inside a word.
_WORD_REACH = 40
_FIELD_PREFERENCE = ("text", "title", "comments")
_BREAK_RE = re.compile(r"\s*\n\s*")      # whitespace holding a line break


def make_snippet(texts: Mapping[str, str], spans: Sequence[MatchSpan],
                 width: int = SNIPPET_CHARS) -> str:
    """Cut about ``width`` characters around the first match and mark matches.

    The excerpt comes from the body text when it has a match (it gives more context than
    the headline), else from the title, else from the comments. It starts a little before
    the first match in that field, starts and ends at word boundaries (a word longer than
    40 characters excepted) and never cuts a match in two; overlapping matches are marked
    once. A line break between paragraphs becomes :data:`PARAGRAPH_SEPARATOR` (`` ¶ ``);
    other runs of whitespace (tabs, no-break spaces) become one space.

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
    start = _word_start(text, start, first_start)
    end = max(_word_end(text, end), first_end)
    for a, b in ranges:            # a word boundary may fall inside a phrase
        if a < start < b:
            start = a
        if a < end < b:
            end = b
    out = []
    pos = start
    for a, b in ranges:
        if b <= start or a >= end:
            continue
        out.append(text[pos:a])
        out.append(f"[[{text[a:b]}]]")
        pos = b
    out.append(text[pos:end])
    body = "".join(out)
    if "\n" in body:
        body = _BREAK_RE.sub(PARAGRAPH_SEPARATOR, body)
    # str.split() cuts at the runs of whitespace \s+ matches (Unicode's), ends dropped
    body = " ".join(body.split()).removeprefix("\u00b6 ").removesuffix(" \u00b6").strip()
    return ("…" if start > 0 else "") + body + ("…" if end < n else "")


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _word_start(text: str, i: int, limit: int) -> int:
    """Move i back to the start of the word it falls in; when that word starts more than
    40 characters back, forward past it instead (but never beyond ``limit``)."""
    if i == 0 or text[i - 1].isspace() or text[i].isspace():
        return i
    for j in range(i - 1, max(0, i - _WORD_REACH) - 1, -1):
        if text[j].isspace():
            return j + 1
    if i - _WORD_REACH <= 0:
        return 0
    for j in range(i, min(limit, i + _WORD_REACH)):
        if text[j].isspace():
            return j + 1
    return i


def _word_end(text: str, i: int) -> int:
    """Move i forward to the end of the word it falls in; when that word goes on for
    more than 40 characters, back to the end of the word before (or keep i)."""
    n = len(text)
    if i >= n or text[i].isspace() or text[i - 1].isspace():
        return i
    for j in range(i, min(n, i + _WORD_REACH)):
        if text[j].isspace():
            return j
    if i + _WORD_REACH >= n:
        return n
    for j in range(i - 1, max(0, i - _WORD_REACH), -1):
        if text[j].isspace():
            return j
    return i
