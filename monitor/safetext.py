"""Alert text that shows what the page showed, and nothing that reorders it.

Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069)
change how the characters around them are displayed: a headline
``"invoice \\u202egnp.exe"`` shows as ``"invoice exe.png"``. They are removed from every
text of an alert (title, watch name, source, outlet, snippet, terms) before any
channel renders it. Other format characters stay: zero-width joiners hold emoji
sequences together (👩‍👩‍👧) and are part of several scripts, and the left-to-right and
right-to-left marks (U+200E, U+200F) only steer neutral characters.
"""

from __future__ import annotations

import re
from typing import Any

#: Bidi embeddings and overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI).
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def strip_bidi_controls(value: Any) -> Any:
    """Remove bidi embedding, override and isolate controls from text.

    Args:
        value: a string, or a tuple or list of them (nested), or anything else.

    Returns:
        The same kind of value with the controls removed from every string in it;
        values that are not text are returned as they are.
    """
    if isinstance(value, str):
        return BIDI_CONTROLS.sub("", value)
    if isinstance(value, (tuple, list)):
        return type(value)(strip_bidi_controls(v) for v in value)
    return value
