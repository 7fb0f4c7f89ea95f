"""``monitor sources``: OPML import and export, the source list, imported sources crawled."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import monitor_cmd, rss, write_config

# Shaped like a feed reader's export: folders within folders, a feed listed twice,
# attributes in the order readers write them, a sitemap, and an outline with no feed.
OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Desk subscriptions</title><dateCreated>Mon, 30 Nov 2026 09:00:00 GMT</dateCreated></head>
  <body>
    <outline text="World" title="World">
      <outline text="Europe" title="Europe">
        <outline type="rss" text="DW English" title="DW English" xmlUrl="https://rss.dw.com/rdf/rss-en-all" htmlUrl="https://www.dw.com/"/>
        <outline type="rss" text="Guardian World" title="Guardian World" xmlUrl="https://www.theguardian.com/world/rss"/>
      </outline>
      <outline type="rss" text="BBC World" title="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    </outline>
    <outline text="Asia">
      <outline type="rss" text="NK News" xmlUrl="https://www.nknews.org/feed/"/>
      <outline type="rss" text="BBC World (again)" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    </outline>
    <outline type="rss" text="Guardian news sitemap" xmlUrl="https://www.theguardian.com/sitemaps/news.xml"/>
    <outline text="An empty folder"/>
  </body>
</opml>
"""


def _invoke(cfg, *args):
    result = CliRunner().invoke(cli, ["-c", str(cfg), *args], catch_exceptions=False)
    return result


def _config(tmp_path, sources=()):
    return write_config(tmp_path / "monitor.yaml", sources=list(sources))


def test_import_reads_nested_outlines_once_per_feed(tmp_path):
    cfg = _config(tmp_path)
    (tmp_path / "subs.opml").write_text(OPML)
    result = _invoke(cfg, "sources", "import", str(tmp_path / "subs.opml"), "--interval", "30m")
    assert result.exit_code == 0, result.output
    assert "5 sources added, 0 sources updated (1 sitemaps)" in result.output
    rows = [json.loads(line) for line in _invoke(cfg, "sources", "list", "--json")
            .output.splitlines()]
    by_url = {r["url"]: r for r in rows}
    assert len(rows) == 5
    assert by_url["https://rss.dw.com/rdf/rss-en-all"]["category"] == "World / Europe"
    assert by_url["https://www.nknews.org/feed/"]["category"] == "Asia"
    assert by_url["https://www.theguardian.com/sitemaps/news.xml"]["kind"] == "sitemap"
    assert by_url["https://feeds.bbci.co.uk/news/world/rss.xml"]["name"] == "bbc-world"
    assert all(r["state"] == "new" and r["interval"] == 1800 for r in rows)
    again = _invoke(cfg, "sources", "import", str(tmp_path / "subs.opml"))
    assert "0 sources added, 5 sources updated" in again.output


def test_export_then_import_round_trips_sources_and_folders(tmp_path):
    cfg = _config(tmp_path, [{"name": "local-feed", "kind": "feed",
                              "url": "http://127.0.0.1:9/feed.xml"}])
    (tmp_path / "subs.opml").write_text(OPML)
    _invoke(cfg, "sources", "import", str(tmp_path / "subs.opml"))
    exported = _invoke(cfg, "sources", "export").output
    root = ET.fromstring(exported.encode())
    world = next(o for o in root.find("body") if o.get("text") == "World")
    europe = next(o for o in world if o.get("text") == "Europe")
    assert {o.get("xmlUrl") for o in europe} == {"https://rss.dw.com/rdf/rss-en-all",
                                                "https://www.theguardian.com/world/rss"}
    urls = [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]
    assert len(urls) == 6 and "http://127.0.0.1:9/feed.xml" in urls

    other = tmp_path / "other"
    other.mkdir()
    cfg2 = _config(other)
    (other / "back.opml").write_text(exported)
    assert _invoke(cfg2, "sources", "import", str(other / "back.opml")).exit_code == 0
    first = {(r["url"], r["kind"], r["category"]) for r in map(
        json.loads, _invoke(cfg, "sources", "list", "--json").output.splitlines())}
    second = {(r["url"], r["kind"], r["category"]) for r in map(
        json.loads, _invoke(cfg2, "sources", "list", "--json").output.splitlines())}
    assert second == first


def test_a_file_that_is_not_opml_is_one_line_and_status_2(tmp_path):
    cfg = _config(tmp_path)
    (tmp_path / "feed.opml").write_text("<html><body>not a list</body></html>")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "sources", "import",
                                      str(tmp_path / "feed.opml")])
    assert result.exit_code == 2
    assert "feed.opml: not an OPML subscription list" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_configured_name_taken_by_an_imported_source_is_a_config_error(tmp_path, site):
    site.set("/feed.xml", rss([]), content_type="application/rss+xml")
    cfg = _config(tmp_path)
    (tmp_path / "subs.opml").write_text(
        f'<opml version="2.0"><body><outline type="rss" text="Local" '
        f'xmlUrl="{site.url("/feed.xml")}"/></body></opml>')
    _invoke(cfg, "sources", "import", str(tmp_path / "subs.opml"))
    cfg = _config(tmp_path, [{"name": "local", "kind": "feed", "url": site.url("/other.xml")}])
    run = monitor_cmd("-c", str(cfg), "crawl")
    assert run.returncode == 2
    assert "'local' is in monitor.yaml and was also imported from OPML" in run.stderr


def test_imported_sources_are_crawled_like_configured_ones(tmp_path, site):
    for n in range(3):
        site.set(f"/f{n}.xml", rss([]), content_type="application/rss+xml")
    cfg = _config(tmp_path)
    outlines = "".join(f'<outline type="rss" text="Local {n}" xmlUrl="{site.url(f"/f{n}.xml")}"/>'
                       for n in range(3))
    (tmp_path / "subs.opml").write_text(f'<opml version="2.0"><body><outline text="Local">'
                                        f'{outlines}</outline></body></opml>')
    assert _invoke(cfg, "sources", "import", str(tmp_path / "subs.opml")).exit_code == 0
    run = monitor_cmd("-c", str(cfg), "crawl")
    assert run.returncode == 0, run.stderr
    assert {r.path for r in site.requests} >= {"/f0.xml", "/f1.xml", "/f2.xml"}
    db = sqlite3.connect(tmp_path / "monitor.db")
    states = dict(db.execute("select name, last_status from sources"))
    assert states == {"local-0": "ok", "local-1": "ok", "local-2": "ok"}
    removed = _invoke(cfg, "sources", "remove", "local-2")
    assert "1 source removed" in removed.output and removed.exit_code == 0
    missing = CliRunner().invoke(cli, ["-c", str(cfg), "sources", "remove", "local-2"])
    assert missing.exit_code == 1 and "no imported source named 'local-2'" in missing.output
    unknown = monitor_cmd("-c", str(cfg), "crawl", "nosuch")
    assert unknown.returncode == 2 and "known: local-0, local-1" in unknown.stderr


def test_sitemaps_and_configured_sources_survive_an_export_and_import(tmp_path):
    cfg = _config(tmp_path, [
        {"name": "sm", "kind": "sitemap", "url": "https://news.test/latest.xml"},
        {"name": "fd", "kind": "feed", "url": "https://news.test/sitemap-like/rss"}])
    exported = _invoke(cfg, "sources", "export").output
    other = tmp_path / "other"
    other.mkdir()
    (other / "back.opml").write_text(exported)
    result = _invoke(_config(other), "sources", "import", str(other / "back.opml"))
    assert "2 sources added" in result.output
    kinds = {r["url"]: r["kind"] for r in map(json.loads, _invoke(
        _config(other), "sources", "list", "--json").output.splitlines())}
    assert kinds == {"https://news.test/latest.xml": "sitemap",
                     "https://news.test/sitemap-like/rss": "feed"}
    again = _invoke(cfg, "sources", "import", str(other / "back.opml"))   # into itself
    assert "0 sources added" in again.output and "2 already in monitor.yaml" in again.output


def test_two_lists_with_a_feed_of_the_same_title_keep_both_feeds(tmp_path):
    cfg = _config(tmp_path)
    for n, url in ((1, "https://one.test/rss"), (2, "https://two.test/rss")):
        (tmp_path / f"{n}.opml").write_text(
            f'<opml version="2.0"><body><outline type="rss" text="News" xmlUrl="{url}"/>'
            f"</body></opml>")
        assert "1 source added" in _invoke(cfg, "sources", "import",
                                           str(tmp_path / f"{n}.opml")).output
    rows = {r["name"]: r["url"] for r in map(
        json.loads, _invoke(cfg, "sources", "list", "--json").output.splitlines())}
    assert rows == {"news": "https://one.test/rss", "news-2": "https://two.test/rss"}
