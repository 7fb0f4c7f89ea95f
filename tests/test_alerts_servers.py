"""The reusable test servers in tests/servers.py behave as documented: what they add to
pytest-httpserver and aiosmtpd (route tables, scripted replies, waiting for arrivals,
Slack's answers), not what those libraries do themselves.

(They live beside the alert tests because other suites build on them: SiteServer serves
feeds and articles to the real Scrapy downloader.)
"""

from __future__ import annotations

import smtplib
import socket
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from tests.servers import (
    SLACK_PATH,
    Route,
    SiteServer,
    SlackApiServer,
    SlackServer,
    SmtpServer,
    WebhookServer,
)

LAST_MOD = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_site_serves_routes_and_404():
    with SiteServer({"/feed.xml": (200, "application/rss+xml", b"<rss/>")}) as site:
        r = httpx.get(site.url("/feed.xml"))
        assert (r.status_code, r.headers["content-type"], r.content) == (
            200, "application/rss+xml", b"<rss/>")
        assert httpx.get(site.url("/feed.xml?page=2")).content == b"<rss/>"
        assert httpx.get(site.url("/missing")).status_code == 404
        assert [(q.method, q.path) for q in site.requests] == [
            ("GET", "/feed.xml"), ("GET", "/feed.xml?page=2"), ("GET", "/missing")]


def test_site_etag_conditional_get_and_head():
    with SiteServer({"/a": (200, "text/html", b"<p>v1</p>", {"ETag": '"v1"'})}) as site:
        first = httpx.get(site.url("/a"))
        assert first.headers["etag"] == '"v1"'
        again = httpx.get(site.url("/a"), headers={"If-None-Match": '"v1"'})
        assert again.status_code == 304 and again.content == b""
        weak = httpx.get(site.url("/a"), headers={"If-None-Match": 'W/"v0", W/"v1"'})
        assert weak.status_code == 304
        site.set("/a", b"<p>v2</p>", content_type="text/html", etag='"v2"')  # while running
        changed = httpx.get(site.url("/a"), headers={"If-None-Match": '"v1"'})
        assert changed.status_code == 200 and changed.content == b"<p>v2</p>"
        head = httpx.head(site.url("/a"))
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(b"<p>v2</p>"))
        assert site.requests[0].headers.get("if-none-match") is None
        assert site.requests[1].headers["if-none-match"] == '"v1"'


def test_site_last_modified_conditional_get():
    stamp = format_datetime(LAST_MOD, usegmt=True)
    with SiteServer() as site:
        site["/s.xml"] = Route(body=b"<urlset/>", content_type="application/xml",
                               headers={"Last-Modified": stamp})
        r = httpx.get(site.url("/s.xml"))
        assert r.headers["last-modified"] == "Wed, 01 May 2024 12:00:00 GMT"
        same = httpx.get(site.url("/s.xml"), headers={"If-Modified-Since": r.headers[
            "last-modified"]})
        assert same.status_code == 304
        older = format_datetime(LAST_MOD - timedelta(hours=1), usegmt=True)
        assert httpx.get(site.url("/s.xml"),
                         headers={"If-Modified-Since": older}).status_code == 200


def test_site_redirect_and_wait_for():
    with SiteServer({"/old": (301, "text/plain", b"", {"Location": "/new"}),
                     "/new": (200, "text/plain", b"here")}) as site:
        r = httpx.get(site.url("/old"), follow_redirects=True)
        assert r.content == b"here"
        assert len(site.wait_for(1, path="/new", method="GET")) == 1
        with pytest.raises(TimeoutError, match="got 0"):
            site.wait_for(1, timeout=0.05, path="/never")


def test_wait_for_wakes_on_arrival_without_polling():
    with SlackServer() as server:
        threading.Timer(0.05, lambda: httpx.post(server.url, json={"text": "x"})).start()
        assert server.wait_for(1, timeout=5) == [{"text": "x"}]


def test_servers_release_their_ports():
    with SiteServer() as site, SlackServer() as slack, SmtpServer() as smtp, \
            SlackApiServer() as api:
        ports = [site.port, slack.port, smtp.port, api.port]
        assert all(ports) and len(set(ports)) == 4
    for port in ports:
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(1)
            s.connect(("127.0.0.1", port))


def test_webhook_server_not_found_and_bad_json():
    with WebhookServer(path="/hook") as server:
        assert httpx.post(server.base_url + "/other", json={}).status_code == 404
        assert httpx.post(server.url, content=b"{not json").status_code == 400
        assert httpx.get(server.url).status_code == 405
        assert server.posts == []
        assert len(server.requests) == 3


def test_smtp_server_scripted_replies():
    with SmtpServer(data_replies=["452 4.3.1 Out of space"]) as server:
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            with pytest.raises(smtplib.SMTPDataError):
                client.sendmail("a@ex.org", ["b@ex.org"], b"Subject: 1\r\n\r\nx")
            client.sendmail("a@ex.org", ["b@ex.org"], b"Subject: 2\r\n\r\ny")
        (msg,) = server.wait_for(1)
        assert msg["Subject"] == "2"


def test_slack_server_refuses_what_slack_sdk_refuses():
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with SlackServer() as slack:
        assert httpx.post(slack.url, json={"blocks": [section]}).text == "ok"
        refused = httpx.post(slack.url, json={"text": "t", "blocks": [too_long]})
        assert (refused.status_code, refused.text) == (400, "invalid_blocks")
        assert httpx.post(slack.url, json={"blocks": []}).text == "no_text"
        missing = httpx.post(slack.base_url + SLACK_PATH + "x", json={"text": "t"})
        assert (missing.status_code, missing.text) == (404, "no_service")
        assert len(slack.posts) == 3


def test_slack_api_server_answers_like_chat_post_message():
    with SlackApiServer(token="xoxb-1", channel="C1") as api:
        url = api.api_url + "/chat.postMessage"

        def post(token: str = "xoxb-1", **payload) -> dict:
            return httpx.post(url, json={"channel": "C1", **payload},
                              headers={"Authorization": f"Bearer {token}"}).json()

        first = post(text="story")
        assert first["ok"] and first["channel"] == "C1"
        assert post(text="+1 outlet", thread_ts=first["ts"])["ok"]
        assert post(text="+1", thread_ts="1700000000.999999") == {
            "ok": False, "error": "thread_not_found"}
        assert post(token="xoxb-2", text="x") == {"ok": False, "error": "invalid_auth"}
        assert post(channel="C2", text="x")["error"] == "channel_not_found"
        assert post(blocks=[{"type": "header", "text": {
            "type": "plain_text", "text": "h" * 151}}])["error"] == "invalid_blocks"
        posts = api.posts
    assert [p["text"] for p in posts] == ["story", "+1 outlet"]
    assert posts[1]["thread_ts"] == posts[0]["_ts"] == first["ts"]
