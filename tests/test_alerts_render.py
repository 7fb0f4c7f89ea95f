"""Rendering of alerts and digests: what a reader sees in each channel, and Slack limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.alerts import render
from monitor.models import Alert
from tests.alert_fixtures import alert_with
from tests.servers import check_slack_limits


def make_alert(**changes) -> Alert:
    return alert_with(**changes)


def slack_texts(payload: dict) -> str:
    """All the mrkdwn/plain text in a Slack payload, joined."""
    out = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        for f in block.get("fields", []):
            out.append(f["text"])
        for e in block.get("elements", []):
            out.append(e.get("text", ""))
    return "\n".join(out)


# ------------------------------------------------------------------------------ text


def test_text_shows_every_field_and_bolds_matches():
    text = render.render_text(make_alert())
    assert "Pyongyang and Moscow sign mutual defence pact" in text
    assert "North Korea defence pact (nk-pact)" in text
    assert "Example News" in text
    assert "2024-05-01 09:30 UTC" in text
    assert "mutual defence; pact" in text
    assert "Leaders signed a **mutual defence** **pact** on Tuesday" in text
    assert "https://news.example.org/world/2024/05/01/pact?ref=rss&lang=en" in text
    assert "[[" not in text


def test_unknown_date_is_said_plainly():
    alert = make_alert(published=None)
    assert "Published: date unknown" in render.render_text(alert)
    assert "date unknown" in render.render_html(alert)
    assert "date unknown" in slack_texts(render.render_slack(alert))
    assert render.render_webhook(alert)["published"] is None


def test_non_utc_date_keeps_its_offset():
    tz = timezone(timedelta(hours=9))
    alert = make_alert(published=datetime(2024, 5, 1, 18, 30, tzinfo=tz))
    assert "2024-05-01 18:30 UTC+09:00" in render.render_text(alert)


# ------------------------------------------------------------------------------ HTML


def test_html_escapes_everything_but_its_own_markup():
    alert = make_alert(
        title="<script>alert('x')</script> & friends",
        watch_name="A <b>bold</b> watch",
        source="Src <i>",
        snippet="before [[<img src=x onerror=alert(1)>]] after & more",
        url='https://ex.org/a?x=1&y="2"',
    )
    html = render.render_html(alert)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in html
    assert "A &lt;b&gt;bold&lt;/b&gt; watch" in html
    assert "<img" not in html
    assert "<mark><b>&lt;img src=x onerror=alert(1)&gt;</b></mark>" in html
    assert 'href="https://ex.org/a?x=1&amp;y=&#34;2&#34;"' in html


def test_html_marks_matches():
    html = render.render_html(make_alert())
    assert "<mark><b>mutual defence</b></mark> <mark><b>pact</b></mark>" in html
    assert "2024-05-01 09:30 UTC" in html


# --------------------------------------------------------------------------- subject


def test_subject_format():
    assert (render.render_subject(make_alert())
            == "[monitor] North Korea defence pact: Pyongyang and Moscow sign mutual "
               "defence pact")


def test_subject_is_one_short_line_for_a_huge_title():
    subject = render.render_subject(make_alert(title="Breaking\nnews " + "word " * 200,
                                               watch_name="W" * 500))
    assert len(subject) <= render.MAX_SUBJECT_CHARS
    assert "\n" not in subject
    assert subject.startswith("[monitor] WWW")
    assert subject.endswith(render.ELLIPSIS)


def test_digest_subject_counts_alerts():
    alerts = [make_alert(alert_id=i) for i in range(3)]
    assert render.render_digest_subject(alerts, "Morning digest") == \
        "[monitor] Morning digest (3 alerts)"
    assert render.render_digest_subject(alerts[:1], "x").endswith("(1 alert)")


def test_message_id_is_stable_and_distinct():
    a = make_alert()
    assert render.message_id(a, "ex.org") == render.message_id(make_alert(), "ex.org")
    assert render.message_id(a, "ex.org").startswith("<alert.42.")
    assert render.message_id(a, "ex.org").endswith("@ex.org>")
    assert render.message_id(a, "ex.org") != render.message_id(
        make_alert(alert_id=43), "ex.org")
    # Same outbox id from a recreated database, different article: different id.
    assert render.message_id(a, "ex.org") != render.message_id(
        make_alert(url="https://other.example/"), "ex.org")


# ----------------------------------------------------------------------------- snippet


def test_snippet_segments():
    assert render.snippet_segments("a [[b]] c") == [("a ", False), ("b", True), (" c", False)]
    # An unclosed marker stays literal; whitespace is normalised.
    assert render.snippet_segments("x  [[y\n z") == [("x [[y z", False)]
    assert render.snippet_segments("") == []
    assert render.snippet_text("a [[b]]  c") == "a b c"


def test_long_snippet_is_cut_with_ellipsis():
    segs = render.snippet_segments("x" * 5000 + " [[hit]]", limit=100)
    text = "".join(t for t, _ in segs)
    assert len(text) == 100 and text.endswith(render.ELLIPSIS)


# ----------------------------------------------------------------------------- Slack


def test_slack_payload_shows_alert_in_mrkdwn():
    payload = render.render_slack(make_alert(title="Q&A: <Kim> & Putin"))
    assert check_slack_limits(payload) is None
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == (
        "*<https://news.example.org/world/2024/05/01/pact?ref=rss&amp;lang=en"
        "|Q&amp;A: &lt;Kim&gt; &amp; Putin>*")
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*Watch*\nNorth Korea defence pact (nk-pact)", "*Source*\nExample News",
                      "*Published*\n2024-05-01 09:30 UTC",
                      "*Matched*\nmutual defence; pact"]
    assert blocks[2]["text"]["text"] == (
        ">Leaders signed a *mutual defence* *pact* on Tuesday, officials said.")
    assert "North Korea defence pact: Q&amp;A: &lt;Kim&gt; &amp; Putin" in payload["text"]
    assert payload["unfurl_links"] is False


def test_slack_escapes_snippet_text():
    payload = render.render_slack(make_alert(snippet="a < b && [[c > d]] <!channel>"))
    quote = payload["blocks"][2]["text"]["text"]
    assert quote == ">a &lt; b &amp;&amp; *c &gt; d* &lt;!channel&gt;"


def test_slack_payload_within_limits_for_huge_fields():
    huge = make_alert(
        title="&" * 20_000,
        watch_name="<" * 5000,
        source="S" * 5000,
        terms=tuple(f"term{i}" for i in range(2000)),
        snippet=" ".join("[[&hit&]] filler & <text>" for _ in range(3000)),
        url="https://ex.org/" + "p" * 5000,
    )
    payload = render.render_slack(huge)
    assert check_slack_limits(payload) is None
    assert len(payload["text"]) <= render.SLACK_MAX_TEXT_CHARS
    for block in payload["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= render.SLACK_MAX_SECTION_CHARS
            # Cutting never leaves half an entity such as "&am".
            assert not block["text"]["text"].rstrip(render.ELLIPSIS + "*>").endswith("&am")
        for f in block.get("fields", []):
            assert len(f["text"]) <= render.SLACK_MAX_FIELD_CHARS
    assert len(json.dumps(payload)) < 40_000


def test_slack_digest_respects_block_and_size_limits():
    alerts = [make_alert(alert_id=i, title=f"Story {i} " + "x" * 250,
                         snippet="[[pact]] " + "y" * 2000) for i in range(200)]
    payload = render.render_digest_slack(alerts, "Daily digest " + "z" * 300)
    assert check_slack_limits(payload) is None
    blocks = payload["blocks"]
    assert len(blocks) <= render.SLACK_MAX_BLOCKS
    assert blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= render.SLACK_MAX_HEADER_CHARS
    assert blocks[1]["elements"][0]["text"] == "200 alerts"
    shown = sum(1 for b in blocks if b["type"] == "section")
    assert 0 < shown < 200
    assert blocks[-1]["elements"][0]["text"] == f"… and {200 - shown} more alerts not shown"
    assert len(slack_texts(payload)) <= render.SLACK_MAX_BLOCKS_CHARS + 3000


def test_slack_digest_with_long_urls_stays_within_section_limit():
    alerts = [make_alert(alert_id=i, url="https://ex.org/?q=" + "a&" * 900,
                         snippet="[[x]] " * 2000) for i in range(5)]
    payload = render.render_digest_slack(alerts, "Digest")
    assert check_slack_limits(payload) is None
    assert sum(1 for b in payload["blocks"] if b["type"] == "section") == 5


def test_slack_digest_small():
    alerts = [make_alert(alert_id=1), make_alert(alert_id=2, title="Second story",
                                                 published=None)]
    payload = render.render_digest_slack(alerts, "Morning digest")
    text = slack_texts(payload)
    assert payload["text"] == "Morning digest: 2 alerts"
    assert "|Second story>*" in text and "date unknown" in text
    assert "*mutual defence* *pact*" in text
    assert "more alerts not shown" not in text


# --------------------------------------------------------------------------- webhook


def test_webhook_payload_carries_fields_unchanged():
    alert = make_alert()
    body = render.render_webhook(alert)
    assert body == {
        "kind": "alert", "alert_id": 42, "watch_id": "nk-pact",
        "watch_name": "North Korea defence pact",
        "title": "Pyongyang and Moscow sign mutual defence pact",
        "url": alert.url, "source": "Example News", "outlet": None,
        "published": "2024-05-01T09:30:00+00:00",
        "terms": ["mutual defence", "pact"], "matched": [],
        "snippet": alert.snippet,
        "snippet_text": "Leaders signed a mutual defence pact on Tuesday, officials said.",
    }
    json.dumps(body)  # JSON-ready


def test_digest_renderings_list_every_alert():
    alerts = [make_alert(alert_id=1), make_alert(alert_id=2, title="Second <story>")]
    text = render.render_digest_text(alerts, "Morning digest")
    html = render.render_digest_html(alerts, "Morning digest")
    hook = render.render_digest_webhook(alerts, "Morning digest")
    assert text.startswith("Morning digest\n2 alerts\n")
    assert "1. Pyongyang and Moscow" in text and "2. Second <story>" in text
    assert "**pact**" in text
    assert "Second &lt;story&gt;" in html and "<mark><b>pact</b></mark>" in html
    assert html.count("<li") == 2
    assert hook["kind"] == "digest" and hook["count"] == 2
    assert [a["alert_id"] for a in hook["alerts"]] == [1, 2]


@pytest.mark.parametrize("renderer", [render.render_text, render.render_html,
                                      render.render_slack, render.render_webhook])
def test_empty_snippet_and_terms_render(renderer):
    renderer(make_alert(snippet="", terms=(), title=""))
