"""Decoding in the WHATWG order (BOM, transport header, meta in the first 1,024 bytes or
later in the head, detection), and pages whose declared and real charsets disagree
decoded so that watch terms match."""

from __future__ import annotations

import pytest

from monitor.extract import extract
from monitor.extract.decode import declared_in_head, decode_body
from monitor.matching.adhoc import compile_query
from monitor.models import Article, Page

TEXT = ("<p>Zürich und Genève: die Straßenbahn fährt wieder, sagte die Bürgermeisterin "
        "am Montag – nach zwölf Wochen Bauzeit und „vielen Beschwerden“ der Anwohner.</p>"
        "<p>Die Œuvre-Ausstellung im Museum öffnet am Freitag, der Eintritt für Schüler "
        "ist frei, und die Cafés am See haben bis Mitternacht geöffnet.</p>"
        "<p>Die Stadt rechnet mit Tausenden Besuchern aus der Region und aus Frankreich, "
        "die Polizei kündigte zusätzliche Streifen für das Wochenende an.</p>")
WORDS = ["Zürich", "Genève", "Straßenbahn", "Œuvre", "Cafés", "„vielen Beschwerden“"]


def _page(body: bytes, content_type: str | None = None, encoding: str | None = None) -> Page:
    headers = {"content-type": content_type} if content_type else {}
    return Page(url="https://zeitung.example/stadt/tram", body=body, source="test",
                headers=headers, encoding=encoding)


def _html(head: str = "", text: str = TEXT) -> str:
    return (f"<!DOCTYPE html><html lang='de'><head>{head}<title>Tram fährt wieder</title>"
            f"</head><body><article><h1>Tram fährt wieder</h1>{text}</article></body></html>")


def _assert_words(text: str) -> None:
    for word in WORDS:
        assert word in text, (word, text[:200])


def test_meta_declaration_after_the_first_kilobytes_of_the_head():
    script = "<script>var config = {" + "'k': 'v', " * 600 + "};</script>"
    body = _html(script + "<meta charset='windows-1252'>").encode("cp1252")
    assert len(body.split(b"<meta")[0]) > 4096
    assert declared_in_head(body) == "cp1252"
    _assert_words(decode_body(_page(body)))


def test_http_equiv_declaration_later_in_the_head():
    style = "<style>" + "p { margin: 0 } " * 400 + "</style>"
    meta = "<meta http-equiv='Content-Type' content='text/html; charset=iso-8859-1'>"
    _assert_words(decode_body(_page(_html(style + meta).encode("cp1252"))))


def test_a_charset_in_the_body_is_not_a_declaration():
    body = _html(text=TEXT + "<p>&lt;meta charset=koi8-r&gt;</p><meta charset='koi8-r'>")
    assert declared_in_head(body.encode("utf-8")) is None


@pytest.mark.parametrize("bytes_in, header", [
    ("utf-8", "text/html; charset=iso-8859-1"),      # server default label on a UTF-8 page
    ("utf-8", "text/html; charset=windows-1251"),
    ("cp1252", "text/html; charset=utf-8"),          # legacy bytes labelled UTF-8
    ("cp1252", None),                                # no declaration at all
    ("iso-8859-15", None),
])
def test_declared_and_real_charset_disagree(bytes_in, header):
    text = TEXT if bytes_in != "iso-8859-15" else TEXT.replace("„", '"').replace("“", '"') \
        .replace("–", "-")
    body = _html(text=text).encode(bytes_in)
    out = decode_body(_page(body, header))
    for word in ("Zürich", "Genève", "Straßenbahn", "Cafés"):
        assert word in out


def test_stray_legacy_bytes_in_a_utf8_page():
    body = _html("<meta charset='utf-8'>").encode("utf-8").replace(
        b"</article>", "<p>Leserbrief: Caf\xe9 am Marktplatz</p></article>".encode("latin-1"))
    out = decode_body(_page(body))
    _assert_words(out)
    assert "Café am Marktplatz" in out


def test_byte_order_mark_wins_over_everything():
    body = b"\xef\xbb\xbf" + _html("<meta charset='iso-8859-1'>").encode("utf-8")
    _assert_words(decode_body(_page(body, "text/html; charset=windows-1252")))


def test_header_wins_over_meta_when_the_bytes_agree():
    body = _html("<meta charset='utf-8'>").encode("cp1252")
    _assert_words(decode_body(_page(body, "text/html; charset=windows-1252")))


@pytest.mark.parametrize("bytes_in, header", [
    ("utf-8", "text/html; charset=iso-8859-1"),
    ("cp1252", "text/html; charset=utf-8"),
    ("cp1252", None),
])
def test_watch_terms_match_after_decoding(bytes_in, header):
    result = extract(_page(_html().encode(bytes_in), header))
    assert isinstance(result, Article), result
    assert compile_query('Zürich AND "Straßenbahn fährt"').match(result) is not None
    assert compile_query("Genève").match(result) is not None
