"""A headline reaches the reader as the page shows it: entities decoded once, encoded-word
look-alikes shown as typed (never decoded by the email package or a mail client), bidi
overrides removed from alert text, joiners of emoji sequences kept. Real SMTP and Slack
servers on 127.0.0.1."""

from __future__ import annotations

import html
import random

import pytest

from monitor.alerts import build_channel
from monitor.alerts.mail import build_message
from monitor.delivery import deliver_pending
from monitor.extract import extract
from monitor.models import Hit, Page
from monitor.store import Store

WORDS = ("harbour river council budget minister station railway school doctor market farmer "
         "bridge festival museum library tower airport storm flood drought election court judge "
         "teacher student factory engine village mountain island desert forest garden").split()
BODY = ("Zorblax observers logged the event at the harbour council meeting, and the "
        "minister answered questions from the press about the budget. " * 4)


def _body(key: str) -> str:
    """A text of its own per page (pages alike would be one story, alerted once)."""
    r = random.Random(key)
    return " ".join(" ".join(r.choice(WORDS) for _ in range(12)).capitalize() + "."
                    for _ in range(14)) + " Zorblax."
FAMILY = "\U0001F469\u200d\U0001F469\u200d\U0001F467"

#: headline as the page shows it -> how it is written in the HTML
HEADLINES = {
    "entities": "Zorblax &lt;b&gt;literal&lt;/b&gt; &amp;amp; report",
    "encword": "Zorblax =?utf-8?b?QmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?= news",
    "encoded-newline": "Zorblax =?UTF-8?Q?=0A?=Bcc: victim@example.org news",
    "rtl": "Zorblax \u202egnp.exe\u202c report",
    "zwj": f"Zorblax family {FAMILY} news",
    "flags": "Zorblax \U0001F3F3\ufe0f\u200d\U0001F308 and \u2764\ufe0f\u200d\U0001F525 news",
}


def _page(key: str, shown: str, extra: str = "") -> Page:
    written = html.escape(shown)
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{written}"
           f"</title><meta property='og:type' content='article'></head><body><article>"
           f"<h1>{written}</h1><p>{_body(key)}</p>{extra}</article></body></html>")
    return Page(url=f"https://news.test/{key}.html", body=doc.encode(), source="wire")


@pytest.mark.parametrize("key", sorted(HEADLINES))
def test_the_stored_title_is_the_headline_the_page_shows(key):
    article = extract(_page(key, HEADLINES[key]))
    assert article.title == HEADLINES[key]


def test_body_text_is_decoded_once():
    extra = "<p>The filter showed &amp;lt;script&amp;gt; and &amp;amp; literally, &lt;b&gt; too.</p>"
    article = extract(_page("body", "Zorblax body", extra))
    assert "showed &lt;script&gt; and &amp; literally, <b> too." in article.text


def test_json_ld_strings_are_decoded_once():
    doc = ("<!DOCTYPE html><html><head><script type='application/ld+json'>"
           '{"@type": "NewsArticle", "headline": "It&#039;s Zorblax &amp;lt;day&amp;gt;"}'
           f"</script></head><body><article><p>{BODY}</p></article></body></html>")
    article = extract(Page(url="https://news.test/ld.html", body=doc.encode(), source="w"))
    assert article.title == "It's Zorblax &lt;day&gt;"


def test_alerts_show_the_headline_as_typed_on_every_channel(tmp_path, smtp, slack):
    store = Store(tmp_path / "m.db")
    channels = {"mail": build_channel("email", "mail", host="127.0.0.1", port=smtp.port,
                                      sender="m@test.invalid", recipients=["d@test.invalid"],
                                      security="none"),
                "slack": build_channel("slack", "slack", webhook_url=slack.url)}
    for key, shown in HEADLINES.items():
        article = extract(_page(key, shown))
        store.save_article(article, [Hit("z", "Zorblax", ["Zorblax"], snippet="[[Zorblax]]")],
                           channels)
    report = deliver_pending(store, channels)
    assert report.sent == 2 * len(HEADLINES), report.errors
    subjects = {str(m["Subject"]) for m in smtp.wait_for(len(HEADLINES))}
    texts = [p["text"] for p in slack.wait_for(len(HEADLINES))]
    for key, shown in HEADLINES.items():
        expected = shown.replace("\u202e", "").replace("\u202c", "")   # bidi removed
        assert any(s.endswith(f": {expected}") for s in subjects), (key, subjects)
        assert any(expected in html.unescape(t) for t in texts), (key, texts)
    for message in smtp.messages:       # no header came out of a headline
        assert message["Bcc"] is None and message["Cc"] is None
        assert set(message.keys()) <= {
            "Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted",
            "X-Auto-Response-Suppress", "X-Monitor-Watch", "X-Monitor-Alert-Id",
            "MIME-Version", "Content-Type", "Content-Transfer-Encoding"}
    for payload in slack.posts:
        assert "\u202e" not in str(payload) and "\u202c" not in str(payload)
    # the database keeps what the page showed, override included
    titles = [r[0] for r in store.db.execute("select title from articles")]
    assert HEADLINES["rtl"] in titles
    store.close()


@pytest.mark.parametrize("subject", [
    "[monitor] w: =?utf-8?q?Bcc=3A_a=40b=2Ec?= news",
    "[monitor] w: a =?UTF-8?Q?=0A?=Bcc: victim@example.org b",
    "[monitor] w: line\u2028break\x85and\r\nmore",
    f"[monitor] w: caf\u00e9 =?iso-8859-1?q?caf=E9?= {FAMILY} " + "long " * 40,
])
def test_a_subject_is_read_back_as_written(subject):
    msg = build_message(subject, "text", "<p>html</p>", sender="m@test.invalid",
                        recipients=["d@test.invalid"], msg_id="<1@test.invalid>")
    import email
    import email.policy

    raw = msg.as_bytes()
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(back["Subject"]) == " ".join(subject.split())
    assert back["Bcc"] is None
    assert all(len(line) <= 998 for line in raw.split(b"\r\n") + raw.split(b"\n"))


def test_a_joiner_inside_a_word_is_still_dropped():
    # only joiners between emoji are kept: one inside a word would split it for watches
    article = extract(_page("inword", "Zor\u200dblax and Pyong\u200cyang"))
    assert article.title == "Zorblax and Pyongyang"
