"""From a news source to an alert, end to end: the real Scrapy downloader against a local
site, the real pipeline, a real SQLite file, a real SMTP server and a Slack look-alike."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.conftest import monitor_cmd, rss, seed_html, write_config

SEED = "cbc-news_2024-06-19"
CONTROL = "kitchen-ledger_2024-03-02"


def _counts(db) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("articles", "hits", "outbox")}
    finally:
        conn.close()


def _site_with_feed(site) -> str:
    site.set("/news/russia-north-korea.html", seed_html(SEED))
    site.set("/food/sourdough.html", seed_html(CONTROL))
    site.set("/world/rss.xml", rss([
        ("Russia, North Korea say they've strengthened ties", site.url("/news/russia-north-korea.html")),
        ("Why your sourdough starter smells like nail varnish", site.url("/food/sourdough.html")),
    ]), content_type="application/rss+xml", etag='"feed-v1"')
    return site.url("/world/rss.xml")


def _channels(smtp) -> list[dict]:
    return [{"kind": "console", "name": "console"},
            {"kind": "email", "name": "desk-mail", "host": "127.0.0.1", "port": smtp.port,
             "security": "none", "sender": "monitor@test.invalid",
             "recipients": ["desk@test.invalid"]},
            {"kind": "slack", "name": "newsroom", "webhook_url_env": "TEST_SLACK_WEBHOOK"}]


@pytest.mark.parametrize("workers", [None, 0], ids=["extract-in-processes", "extract-in-thread"])
def test_crawl_stores_both_articles_hits_once_and_alerts_once(tmp_path, site, smtp, slack,
                                                              workers):
    feed = _site_with_feed(site)
    cfg = write_config(tmp_path / "monitor.yaml", channels=_channels(smtp),
                       sources=[{"name": "local-world", "kind": "feed", "url": feed}],
                       extraction={"workers": workers})
    env = {"TEST_SLACK_WEBHOOK": slack.url}

    first = monitor_cmd("-c", str(cfg), "crawl", env=env)
    assert first.returncode == 0, first.stderr

    db = sqlite3.connect(tmp_path / "monitor.db")
    db.row_factory = sqlite3.Row
    articles = {r["source"] + ":" + r["title"]: r for r in db.execute("select * from articles")}
    assert len(articles) == 2
    seed = next(r for r in articles.values() if "North Korea" in r["title"])
    control = next(r for r in articles.values() if "sourdough" in r["title"])
    assert "mutual defence pledge" in seed["text"]
    assert "Kumsusan Palace" in seed["text"]
    assert "Related Stories" not in seed["text"]          # page furniture stays out
    assert seed["published"].startswith("2024-06-19")
    assert control["published"].startswith("2024-03-02")
    assert "ethyl acetate" in control["text"]

    hits = db.execute("select * from hits").fetchall()
    assert [(h["watch_id"], h["article_id"]) for h in hits] == [("russia-north-korea", seed["id"])]
    db.close()

    mails = smtp.wait_for(1, timeout=10)
    assert len(mails) == 1
    mail = mails[0]
    assert "Russia, North Korea" in mail["Subject"]
    assert mail["To"] == "desk@test.invalid"
    text = mail.get_body(("plain",)).get_content()
    assert seed["url"] in text and "local-world" in text and "2024-06-19" in text
    assert "mutual defence" in text.lower()

    posts = slack.wait_for(1, timeout=10)
    assert len(posts) == 1
    assert "Russia, North Korea" in str(posts[0])
    # the outlet as the page names itself, the words that matched, one alert number
    assert "Source:    CBC\n" in text.replace("\r\n", "\n")
    assert "Pyongyang" in text and "(entity North Korea)" in text
    number = re.search(r"news-monitor alert (\d+)", text).group(1)
    assert f"news-monitor alert {number} " in json.dumps(posts[0])
    assert "*Source*\\nCBC" in json.dumps(posts[0])
    assert "Traceback" not in first.stderr

    # A second crawl: the feed answers 304 or lists only seen URLs -> nothing new.
    second = monitor_cmd("-c", str(cfg), "crawl", env=env)
    assert second.returncode == 0, second.stderr
    assert _counts(tmp_path / "monitor.db") == {"articles": 2, "hits": 1, "outbox": 3}
    feed_gets = [r for r in site.requests if r.path == "/world/rss.xml"]
    assert feed_gets[-1].headers.get("If-None-Match") == '"feed-v1"'
    assert len(smtp.messages) == 1
    assert len(slack.posts) == 1


def test_same_story_under_a_second_url_is_stored_but_not_alerted_again(tmp_path, site, smtp, slack):
    site.set("/a/story.html", seed_html(SEED))
    # A wire copy: same text and canonical link removed, so it is a different article URL.
    copy = seed_html(SEED).replace(b'rel="canonical"', b'rel="x-canonical"').replace(
        b'property="og:url"', b'property="x-og-url"').replace(b"mainEntityOfPage", b"x")
    site.set("/b/copy.html", copy)
    site.set("/feed.xml", rss([("A", site.url("/a/story.html")), ("B", site.url("/b/copy.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", channels=_channels(smtp),
                       sources=[{"name": "wire", "kind": "feed", "url": site.url("/feed.xml")}])
    run = monitor_cmd("-c", str(cfg), "crawl", env={"TEST_SLACK_WEBHOOK": slack.url})
    assert run.returncode == 0, run.stderr
    counts = _counts(tmp_path / "monitor.db")
    assert counts["articles"] == 2 and counts["hits"] == 2
    assert counts["outbox"] == 3          # one story, one alert per channel
    # the second URL is no new alert: by email a reply in the first alert's thread;
    # the Slack webhook (no bot token, so no threads) carries it as a line in its digest
    first, reply = smtp.wait_for(2)
    assert reply["In-Reply-To"] == first["Message-ID"] and len(smtp.messages) == 2
    assert "+1 outlet" in reply.get_body(("plain",)).get_content()
    posts = slack.wait_for(1)
    assert "+1 outlet" not in str(posts[0])
    assert all("New outlets on 1 story" in p["text"] and "+1 outlet" in str(p["blocks"])
               for p in posts[1:]) and len(posts) <= 2


def test_failing_sources_are_logged_by_name_and_the_others_go_on(tmp_path, site):
    import socket

    from tests.servers import Route

    with socket.socket() as s:          # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    site.set("/ok/story.html", seed_html(SEED))
    site.set("/ok/report.pdf", b"%PDF-1.7\n" + b"0" * 2000, content_type="application/pdf")
    site.set("/ok/huge.html", b"<html><body>" + b"<p>word </p>" * 20000 + b"</body></html>")
    site.set("/ok/missing-article.html", b"gone", status=404)
    site.set("/ok/feed.xml", rss([("Story", site.url("/ok/story.html")),
                                  ("Report", site.url("/ok/report.pdf")),
                                  ("Huge", site.url("/ok/huge.html")),
                                  ("Missing", site.url("/ok/missing-article.html"))]),
             content_type="application/rss+xml")
    site["/slow/feed.xml"] = Route(body=rss([]), content_type="application/rss+xml", delay=8)
    cfg = write_config(
        tmp_path / "monitor.yaml",
        sources=[{"name": "refused", "kind": "feed", "url": f"http://127.0.0.1:{dead_port}/feed"},
                 {"name": "gone", "kind": "feed", "url": site.url("/no/such/feed.xml")},
                 {"name": "slow", "kind": "feed", "url": site.url("/slow/feed.xml")},
                 {"name": "good", "kind": "feed", "url": site.url("/ok/feed.xml")}],
        crawl={"download_timeout": 3, "autothrottle": False, "download_delay": 0},
        extraction={"max_page_bytes": 100_000})
    run = monitor_cmd("-c", str(cfg), "crawl")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "source refused:" in run.stderr
    assert "source gone:" in run.stderr and "HTTP 404" in run.stderr
    assert "source slow:" in run.stderr and "timed out" in run.stderr

    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == 1
    pages = dict(db.execute("select url, coalesce(reason, status) from pages"))
    assert pages[site.url("/ok/report.pdf")] == "not-html"
    assert pages[site.url("/ok/huge.html")] == "too-large"
    assert pages[site.url("/ok/missing-article.html")] == "http-error"
    sources = {r[0]: (r[1], r[2]) for r in
               db.execute("select name, last_status, last_error from sources")}
    assert sources["good"][0] == "ok"
    assert sources["refused"][0] == "error" and sources["gone"][0] == "error"
    assert "HTTP 404" in sources["gone"][1]
    db.close()

    status = monitor_cmd("-c", str(cfg), "status")
    assert status.returncode == 0
    assert "refused" in status.stdout and "failing" in status.stdout


def test_scrapy_list_and_scrapy_crawl_work_from_the_repo_root(tmp_path, site):
    import subprocess
    import sys

    from tests.conftest import REPO

    site.set("/news/russia-north-korea.html", seed_html(SEED))
    site.set("/feed.xml", rss([("Russia", site.url("/news/russia-north-korea.html"))]),
             content_type="application/rss+xml", etag='"feed-1"')
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml")}])
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == ["feeds", "pages", "sitemaps", "sources"]
    crawl = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "feeds", "-s",
                            f"MONITOR_CONFIG={cfg}"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert crawl.returncode == 0, crawl.stderr
    assert "'monitor/stored': 1" in crawl.stderr
    assert "'monitor/hits': 1" in crawl.stderr
    assert _counts(tmp_path / "monitor.db")["hits"] == 1
    db = sqlite3.connect(tmp_path / "monitor.db")
    status, polled = db.execute("select last_status, last_polled_at from sources "
                                "where name = 'local'").fetchone()
    etag = db.execute("select etag from fetch_state").fetchone()[0]
    db.close()
    assert status == "ok" and polled is not None     # the poll reached the writer
    assert etag                                      # and its validators were kept
