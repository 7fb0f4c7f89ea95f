"""Re-alert on edit: a stored article listed again with a newer version mark (an Atom
entry's ``updated``, an RSS item's content hash, a sitemap's ``lastmod``) is fetched
again; only a changed text that newly matches a watch alerts, once, with "updated: now
mentions ...". Each test runs the real ``monitor crawl`` twice against a local site."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.store import version_is_newer
from tests.conftest import monitor_cmd, write_config

FILLER = ("The harbour board met on Tuesday evening to review the season's shipping "
          "figures, which showed a steady rise in container traffic through the port. "
          "Officials said the new berths had eased the queues that built up last winter, "
          "and pilots reported fewer delays at the river mouth. ")


def _rules(tmp_path: Path) -> Path:
    """Two watches: ``cranes`` (crane collapse) and ``strike`` (dock strike)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cranes.yaml").write_text(
        "id: cranes\nname: Crane collapse\nany:\n  - crane collapse\nmode: immediate\n")
    (rules / "strike.yaml").write_text(
        "id: strike\nname: Dock strike\nany:\n  - dock strike\nmode: immediate\n")
    return rules


def _article(title: str, extra: str = "") -> bytes:
    """An article page: the filler text four times, then ``extra`` as its last paragraph."""
    paras = "".join(f"<p>{FILLER}</p>" for _ in range(4))
    if extra:
        paras += f"<p>{extra}</p>"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}"
            f"</title><meta property='article:published_time' "
            f"content='2026-11-30T08:00:00+00:00'></head><body><article><h1>{title}</h1>"
            f"{paras}</article></body></html>").encode()


def _atom(link: str, updated: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Port news</title><id>urn:port</id><updated>{updated}</updated>"
            f"<entry><title>Harbour board meets</title><id>urn:port:1</id>"
            f'<link href="{link}"/><published>2026-11-30T08:00:00Z</published>'
            f"<updated>{updated}</updated></entry></feed>").encode()


def _sitemap(link: str, lastmod: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{link}</loc>'
            f"<lastmod>{lastmod}</lastmod></url></urlset>").encode()


def _crawl(cfg: Path):
    result = monitor_cmd("-c", str(cfg), "crawl")
    assert result.returncode == 0, result.stderr
    return result


def _alerts(db: Path) -> list[tuple]:
    """(watch_id, hits.updated) of every outbox row, oldest first."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select o.watch_id, h.updated from outbox o join hits h on "
                            "h.id = o.hit_id order by o.id").fetchall()
    finally:
        conn.close()


def _gets(site, path: str) -> int:
    return sum(1 for r in site.requests if r.method == "GET" and r.path == path)


def _feed_setup(tmp_path, site, first_text: str, kind: str = "feed"):
    link = site.url("/port/board.html")
    site.set("/port/board.html", _article("Harbour board meets", first_text))
    if kind == "feed":
        site.set("/port/atom.xml", _atom(link, "2026-11-30T08:00:00Z"),
                 content_type="application/atom+xml")
        source = {"name": "port", "kind": "feed", "url": site.url("/port/atom.xml")}
    else:
        site.set("/port/sitemap.xml", _sitemap(link, "2026-11-30T08:00:00+00:00"),
                 content_type="application/xml")
        source = {"name": "port", "kind": "sitemap", "url": site.url("/port/sitemap.xml")}
    cfg = write_config(tmp_path / "monitor.yaml", sources=[source], rules=_rules(tmp_path))
    return cfg, link


def test_an_edit_that_now_mentions_a_watched_term_alerts_once_as_updated(tmp_path, site):
    cfg, link = _feed_setup(tmp_path, site, "")
    _crawl(cfg)
    assert _alerts(tmp_path / "monitor.db") == []

    site.set("/port/board.html", _article(
        "Harbour board meets", "Late on Tuesday a crane collapse closed the east quay."))
    site.set("/port/atom.xml", _atom(link, "2026-11-30T10:30:00Z"),
             content_type="application/atom+xml")
    second = _crawl(cfg)
    assert _gets(site, "/port/board.html") == 2
    assert _alerts(tmp_path / "monitor.db") == [("cranes", "updated: now mentions crane collapse")]
    assert "updated: now mentions crane collapse" in second.stdout   # the console alert

    conn = sqlite3.connect(tmp_path / "monitor.db")
    text, count = conn.execute("select text, (select count(*) from articles) "
                               "from articles").fetchone()
    conn.close()
    assert "crane collapse closed the east quay" in text and count == 1

    # a third poll of the same feed: nothing new, nothing fetched, no second alert
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 2
    assert len(_alerts(tmp_path / "monitor.db")) == 1


def test_an_entry_re_dated_with_the_same_text_does_not_alert(tmp_path, site):
    cfg, link = _feed_setup(tmp_path, site, "A crane collapse is feared by the dock "
                                            "workers.")
    _crawl(cfg)
    assert _alerts(tmp_path / "monitor.db") == [("cranes", None)]

    # re-dated, and the page only changes its spacing and case: the same text
    site.set("/port/board.html", _article("Harbour board meets", "A crane  collapse is "
                                          "feared by the DOCK workers."))
    site.set("/port/atom.xml", _atom(link, "2026-11-30T12:00:00Z"),
             content_type="application/atom+xml")
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 2       # fetched again: its mark moved
    assert _alerts(tmp_path / "monitor.db") == [("cranes", None)]


def test_a_sitemap_lastmod_moving_with_unchanged_text_does_not_alert(tmp_path, site):
    cfg, link = _feed_setup(tmp_path, site, "", kind="sitemap")
    _crawl(cfg)
    site.set("/port/sitemap.xml", _sitemap(link, "2026-11-30T15:00:00+00:00"),
             content_type="application/xml")
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 2
    assert _alerts(tmp_path / "monitor.db") == []

    # the same sitemap path with changed text now alerts, once
    site.set("/port/board.html", _article("Harbour board meets",
                                          "Unions called a dock strike for Friday."))
    site.set("/port/sitemap.xml", _sitemap(link, "2026-11-30T16:00:00+00:00"),
             content_type="application/xml")
    _crawl(cfg)
    assert _alerts(tmp_path / "monitor.db") == [("strike", "updated: now mentions dock strike")]

    # lastmod going back is no edit: not fetched again
    site.set("/port/sitemap.xml", _sitemap(link, "2026-11-29T16:00:00+00:00"),
             content_type="application/xml")
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 3


def test_an_edit_matching_a_watch_that_already_alerted_does_not_alert_again(tmp_path, site):
    cfg, link = _feed_setup(tmp_path, site, "A crane collapse is feared.")
    _crawl(cfg)
    assert _alerts(tmp_path / "monitor.db") == [("cranes", None)]

    # the edit mentions the crane collapse more and adds a dock strike: only the strike
    # watch is new for this story
    site.set("/port/board.html", _article(
        "Harbour board meets", "A crane collapse happened. After the crane collapse "
        "workers began a dock strike."))
    site.set("/port/atom.xml", _atom(link, "2026-11-30T11:00:00Z"),
             content_type="application/atom+xml")
    second = _crawl(cfg)
    assert _alerts(tmp_path / "monitor.db") == [
        ("cranes", None), ("strike", "updated: now mentions dock strike")]
    assert second.stdout.count("updated: now mentions") == 1

    # edited again: both watches have alerted on the story, nothing more
    site.set("/port/board.html", _article(
        "Harbour board meets", "Crane collapse: the dock strike goes on, says the union."))
    site.set("/port/atom.xml", _atom(link, "2026-11-30T13:00:00Z"),
             content_type="application/atom+xml")
    _crawl(cfg)
    assert _gets(site, "/port/board.html") == 3
    assert len(_alerts(tmp_path / "monitor.db")) == 2


def test_version_marks_compare_times_by_order_and_hashes_by_difference():
    assert version_is_newer("updated:2026-11-30T10:00:00+00:00",
                            "updated:2026-11-30T09:00:00+00:00")
    assert not version_is_newer("lastmod:2026-11-29T10:00:00+00:00",
                                "lastmod:2026-11-30T09:00:00+00:00")
    assert not version_is_newer("lastmod:2026-11-30T09:00:00+00:00",
                                "lastmod:2026-11-30T09:00:00+00:00")
    assert version_is_newer("sha1:" + "b" * 40, "sha1:" + "a" * 40)
    assert not version_is_newer("sha1:" + "a" * 40, "sha1:" + "a" * 40)
    assert not version_is_newer("sha1:" + "a" * 40, None)   # no mark kept: never refetched


def test_an_updated_alert_says_so_on_email_slack_and_webhook():
    from monitor.alerts.render import (
        render_html,
        render_slack,
        render_subject,
        render_text,
        render_webhook,
    )
    from monitor.models import Alert

    line = "updated: now mentions dock strike"
    alert = Alert(alert_id=7, watch_id="strike", watch_name="Dock strike",
                  title="Harbour board meets", url="https://port.example/board",
                  source="port", published=None, terms=("dock strike",),
                  snippet="workers began a [[dock strike]]", matched=("dock strike",),
                  update=line)
    assert line in render_text(alert) and f"<b>{line}</b>" in render_html(alert)
    assert render_subject(alert) == "[monitor] Dock strike (updated): Harbour board meets"
    slack = render_slack(alert)
    assert line in slack["text"] and slack["blocks"][1]["text"]["text"] == f"*{line}*"
    assert render_webhook(alert)["update"] == line

    first = Alert(alert_id=7, watch_id="strike", watch_name="Dock strike",
                  title="Harbour board meets", url="https://port.example/board",
                  source="port", published=None, terms=("dock strike",), snippet="")
    assert "updated" not in render_text(first) and "updated" not in render_subject(first)
    assert "update" not in render_webhook(first)
    assert all("updated" not in str(b) for b in render_slack(first)["blocks"])
