"""The store after its split into a package: a database written by the store as it was
before (one module, raw links as seen keys) opens unchanged and works; one URL identity
for the seen filter, articles and the distributed seen keys; frozen migrations."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import clock
from monitor.models import Article, Hit
from monitor.store import Store
from monitor.urls import url_key

ROOT = Path(__file__).resolve().parent.parent
#: The last commit with the store in one module (monitor/store.py), before the split.
BEFORE_SPLIT = "28acd22"

TEXT = " ".join(f"word{i % 97} sentence{i % 13} about the summit in Pyongyang"
                for i in range(80))


def _old_store_module(tmp_path: Path):
    """monitor/store.py as it was before the split, imported under another name."""
    try:
        source = subprocess.run(["git", "show", f"{BEFORE_SPLIT}:monitor/store.py"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history here: the store from before the split is not at hand")
    path = tmp_path / "old_store.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_store", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_store"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("old_store", None)
    return module


def _article(url: str, text: str = TEXT, request_url: str | None = None) -> Article:
    return Article(url=url, request_url=request_url or url, source="cbc",
                   title="Putin and Kim sign pact", text=text)


def _hit() -> Hit:
    return Hit("rnk", "Russia and North Korea", ["pact"], channels=("console",))


def test_a_database_from_before_the_split_opens_and_works(tmp_path):
    old_module = _old_store_module(tmp_path)
    db = tmp_path / "monitor.db"
    listed = "https://News.example/world/pact?utm_source=rss&utm_medium=feed"
    stub = "https://news.example/world/breaking#live"
    old = old_module.Store(db)
    saved = old.save_article(_article("https://news.example/world/pact", request_url=listed),
                             [_hit()], ["console"])
    old.record_page(stub, "cbc", "rejected", "too-short", transient=True)
    old.record_version([listed], "sha1:" + "a" * 40)
    old.set_state("last_digest:console", "2026-01-01T00:00:00+00:00")
    names_before = [r[0] for r in sqlite3.connect(db).execute(
        "select name from _sqlite_migrations order by id")]
    old.close()

    store = Store(db)
    try:
        names_after = [r[0] for r in store.db.execute(
            "select name from _sqlite_migrations order by id")]
        # nothing re-run or renamed; only migrations written since the split are applied
        assert names_after[:len(names_before)] == names_before
        assert names_after[len(names_before):] == ["m014_story_signatures_words",
                                                    "m015_hits_by_article",
                                                    "m016_outbox_by_story"]
        # the links the old store recorded as written are seen: not fetched again...
        assert store.unseen([listed, "https://news.example/world/other"]) == {
            "https://news.example/world/other"}
        # ...and the article is there once, under its canonical URL
        assert store.article_id("https://news.example/world/pact") == saved.article_id
        assert store.save_article(_article("https://news.example/world/pact"), [], []) is None
        # the stub's transient outcome is due later, then again; its attempts carry on
        later = clock.utcnow() + timedelta(hours=2)
        assert stub in store.unseen([stub], now=later)
        store.record_page(stub, "cbc", "rejected", "too-short", transient=True)
        (attempts, key), = store.db.execute(
            "select attempts, url from pages where url in (?, ?)", [stub, url_key(stub)])
        assert attempts == 2 and key == url_key(stub)
        # an edit of the listed link is still noticed against the mark kept before
        assert store.changed({listed: "sha1:" + "b" * 40}) == {listed}
        assert store.changed({listed: "sha1:" + "a" * 40}) == set()
        # the old alert is delivered and the state kept
        claimed = store.claim_alerts("immediate", ["console"])
        assert [a.alert.url for a in claimed] == ["https://news.example/world/pact"]
        assert store.get_state("last_digest:console") == "2026-01-01T00:00:00+00:00"
        # a wire copy joins the old story
        copy = store.save_article(_article("https://wire.example/pact", TEXT + " Related."),
                                  [], [])
        assert copy.story_id == saved.story_id and not copy.new_story
    finally:
        store.close()


def test_one_identity_for_links_seen_and_articles(tmp_path):
    store = Store(tmp_path / "monitor.db")
    try:
        saved = store.save_article(
            _article("https://news.example/a/pact",
                     request_url="https://NEWS.example:443/a/pact?utm_campaign=x&fbclid=1"),
            [], [])
        variants = ["https://news.example/a/pact#comments",
                    "https://News.Example/a/pact?utm_source=twitter",
                    "https://news.example/a/pact?from=rss"]
        assert store.unseen([*variants, "https://news.example/a/other"]) == {
            "https://news.example/a/other"}
        for link in variants:
            assert store.article_id(link) == saved.article_id
        # one pages row per identity, however many forms the link came in
        assert store.db.execute("select count(*) from pages").fetchone()[0] == 1
    finally:
        store.close()


def test_distributed_seen_keys_use_the_same_identity():
    from monitor.distributed.queues import link_key

    assert link_key("https://News.example/a?utm_source=x#top") == \
        link_key("https://news.example/a")
    assert link_key("https://news.example/a") != link_key("https://news.example/b")


def test_url_key_is_stable_when_applied_again():
    for link in ("https://News.example:443/a?b=2&a=1&utm_source=x#f",
                 "http://example.org/%7Euser/path?q=%C3%BC", "https://ex.test/é"):
        assert url_key(url_key(link)) == url_key(link)


def test_url_key_takes_links_in_normal_form_as_they_are_and_others_through_courlan():
    from monitor.urls import normalise_url

    hosts = ("news.example", "News.Example", "xn--bcher-kva.example", "news.example:443",
             "a-b.c.example")
    paths = ("", "/", "/2026/11/30/story-title.html", "/../x", "/a/./b", "/a//b",
             "/%7Euser/", "/é", "/a b", "/A_B~c.d")
    tails = ("", "?id=3", "?utm_source=rss", "#top", "?")
    for scheme in ("https", "http", "HTTPS"):
        for host in hosts:
            for path in paths:
                for tail in tails:
                    link = f"{scheme}://{host}{path}{tail}"
                    assert url_key(link) == normalise_url(link), link
    # a link that cannot be read is its own key, never an error in the seen filter
    assert url_key("http://[/a") == "http://[/a"


def test_migrations_use_no_live_code_of_the_monitor():
    """A migration must do tomorrow what it did the day it was written: the schema
    module imports nothing of the monitor (it carries frozen copies instead)."""
    import ast

    import monitor.store.schema as schema

    tree = ast.parse(Path(schema.__file__).read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("monitor")], imported


def test_clock_reads_and_writes_utc():
    from datetime import datetime, timezone

    aware = datetime(2026, 6, 19, 12, 0, tzinfo=timezone(timedelta(hours=9)))
    assert clock.iso(aware) == "2026-06-19T03:00:00+00:00"
    assert clock.iso(datetime(2026, 6, 19, 3, 0)) == "2026-06-19T03:00:00+00:00"
    assert clock.parse_iso("2026-06-19T03:00:00Z") == datetime(2026, 6, 19, 3,
                                                               tzinfo=timezone.utc)
    assert clock.parse_iso("2026-06-19T03:00:00") == clock.parse_iso(clock.iso(aware))
    assert clock.parse_iso(None) is None and clock.parse_iso("") is None
    assert clock.parse_http_date("Wed, 19 Jun 2024 03:00:00 GMT") == datetime(
        2024, 6, 19, 3, tzinfo=timezone.utc)
    assert clock.parse_http_date("soon") is None
    assert clock.utcnow().tzinfo is not None


APOSTROPHE_TEXT = " ".join(
    f"Officials in Pyongyang said they've signed the region's {i}th accord, and Russia’s "
    f"envoy called it the bloc's firmest pact" for i in range(12))


def test_stories_of_the_last_days_get_signatures_of_the_current_scheme(tmp_path):
    """A database from before m014 keeps "crc32-mix64-ms" signatures (words cut at every
    apostrophe): the upgrade recomputes those of recent stories, so a copy stored after
    it still joins its story; older stories are cleared."""
    import sqlite_utils

    from monitor import dedup
    from monitor.store import migrations, schema

    db = tmp_path / "monitor.db"
    old = sqlite_utils.Database(db)
    migrations.apply(old, stop_before="m014_story_signatures_words")
    old.close()
    v1 = schema._signature_v1(APOSTROPHE_TEXT)
    assert v1 is not None and v1[0] != dedup.to_bytes(dedup.signature(APOSTROPHE_TEXT))
    conn = sqlite3.connect(db)
    with conn:
        for sid, age in ((1, 0.5), (2, 10)):
            conn.execute("insert into stories (id, fingerprint, title, first_seen, "
                         "article_count, minhash) values (?, ?, 't', ?, 1, ?)",
                         [sid, f"f{sid}", clock.iso(clock.utcnow() - timedelta(days=age)),
                          v1[0]])
            conn.execute("insert into articles (url, request_url, source, title, text, "
                         "partial, story_id) values (?, ?, 'old', 't', ?, 0, ?)",
                         [f"https://old.example/{sid}", f"https://old.example/{sid}",
                          APOSTROPHE_TEXT, sid])
            conn.executemany("insert into story_bands (key, story_id) values (?, ?)",
                             [(k, sid) for k in v1[1]])
    conn.close()
    store = Store(db)
    try:
        minhash = dict(store.db.execute("select id, minhash from stories").fetchall())
        bands = sorted(k for (k,) in store.db.execute(
            "select key from story_bands where story_id = 1"))
        assert minhash[2] is None
        frozen = schema._signature_v2(APOSTROPHE_TEXT)
        assert minhash[1] == frozen[0] and bands == sorted(frozen[1])
        if dedup.SCHEME == "words-crc32-mix64-ms":      # the scheme m014 was written for
            sig = dedup.signature(APOSTROPHE_TEXT)
            assert minhash[1] == dedup.to_bytes(sig) and bands == sorted(sig.band_keys())
        copy = store.save_article(_article("https://wire.example/accord",
                                           "UPDATED: " + APOSTROPHE_TEXT), [], [])
        assert copy.story_id == 1 and not copy.new_story
    finally:
        store.close()
