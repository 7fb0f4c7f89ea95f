"""Parse a decoded page into the one lxml tree every extraction step reads.

:func:`parse_html` builds the same tree as trafilatura's ``load_html`` (its parser, its
repairs of faulty markup), for less CPU on the common page:

- the text is handed to libxml2 as UTF-8 bytes: libxml2 reads a Python ``str`` through
  an encoding converter (UCS-2/UCS-4 to UTF-8), which made the parse of a corpus page
  about 1.8 times slower than the parse of the same page as UTF-8;
- characters that XML forbids (C0 controls, U+FFFE, U+FFFF), which ``load_html``
  removes with a regex over the whole text (about 1 ms for a 300 KB page), are looked
  for in the UTF-8 bytes in C; a page that has one goes to ``load_html``.

Anything unusual (a parse that gives no tree or an almost empty one, text that does not
start like HTML) is handed to ``load_html`` itself, so that such pages get exactly its
answer and its log messages (see ``monitor.extract.liblogs``).
"""

from __future__ import annotations

from lxml.html import HtmlElement, fromstring
from trafilatura.utils import (
    DOCTYPE_TAG,
    FAULTY_HTML,
    HTML_PARSER,
    is_dubious_html,
    load_html,
)

# bytes.translate(None, _NOT_C0_INVALID) keeps only the C0 control bytes that XML
# forbids (every byte but 0x00-0x08, 0x0B, 0x0C, 0x0E-0x1F is deleted); in UTF-8 these
# bytes stand only for themselves
_NOT_C0_INVALID = bytes(b for b in range(256)
                        if not (b <= 0x08 or b in (0x0B, 0x0C) or 0x0E <= b <= 0x1F))
# U+FFFE and U+FFFF in UTF-8 (EF BF BE, EF BF BF), and what both start with
_NONCHARACTERS = ("\ufffe".encode(), "\uffff".encode())
_NONCHARACTER_LEAD = b"\xef\xbf"


def _has_invalid_chars(data: bytes) -> bool:
    """True when UTF-8 ``data`` holds a character ``INVALID_XML_CHARS`` matches."""
    if data.translate(None, _NOT_C0_INVALID):
        return True
    return _NONCHARACTER_LEAD in data and any(n in data for n in _NONCHARACTERS)


def parse_html(text: str) -> HtmlElement | None:
    """Parse a decoded page as trafilatura's ``load_html(text)`` does, for less CPU.

    Args:
        text: the decoded page (``monitor.extract.decode.decode_body``).

    Returns:
        The root ``<html>`` element, or None when the text cannot be parsed as HTML (then
        ``load_html`` has logged why, at ERROR, on the ``trafilatura.utils`` logger).
    """
    original, beginning = text, text[:50].lower()
    if is_dubious_html(beginning):
        return load_html(original)
    data = text.encode("utf-8", "surrogatepass")
    if _has_invalid_chars(data):
        return load_html(original)
    # load_html's repairs (trafilatura.utils.repair_faulty_html) but the regex over the
    # whole text, which finds nothing in this text
    if "doctype" in beginning:
        # DOCTYPE_TAG.sub on the first line, which is then joined to the rest by "\n"
        # (also when the text had no line break); no copy of the text when nothing changes
        end = text.find("\n")
        end = len(text) if end < 0 else end
        doctype = DOCTYPE_TAG.match(text, 0, end)
        if doctype is not None:
            text = text[doctype.end():end] + "\n" + text[end + 1:]
        elif end == len(text):
            text += "\n"
    for line in text[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            text = FAULTY_HTML.sub(r"\1>", text, count=1)
            break
    if text != original:
        data = text.encode("utf-8", "surrogatepass")
    try:
        tree = fromstring(data, parser=HTML_PARSER)
    except Exception:   # lxml refused it: load_html's answer and its log message
        return load_html(original)
    if tree is None or len(tree) < 1:
        return load_html(original)
    return tree
