"""Snippets read cleanly: a separator between paragraphs, cuts at word boundaries."""

from __future__ import annotations

from monitor.alerts import render
from monitor.matching.snippet import PARAGRAPH_SEPARATOR, make_snippet
from monitor.models import MatchSpan


def spans_of(text: str, *words: str, field: str = "text") -> list[MatchSpan]:
    out = []
    for w in words:
        i = text.index(w)
        out.append(MatchSpan(field, i, i + len(w), w, w))
    return out


def test_paragraphs_keep_a_separator():
    text = ("Kim Jong Un welcomed the visit, the first in 24 years.\n\n"
            "Russian President in Pyongyang signed a mutual defence pact.")
    snippet = make_snippet({"text": text}, spans_of(text, "Pyongyang"))
    assert "in 24 years." + PARAGRAPH_SEPARATOR + "Russian President" in snippet
    assert "years. Russian" not in snippet
    assert "[[Pyongyang]]" in snippet


def test_a_separator_never_starts_or_ends_a_snippet():
    text = "First paragraph ends here.\n\nPyongyang opens the second one."
    snippet = make_snippet({"text": text}, spans_of(text, "Pyongyang"))
    assert not snippet.lstrip("…").startswith("\u00b6")
    assert snippet.startswith("First paragraph")


def test_snippet_cuts_at_word_boundaries():
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    text = " ".join(words * 30)
    i = text.index("hotel", 400)
    spans = [MatchSpan("text", i, i + 5, "hotel", "hotel")]
    snippet = make_snippet({"text": text}, spans, width=100)
    body = snippet.strip("…").replace("[[", "").replace("]]", "")
    first, last = body.split()[0], body.split()[-1]
    assert first in words and last in words, snippet
    assert snippet.startswith("…") and snippet.endswith("…")


def test_rendered_snippet_cut_ends_on_a_whole_word():
    snippet = "[[Pyongyang]] " + " ".join(["consequential"] * 50)
    segments = render.snippet_segments(snippet, limit=60)
    text = "".join(t for t, _ in segments)
    assert text.endswith("consequential" + render.ELLIPSIS), text
    assert len(text) <= 60
    assert segments[0] == ("Pyongyang", True)


def test_rendered_title_cut_ends_on_a_whole_word():
    assert render._cut("Russia and North Korea sign a mutual defence pact", 30) == \
        "Russia and North Korea sign a\u2026"
