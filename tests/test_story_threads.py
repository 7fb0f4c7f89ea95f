"""One thread per story: later outlets of a story already alerted are added to the first
alert's thread as "+N outlets: A, B, C" (an email reply, a Slack thread reply through
the Web API, a webhook ``update`` event, or a compact line in a Slack webhook's next
digest), at most one follow-up per story and channel in ``followup_every`` seconds.
Real local servers throughout: aiosmtpd, a Slack Web API look-alike, a JSON webhook."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from monitor.alerts import build_channel
from monitor.delivery import FOLLOWUP_EVERY, deliver_pending
from monitor.models import Article, Hit
from monitor.store import Store, utcnow
from tests.conftest import monitor_cmd, rss, seed_html, write_config
from tests.servers import SlackApiServer, WebhookServer

TEXT = ("Kim and Putin signed a mutual defence pact in Pyongyang on Wednesday, pledging "
        "to come to each other's aid if attacked, the two leaders said after talks that "
        "lasted most of the day. The agreement revives a Cold War treaty and was "
        "described by both sides as a breakthrough for their relations. Officials gave "
        "no details of what the pact commits either country to do in practice.")

#: "now" for delivery: later than every article saved by these tests (saved at the wall
#: clock), so their alerts are due: a month ahead, as the module is imported minutes
#: before its tests run in a full suite.
T0 = utcnow().replace(microsecond=0) + timedelta(days=30)


def _copy(n: int, outlet: str) -> Article:
    """Copy ``n`` of one wire story, as published by ``outlet`` under its own URL."""
    return Article(url=f"https://{outlet.lower()}.test/world/{n}",
                   request_url=f"https://{outlet.lower()}.test/world/{n}", source=outlet.lower(),
                   title="Putin and Kim sign mutual defence pact", text=TEXT, site_name=outlet)


def _hit() -> Hit:
    return Hit("rnk", "Russia and North Korea", ["Pyongyang"],
               snippet="a pact in [[Pyongyang]]", mode="immediate")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


@pytest.fixture
def slack_api():
    with SlackApiServer() as s:
        yield s


def _mail(smtp):
    return build_channel("email", "mail", host="127.0.0.1", port=smtp.port,
                         sender="monitor@news.test", recipients=["desk@news.test"],
                         security="none")


def test_a_later_outlet_is_an_email_reply_to_the_first_alert(store, smtp):
    channels = {"mail": _mail(smtp)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    assert deliver_pending(store, channels, now=T0).sent == 1
    saved = store.save_article(_copy(2, "CBC"), [_hit()], channels, now=T0)
    assert (saved.new_story, saved.alerts_queued, saved.followups_queued) == (False, 0, 1)
    report = deliver_pending(store, channels, now=T0 + timedelta(seconds=5))
    assert (report.sent, report.followups) == (0, 1)
    first, reply = smtp.wait_for(2)
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert reply["References"] == first["Message-ID"]
    assert reply["Message-ID"] != first["Message-ID"]
    assert reply["Subject"] == "Re: " + first["Subject"]
    text = reply.get_body(("plain",)).get_content()
    assert "+1 outlet: CBC" in text and "https://cbc.test/world/2" in text
    # sent once: the next pass has nothing more
    assert deliver_pending(store, channels, now=T0 + timedelta(hours=1)).followups == 0
    assert len(smtp.messages) == 2


def test_follow_ups_are_rate_limited_per_story_and_gather_the_outlets_meanwhile(store, smtp):
    channels = {"mail": _mail(smtp)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    deliver_pending(store, channels, now=T0)
    store.save_article(_copy(2, "CBC"), [_hit()], channels)
    assert deliver_pending(store, channels, now=T0 + timedelta(seconds=1)).followups == 1
    store.save_article(_copy(3, "BBC"), [_hit()], channels)
    store.save_article(_copy(4, "NHK"), [_hit()], channels)
    # within the 10 minutes after the last follow-up: nothing, the outlets wait
    almost = T0 + timedelta(seconds=1 + FOLLOWUP_EVERY - 1)
    assert deliver_pending(store, channels, now=almost).followups == 0
    assert len(smtp.messages) == 2
    report = deliver_pending(store, channels, now=T0 + timedelta(seconds=1 + FOLLOWUP_EVERY))
    assert report.followups == 1
    first, _, gathered = smtp.wait_for(3)
    assert gathered["In-Reply-To"] == first["Message-ID"]
    assert "+2 outlets: BBC, NHK" in gathered.get_body(("plain",)).get_content()


def test_no_follow_up_before_the_first_alert_went_out(store, smtp):
    channels = {"mail": _mail(smtp)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    store.save_article(_copy(2, "CBC"), [_hit()], channels)
    # one pass: the alert first, then its thread gets the follow-up
    report = deliver_pending(store, channels, now=T0)
    assert (report.sent, report.followups) == (1, 1)
    first, reply = smtp.wait_for(2)
    assert "X-Monitor-Alert-Id" in first and reply["In-Reply-To"] == first["Message-ID"]


def test_slack_with_a_bot_token_replies_in_the_thread_of_the_first_post(store, slack_api):
    channels = {"slack": build_channel("slack", "slack", bot_token=slack_api.token,
                                       channel=slack_api.channel, api_url=slack_api.api_url)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    assert deliver_pending(store, channels, now=T0).sent == 1
    store.save_article(_copy(2, "CBC"), [_hit()], channels)
    store.save_article(_copy(3, "BBC <!channel>"), [_hit()], channels)
    assert deliver_pending(store, channels, now=T0 + timedelta(seconds=1)).followups == 1
    first, reply = slack_api.wait_for(2)
    assert "thread_ts" not in first
    assert reply["thread_ts"] == first["_ts"]
    assert reply["channel"] == slack_api.channel
    assert reply["text"].startswith("+2 outlets: CBC, BBC &lt;!channel&gt;")
    assert "<!channel>" not in str(reply)              # a mention from a page stays inert
    ts = store.db.execute("select ref from threads").fetchone()[0]
    assert ts == first["_ts"]
    auth = {r.headers.get("Authorization") for r in slack_api.requests}
    assert auth == {f"Bearer {slack_api.token}"}


def test_slack_web_api_refusal_is_a_permanent_failure_with_its_error_code(store, slack_api):
    channels = {"slack": build_channel("slack", "slack", bot_token="xoxb-wrong",
                                       channel=slack_api.channel, api_url=slack_api.api_url)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    report = deliver_pending(store, channels, now=T0)
    assert report.dead == 1 and "invalid_auth" in report.errors[0]
    assert "xoxb-wrong" not in report.errors[0]


def test_slack_webhook_without_a_bot_carries_follow_ups_in_its_next_digest(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    deliver_pending(store, channels, now=T0)
    store.save_article(_copy(2, "CBC"), [_hit()], channels)
    # no thread without a bot token: nothing goes out on its own
    assert deliver_pending(store, channels, now=T0 + timedelta(seconds=1)).followups == 0
    assert len(slack.posts) == 1
    report = deliver_pending(store, channels, digests=True, now=T0 + timedelta(seconds=2))
    assert report.followups == 1
    _, digest = slack.wait_for(2)
    alert_id = store.db.execute("select min(id) from outbox").fetchone()[0]
    assert "New outlets on 1 story" in digest["text"]
    assert f"Alert {alert_id} \u201cPutin and Kim sign mutual defence pact\u201d: +1 outlet: " \
           "CBC" in str(digest["blocks"])
    assert deliver_pending(store, channels, digests=True,
                           now=T0 + timedelta(hours=1)).followups == 0


def test_webhook_gets_an_update_event_naming_the_story(store):
    with WebhookServer() as hook:
        channels = {"hook": build_channel("webhook", "hook", url=hook.url)}
        first = store.save_article(_copy(1, "Reuters"), [_hit()], channels)
        deliver_pending(store, channels, now=T0)
        store.save_article(_copy(2, "CBC"), [_hit()], channels)
        assert deliver_pending(store, channels, now=T0 + timedelta(seconds=1)).followups == 1
        alert, update = hook.wait_for(2)
        assert alert["kind"] == "alert"
        assert update["event"] == "update" and update["kind"] == "update"
        assert update["story_id"] == first.story_id
        assert update["alert_id"] == alert["alert_id"]
        assert (update["added"], update["outlets"]) == (1, ["CBC"])
        assert update["urls"] == ["https://cbc.test/world/2"]
        keys = [r.headers.get("Idempotency-Key") for r in hook.requests]
        assert keys[1].startswith(f"update-{alert['alert_id']}-")


def test_a_muted_story_gets_no_follow_ups(store, smtp):
    channels = {"mail": _mail(smtp)}
    first = store.save_article(_copy(1, "Reuters"), [_hit()], channels)
    deliver_pending(store, channels, now=T0)
    store.mute("story", str(first.story_id))
    saved = store.save_article(_copy(2, "CBC"), [_hit()], channels)
    assert saved.followups_queued == 0


# ------------------------------------------------------------------ end to end


def _near_copy(outlet: str, sentence: str) -> bytes:
    """The seed page as another outlet publishes it: its own name, no canonical link to
    the original, one sentence of its own at the end."""
    html = seed_html("cbc-news_2024-06-19")
    html = (html.replace(b'rel="canonical"', b'rel="x-canonical"')
            .replace(b'property="og:url"', b'property="x-og-url"')
            .replace(b"mainEntityOfPage", b"x")
            .replace(b'content="CBC"', f'content="{outlet}"'.encode())
            .replace(b'"name": "CBC"', f'"name": "{outlet}"'.encode()))
    return html.replace(b"</article>", f"<p>{sentence}</p></article>".encode(), 1)


def test_a_story_carried_by_three_outlets_arrives_as_one_thread(tmp_path, smtp):
    """`monitor crawl` against three local sites (their own ports and paths) carrying
    near-copies of one story: one alert per channel, the other outlets in its thread."""
    from tests.servers import SiteServer

    robots = {"/robots.txt": (200, "text/plain", b"User-agent: *\nAllow: /\n")}
    with SiteServer(dict(robots)) as a, SiteServer(dict(robots)) as b, \
            SiteServer(dict(robots)) as c, SlackApiServer() as api, WebhookServer() as hook:
        sources = []
        for site, path, outlet in ((a, "/news/russia-north-korea.html", "CBC"),
                                   (b, "/world/2024/06/19/putin-kim-pact", "Globe Wire"),
                                   (c, "/story/123456.html", "Pacific Herald")):
            site.set(path, _near_copy(outlet, f"Reporting by the {outlet} desk."))
            site.set("/rss.xml", rss([("Russia, North Korea pact", site.url(path))]),
                     content_type="application/rss+xml")
            sources.append({"name": outlet.lower().replace(" ", "-"), "kind": "feed",
                            "url": site.url("/rss.xml")})
        channels = [
            {"kind": "email", "name": "desk-mail", "host": "127.0.0.1", "port": smtp.port,
             "security": "none", "sender": "monitor@test.invalid",
             "recipients": ["desk@test.invalid"]},
            {"kind": "slack", "name": "newsroom", "bot_token_env": "TEST_SLACK_BOT",
             "channel": api.channel, "api_url": api.api_url},
            {"kind": "webhook", "name": "hook", "url": hook.url}]
        cfg = write_config(tmp_path / "monitor.yaml", channels=channels, sources=sources,
                           extraction={"workers": 0})
        run = monitor_cmd("-c", str(cfg), "crawl", env={"TEST_SLACK_BOT": api.token})
        assert run.returncode == 0, run.stderr

        db = sqlite3.connect(tmp_path / "monitor.db")
        stories = db.execute("select count(distinct story_id), count(*) from articles "
                             "where story_id is not null").fetchone()
        assert stories == (1, 3)                  # three outlets, one story
        assert db.execute("select count(*) from outbox").fetchone()[0] == 3
        outlets = {r[0] for r in db.execute(
            "select a.site_name from followups f join articles a on a.id = f.article_id "
            "where f.channel = 'desk-mail'")}
        first_outlet = db.execute(
            "select a.site_name from outbox o join hits h on h.id = o.hit_id join "
            "articles a on a.id = h.article_id where o.channel = 'desk-mail'").fetchone()[0]
        assert outlets | {first_outlet} == {"CBC", "Globe Wire", "Pacific Herald"}
        pending = db.execute("select count(*) from followups where status = 'pending'"
                             ).fetchone()[0]
        db.close()

        # every channel: one top-level alert, every follow-up in its thread
        mails = smtp.wait_for(2, timeout=10)
        assert len([m for m in mails if m["In-Reply-To"] is None]) == 1
        assert all(m["In-Reply-To"] == mails[0]["Message-ID"] for m in mails[1:])
        posts = api.wait_for(2, timeout=10)
        assert posts[0].get("thread_ts") is None
        assert all(p["thread_ts"] == posts[0]["_ts"] for p in posts[1:])
        events = hook.wait_for(2, timeout=10)
        assert events[0]["kind"] == "alert"
        assert {e["kind"] for e in events[1:]} == {"update"}
        # the follow-ups sent and those still waiting for the rate limit add up to the
        # two other outlets, on each channel
        shown = [o for m in mails[1:] for o in (
            "CBC", "Globe Wire", "Pacific Herald") if o in m.get_body(("plain",)).get_content()]
        assert len(shown) + pending // 3 == 2
