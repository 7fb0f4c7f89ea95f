"""``monitor sources discover URL`` against a real local site: announced feeds, common
paths, robots.txt as real files write it (BOM, CRLF, any case), news sitemaps first,
and a front page offered as ``kind: page`` when a site has nothing else."""

from __future__ import annotations

import json

import yaml

from monitor.config import SourceConfig
from monitor.discover import robots_sitemaps
from tests.conftest import monitor_cmd, rss

HOME = """<!doctype html><html><head><title>Valley Post</title>
<link rel="alternate" type="application/rss+xml" title="World" href="/world/rss.xml">
<link rel="alternate" type="application/atom+xml" href="{root}/all.atom">
<link rel="alternate" type="application/rss+xml" href="/missing.xml">
</head><body><p>Home</p></body></html>"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
 xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://x.test/a</loc><news:news><news:title>A</news:title></news:news></url>
</urlset>"""
SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://x.test/b</loc></url>
<url><loc>https://x.test/c</loc></url></urlset>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Everything</title><id>urn:x</id><updated>2024-06-19T08:00:00Z</updated></feed>"""


def _discover(*args):
    done = monitor_cmd("--config", "/nonexistent/monitor.yaml", "sources", "discover", *args)
    return done


def test_robots_txt_as_real_files_write_it():
    body = (b"\xef\xbb\xbfSITEMAP: https://x.test/news.xml\r\nUser-agent: *\r\n"
            b"Disallow: /private\rsitemap :/sitemap.xml # main\n"
            b"Sitemap: https://x.test/news.xml\n# Sitemap: https://x.test/commented.xml\n")
    assert robots_sitemaps(body, "https://x.test/robots.txt") == [
        "https://x.test/news.xml", "https://x.test/sitemap.xml"]


def test_discover_prints_ready_to_paste_sources(tmp_path, site):
    root = site.url("").rstrip("/")
    site.set("/", HOME.format(root=root))
    site.set("/world/rss.xml", rss([("One", root + "/1"), ("Two", root + "/2")],
                                   title="World news"), content_type="application/rss+xml")
    site.set("/all.atom", ATOM, content_type="application/atom+xml")
    site.set("/robots.txt", b"\xef\xbb\xbfUser-agent: *\r\nAllow: /\r\n"
             b"sitemap: /sitemaps/all.xml\r\nSITEMAP: /sitemaps/news.xml\r\n",
             content_type="text/plain")
    site.set("/sitemaps/all.xml", SITEMAP, content_type="application/xml")
    site.set("/sitemaps/news.xml", NEWS_SITEMAP, content_type="application/xml")
    done = _discover(site.url("/"))
    assert done.returncode == 0, done.stderr
    entries = yaml.safe_load(done.stdout)["sources"]
    assert [(e["kind"], e["url"]) for e in entries] == [
        ("feed", root + "/world/rss.xml"), ("feed", root + "/all.atom"),
        ("sitemap", root + "/sitemaps/news.xml"), ("sitemap", root + "/sitemaps/all.xml")]
    # each entry is valid as it is, and the names are unique
    assert len({e["name"] for e in entries}) == 4
    for entry in entries:
        SourceConfig(**entry)
    assert "RSS feed, 2 items \"World news\"; announced by the page" in done.stdout
    assert "Google News sitemap, 1 URL; named in robots.txt" in done.stdout


def test_common_paths_when_nothing_is_announced(site):
    root = site.url("").rstrip("/")
    site.set("/", "<html><head><title>Plain</title></head><body>hi</body></html>")
    site.set("/feed", rss([("One", root + "/1")]), content_type="application/rss+xml")
    site.set("/sitemap.xml", SITEMAP, content_type="application/xml")
    done = _discover(site.url("/"), "--json")
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(f["kind"], f["url"], f["how"]) for f in found] == [
        ("feed", root + "/feed", "at a common feed path"),
        ("sitemap", root + "/sitemap.xml", "at a common sitemap path")]


def test_a_site_with_only_a_front_page_is_offered_as_a_page_source(site):
    teasers = "".join(f"<h2><a href='/world/2024/06/1{i}/story-number-{i}-of-the-day'>"
                      f"Story number {i} of the day</a></h2>" for i in range(5))
    site.set("/world/", f"<html><head><title>World</title></head><body>{teasers}</body></html>")
    done = _discover(site.url("/world/"))
    assert done.returncode == 0, done.stderr
    [entry] = yaml.safe_load(done.stdout)["sources"]
    assert entry["kind"] == "page" and entry["url"] == site.url("/world/")
    assert "front page, 5 article links" in done.stdout


def test_a_home_page_refusing_bots_still_leads_to_the_sites_feeds(site):
    root = site.url("").rstrip("/")
    site.set("/", "Forbidden", status=403)
    site.set("/rss.xml", rss([("One", root + "/1")]), content_type="application/rss+xml")
    done = _discover(site.url("/"))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["sources"][0]["url"] == root + "/rss.xml"
    site.set("/rss.xml", "gone", status=404)
    done = _discover(site.url("/"))
    assert done.returncode == 1
    assert "answered HTTP 403, and the site's robots.txt and common feed" in done.stderr


def test_nothing_found_and_unreachable_exit_1_with_one_line(site):
    site.set("/", "<html><body>nothing here</body></html>")
    done = _discover(site.url("/"))
    assert done.returncode == 1 and "no feed, sitemap or front page" in done.stderr
    assert "Traceback" not in done.stderr
    done = _discover("http://127.0.0.1:9/")
    assert done.returncode == 1 and "cannot be fetched" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
