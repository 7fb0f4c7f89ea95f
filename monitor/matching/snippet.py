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
#: One whitespace character: re's ``\s`` on str is exactly ``str.isspace()`` (checked
#: over every code point), found in C rather than by a loop over characters.
_SPACE_RE = re.compile(r"\s")
#: Everything up to and including the last whitespace character of the region matched.
_LAST_SPACE_RE = re.compile(r".*\s", re.DOTALL)
_FIELDS_SHOWN = frozenset(_FIELD_PREFERENCE)


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
    ranges = sorted([(s.start, s.end) for s in spans if s.field == field])
    return _cut(texts[field], ranges, width)[0]


#: How far past the first match of a hit :func:`snippet_of_sorted` first looks for the
#: other matches that may show in the snippet (characters beyond ``width``).
_LOOK_AHEAD = 400


def snippet_of_sorted(texts: Mapping[str, str], spans: Sequence[MatchSpan],
                      width: int = SNIPPET_CHARS) -> str:
    """:func:`make_snippet` for spans sorted by field (title, text, comments) and then
    by start, as a hit's are; the same result, in time that does not grow with the
    number of spans: only the spans near the first one of the field shown are read,
    and all of them only when the snippet reaches that far.

    Args:
        texts: field name -> original text.
        spans: the matches, sorted by field in the order title, text, comments, and
            by start within a field.
        width: target length in characters (before markers and ellipses).

    Returns:
        The snippet, as :func:`make_snippet` gives it.
    """
    if len(spans) == 1:    # most hits: one match, shown whatever its field
        sp = spans[0]
        if sp.field not in _FIELDS_SHOWN:
            return ""
        return _cut(texts[sp.field], [(sp.start, sp.end)], width)[0]
    chosen: list[MatchSpan] = []
    for field in _FIELD_PREFERENCE:
        chosen = [s for s in spans if s.field == field] if len(spans) < 8 \
            else _field_slice(spans, field)
        if chosen:
            break
    else:
        return ""
    text = texts[chosen[0].field]
    cutoff = chosen[0].start + width + _LOOK_AHEAD
    ranges = []
    for sp in chosen:
        if sp.start >= cutoff:
            break
        ranges.append((sp.start, sp.end))
    else:
        return _cut(text, ranges, width)[0]
    snippet, end = _cut(text, ranges, width)
    if end < cutoff:   # the matches left out all start at or after the end: not shown
        return snippet
    return _cut(text, [(sp.start, sp.end) for sp in chosen], width)[0]


def _field_slice(spans: Sequence[MatchSpan], field: str) -> list[MatchSpan]:
    """The spans of one field, from spans sorted by field."""
    first = next((i for i, sp in enumerate(spans) if sp.field == field), None)
    if first is None:
        return []
    last = first
    while last < len(spans) and spans[last].field == field:
        last += 1
    return list(spans[first:last])


def _cut(text: str, ranges: list[tuple[int, int]], width: int) -> tuple[str, int]:
    """The snippet of ``text`` around the first of the sorted ``ranges``, and the
    offset where its excerpt ends."""
    n = len(text)
    if len(ranges) == 1:   # most hits: the loops below would change nothing
        a, b = ranges[0]
        start = a - _LEAD if a > _LEAD else 0
        end = max(_word_end(text, min(n, max(start + width, b))), b)
        start = _word_start(text, start, a)
        return _finish(text, f"{text[start:a]}[[{text[a:b]}]]{text[b:end]}", start, end)
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
    return _finish(text, "".join(out), start, end)


def _finish(text: str, body: str, start: int, end: int) -> tuple[str, int]:
    """A marked excerpt ``text[start:end]`` made one line, with "…" where it was cut."""
    if "\n" in body:
        # each run of whitespace holding a line break becomes the separator: the words
        # of each line, lines with words joined by it (and it at an end the body starts
        # or ends with a break, as the rules below expect)
        lines = [line.split() for line in body.split("\n")]
        body = PARAGRAPH_SEPARATOR.join(" ".join(words) for words in lines if words)
        if not lines[0]:
            body = PARAGRAPH_SEPARATOR + body
        if not lines[-1]:
            body += PARAGRAPH_SEPARATOR
    # str.split() cuts at the runs of whitespace \s+ matches (Unicode's), ends dropped
    body = " ".join(body.split()).removeprefix("\u00b6 ").removesuffix(" \u00b6").strip()
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else ""), end


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
    m = _LAST_SPACE_RE.match(text, max(0, i - _WORD_REACH), i)
    if m is not None:      # just after the last space of the 40 characters before i
        return m.end()
    if i - _WORD_REACH <= 0:
        return 0
    m = _SPACE_RE.search(text, i, min(limit, i + _WORD_REACH))
    return i if m is None else m.end()


def _word_end(text: str, i: int) -> int:
    """Move i forward to the end of the word it falls in; when that word goes on for
    more than 40 characters, back to the end of the word before (or keep i)."""
    n = len(text)
    if i >= n or text[i].isspace() or text[i - 1].isspace():
        return i
    m = _SPACE_RE.search(text, i, min(n, i + _WORD_REACH))
    if m is not None:
        return m.start()
    if i + _WORD_REACH >= n:
        return n
    m = _LAST_SPACE_RE.match(text, max(0, i - _WORD_REACH) + 1, i)
    return i if m is None else m.end() - 1
