"""Markup from article text stays inert in every channel: Slack mentions (<!channel>,
<!here>, <@U123>), Slack link markup, Markdown links; and a long title full of & < >
still gives Slack a non-empty notification text (case R5). Real local servers."""

from __future__ import annotations

import io
import json
import re

from monitor.alerts import build_channel, render
from tests.alert_fixtures import alert_with
from tests.servers import SlackServer, SmtpServer, WebhookServer

HOSTILE = ("Vote <!channel> <!here> <@U123> <#C042> @everyone "
           "<https://evil.example/login|click here> [docs](https://evil.example/x)")
ALERT = alert_with(title=HOSTILE, snippet=f"Leaders said [[pact]] {HOSTILE}",
                   source="Wire <!here>")
LIVE = ("<!channel>", "<!here>", "<@U123>", "<#C042>", "<https://evil.example")


def _slack_strings(payload) -> list[str]:
    if isinstance(payload, dict):
        return [s for v in payload.values() for s in _slack_strings(v)]
    if isinstance(payload, list):
        return [s for v in payload for s in _slack_strings(v)]
    return [payload] if isinstance(payload, str) else []


def test_slack_gets_no_mention_and_no_link_but_the_article_s():
    with SlackServer() as slack:
        channel = build_channel("slack", "newsroom", webhook_url=slack.url)
        channel.send(ALERT)
        channel.send_digest([ALERT, alert_with(alert_id=43, title=HOSTILE)], "2 new hits")
        posts = slack.wait_for(2)
    for post in posts:
        text = "\n".join(_slack_strings(post))
        for live in LIVE:
            assert live not in text, (live, text)
        # the only link markup is the article's own link
        assert set(re.findall(r"<([^>|]*)\|", text)) <= {ALERT.url.replace("&", "&amp;")}
        assert "&lt;!channel&gt;" in text       # shown as written, escaped


def test_email_shows_the_text_and_its_html_part_has_no_link_or_tag_from_it():
    with SmtpServer() as smtp:
        channel = build_channel("email", "mail", host="127.0.0.1", port=smtp.port,
                                sender="m@test.invalid", recipients=["d@test.invalid"],
                                security="none")
        channel.send(ALERT)
        [message] = smtp.wait_for(1)
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<!channel>" in plain                 # plain text shows it as it was written
    assert "evil.example" not in " ".join(re.findall(r'href="([^"]*)"', html))
    for live in LIVE:
        assert live not in html
    assert "&lt;!channel&gt;" in html
    assert message.get_all("Bcc") is None and message["To"] == "d@test.invalid"


def test_webhook_carries_the_text_as_json_data_only():
    with WebhookServer() as server:
        build_channel("webhook", "ops", url=server.url).send(ALERT)
        [post] = server.wait_for(1)
    assert post["title"] == HOSTILE and post["url"] == ALERT.url
    assert json.loads(json.dumps(post)) == post


def test_console_prints_the_text_on_its_own_lines():
    out = io.StringIO()
    build_channel("console", "console", stream=out).send(ALERT)
    text = out.getvalue()
    assert HOSTILE in text and "\x1b" not in text


def test_r5_a_long_title_of_escaped_characters_gives_a_non_empty_cut_slack_text():
    # ../shared/cases/R5: a 5,407-character title of "budget & <debate>" repeats
    title = ("budget & <debate> " * 301)[:5407]
    payload = render.render_slack(alert_with(title=title, url="https://council.example/"
                                             + "x" * 1500, watch_name="w" * 560))
    text = payload["text"]
    assert 0 < len(text) <= render.SLACK_MAX_TEXT_CHARS
    assert text.endswith("\u2026") or text.endswith("\u2026)")
    assert "budget &amp; &lt;debate&gt;" in text
    first = payload["blocks"][0]["text"]["text"]
    assert "https://council.example/" in first and len(first) <= render.SLACK_MAX_SECTION_CHARS
