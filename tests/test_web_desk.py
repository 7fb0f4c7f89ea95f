"""The web desk (``monitor serve``): its pages through Datasette's own test client on a
fresh database filled by the real pipeline, its security (sign-in, CSRF, escaping), and
the command itself on a real port."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("datasette")

from monitor.store import Store
from monitor.store import desk as data
from monitor.web import make_desk
from tests.conftest import REPO, RULES
from tests.desk_fixtures import CHANNELS, HOSTILE_TITLE, SECRET, SEED_TITLE, Client, fill_store

PAGES = ["/-/desk", "/-/desk/story/1", "/-/desk/story/2",
         "/-/desk/playground?q=Pyongyang&since=", "/-/desk/playground?watch="
         "russia-north-korea&since=", "/-/desk/sources", "/-/desk/alerts",
         "/-/desk/signin"]


@pytest.fixture
def db(tmp_path):
    """A fresh database: the seeds, a page whose headline holds HTML, a rejected page;
    one alert given up with an error that quotes the headline."""
    path = fill_store(tmp_path / "monitor.db")
    store = Store(path)
    row = store.db.execute("select o.id from outbox o join hits h on h.id = o.hit_id "
                           "join articles a on a.id = h.article_id where a.source = "
                           "'herald' and o.channel = 'desk-slack'").fetchone()
    store.db.execute("update outbox set status = 'sending' where id = ?", [row[0]])
    store.mark_failed(row[0], f"HTTP 404 no_service for {HOSTILE_TITLE}", None, "permanent")
    store.close()
    return path


@pytest.fixture
def desk(db):
    """A read-only desk (no secret) and its client."""
    return Client(make_desk(db, RULES))


@pytest.fixture
def secure_desk(db):
    """A desk started with a secret, and its client (not signed in)."""
    return Client(make_desk(db, RULES, secret=SECRET))


def _story_ids(db) -> dict[str, int]:
    store = Store(db)
    ids = {r[1]: r[0] for r in store.db.execute("select story_id, source from articles")}
    store.close()
    return ids


def _seed_story(db) -> int:
    return _story_ids(db)["cbc-world"]


# ------------------------------------------------------------------------- pages

def test_home_leads_to_latest_hits_grouped_by_story(desk, db):
    assert desk.get("/").headers["location"] == "/-/desk"
    page = desk.get("/-/desk")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert SEED_TITLE in text
    assert f'href="/-/desk/story/{_seed_story(db)}"' in page.text
    assert "<mark>Pyongyang</mark>" in page.text          # snippet with matches marked
    assert "Russia / North Korea" in text                  # the watch
    assert "cbc-world" in text and "herald" in text
    # stories without hits (sourdough, cup final) are not listed
    assert "sourdough" not in text


def test_latest_hits_filters_and_cursor(desk, db):
    by_watch = desk.get("/-/desk.json?watch=russia-north-korea").json()
    assert len(by_watch["stories"]) == 2
    assert desk.get("/-/desk.json?watch=no-such-watch").json()["stories"] == []
    herald = desk.get("/-/desk.json?source=herald").json()["stories"]
    assert [s["hits"][0]["source"] for s in herald] == ["herald"]
    assert desk.get("/-/desk.json?since=1h").json()["stories"]
    assert desk.get("/-/desk.json?to=2001-01-01").json()["stories"] == []
    assert "period is a duration" in desk.get("/-/desk?since=forever").text
    # cursor pages, one story per page
    store = Store(db)
    first = data.latest_hits(store.db.conn, limit=1)
    second = data.latest_hits(store.db.conn, limit=1, before=first["next"])
    store.close()
    assert first["next"] and second["next"] is None
    assert {first["stories"][0]["id"], second["stories"][0]["id"]} == set(
        _story_ids(db)[s] for s in ("cbc-world", "herald"))
    page = desk.get(f"/-/desk.json?before={first['next']}").json()
    assert [s["id"] for s in page["stories"]] == [second["stories"][0]["id"]]


def test_story_page_articles_watches_alerts(desk, db):
    sid = _seed_story(db)
    page = desk.get(f"/-/desk/story/{sid}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert SEED_TITLE in text and "russia-north-korea" in text
    for channel in CHANNELS:
        assert channel in text
    got = desk.get(f"/-/desk/story/{sid}.json").json()["story"]
    assert [a["source"] for a in got["articles"]] == ["cbc-world"]
    assert {a["channel"] for a in got["alerts"]} == set(CHANNELS)
    assert desk.get("/-/desk/story/999").status_code == 404


def test_playground_query_highlights_explains_and_counts_per_day(desk):
    page = desk.get('/-/desk/playground?q=%22mutual+defence%22+AND+%40north-korea&since=')
    assert page.status_code == 200
    assert "<mark>mutual defence</mark>" in page.text
    assert "Why it matched" in page.text and "found" in page.text   # the explanation
    got = desk.get('/-/desk/playground.json?q=%22mutual+defence%22+AND+%40north-korea'
                   '&since=').json()["result"]
    assert got["matched"] == 1 and got["scanned"] == 4
    assert [r["title"] for r in got["results"]] == [SEED_TITLE]
    today = datetime.now(timezone.utc).date().isoformat()
    assert got["per_day"] == [[today, 1]]
    assert got["results"][0]["explain"]["label"] == "AND"


def test_playground_watch_and_errors(desk):
    got = desk.get("/-/desk/playground.json?watch=russia-north-korea&since=7d").json()
    assert got["result"]["matched"] == 2 and got["result"]["stories"] == 2
    bad = desk.get("/-/desk/playground?q=%22unclosed+AND+%3Cb%3E&since=")
    assert bad.status_code == 200
    assert 'class="error"' in bad.text and "<b>" not in bad.text
    assert "no watch" in desk.get("/-/desk/playground?watch=nope").text
    assert desk.get("/-/desk/playground.json?q=Pyongyang&from=2001-01-01&to=2001-01-02"
                    ).json()["result"]["matched"] == 0


def test_sources_page_states_bars_rejections(desk):
    page = desk.get("/-/desk/sources")
    assert page.status_code == 200
    got = desk.get("/-/desk/sources.json").json()
    by_name = {s["name"]: s for s in got["sources"]}
    assert {"cbc-world", "herald", "valley-post"} <= set(by_name)
    assert by_name["cbc-world"]["per_day"][-1] == 1 and len(got["days"]) == 14
    assert by_name["valley-post"]["rejections"] == [["no-text", 1]]
    assert 'class="bars' in page.text and "no-text: 1" in page.text


def test_alerts_page_by_channel_with_last_errors(desk):
    got = desk.get("/-/desk/alerts.json").json()
    counts = {c["channel"]: c["counts"] for c in got["channels"]}
    assert counts == {"console": {"pending": 2}, "desk-slack": {"pending": 1, "dead": 1}}
    assert [e["status"] for e in got["errors"]] == ["dead"]
    page = desk.get("/-/desk/alerts")
    assert "HTTP 404 no_service" in page.text


def test_datasette_json_csv_search_and_canned_queries_stay(desk, db):
    name = db.stem
    rows = desk.get(f"/{name}/articles.json?_search=Pyongyang&_shape=array").json()
    assert len(rows) == 2
    csv = desk.get(f"/{name}/outbox.csv")
    assert csv.status_code == 200 and csv.text.startswith("id,")
    canned = desk.get(f"/{name}/latest_hits.json?_shape=array").json()
    assert len(canned) == 2
    meta = desk.get("/-/metadata.json").json()
    assert "matches marked" in meta["databases"][name]["tables"]["hits"]["columns"][
        "snippet"]
    assert desk.get(f"/{name}/hits.json?_facet=watch_id").status_code == 200


# ---------------------------------------------------------------------- security

def test_sql_console_only_for_a_signed_in_user(secure_desk, db):
    path = f"/{db.stem}.json?sql=select+count(*)+as+n+from+articles&_shape=array"
    assert secure_desk.get(path).status_code == 403
    assert secure_desk.sign_in().status_code == 302
    assert secure_desk.get(path).json() == [{"n": 4}]


def test_read_only_desk_offers_no_actions_and_refuses_them(desk, db):
    for path in PAGES:
        page = desk.get(path)
        assert 'name="op"' not in page.text and "/-/desk/action" not in page.text, path
    assert "read-only" in desk.get("/-/desk/signin").text
    token = desk.minted_csrftoken()
    assert desk.post("/-/desk/signin", {"csrftoken": token, "secret": SECRET}
                     ).status_code == 403                 # nothing to sign in with
    assert "ds_actor" not in desk.cookies
    refused = desk.post("/-/desk/action", {"csrftoken": token, "op": "mute",
                                           "kind": "watch", "target": "russia-north-korea"})
    assert refused.status_code == 403
    assert _mutes(db) == []


def test_actions_need_a_sign_in(secure_desk, db):
    assert 'name="op"' not in secure_desk.get("/-/desk").text
    token = secure_desk.csrftoken()
    refused = secure_desk.post("/-/desk/action", {"csrftoken": token, "op": "mute",
                                                  "kind": "watch",
                                                  "target": "russia-north-korea"})
    assert refused.status_code == 403
    assert secure_desk.sign_in("wrong secret!!").status_code == 403
    # a cookie-less POST (which Datasette's CSRF check lets through) does not sign in
    assert Client(secure_desk.ds).post("/-/desk/signin", {"secret": SECRET}
                                       ).status_code == 403
    assert "ds_actor" not in secure_desk.cookies
    assert _mutes(db) == []


def test_actions_need_a_valid_csrf_token(secure_desk, db):
    secure_desk.sign_in()
    form = {"op": "mute", "kind": "watch", "target": "russia-north-korea"}
    assert secure_desk.post("/-/desk/action", form).status_code == 403
    assert secure_desk.post("/-/desk/action", {**form, "csrftoken": "forged"}
                            ).status_code == 403
    assert _mutes(db) == []


def test_signed_in_snooze_and_unmute_a_watch_and_mute_a_story(secure_desk, db):
    assert secure_desk.sign_in().status_code == 302
    page = secure_desk.get("/-/desk")
    assert "Snooze watch russia-north-korea" in page.text
    token = secure_desk.csrftoken("/-/desk")
    done = secure_desk.post("/-/desk/action", {
        "csrftoken": token, "op": "snooze", "kind": "watch", "hours": "4",
        "target": "russia-north-korea", "next": "/-/desk?watch=russia-north-korea"})
    assert done.status_code == 303
    assert done.headers["location"] == "/-/desk?watch=russia-north-korea"
    [mute] = _mutes(db)
    assert mute["kind"] == "watch" and mute["until"] and mute["created_by"] == "desk"
    until = datetime.fromisoformat(mute["until"])
    assert timedelta(hours=3.9) < until - datetime.now(timezone.utc) < timedelta(hours=4.1)
    page = secure_desk.get("/-/desk")
    assert "snoozed until" in page.text and "Unmute watch russia-north-korea" in page.text
    assert "Snoozed watch russia-north-korea" in page.text      # the message
    # the watch's waiting alerts are not sent either
    assert secure_desk.get("/-/desk/alerts.json").json()["channels"][0]["counts"] == {
        "muted": 2}
    secure_desk.post("/-/desk/action", {"csrftoken": token, "op": "unmute",
                                        "kind": "watch", "target": "russia-north-korea"})
    assert secure_desk.get("/-/desk/alerts.json").json()["mutes"] == []
    sid = _seed_story(db)
    secure_desk.post("/-/desk/action", {"csrftoken": token, "op": "mute", "kind": "story",
                                        "target": str(sid), "next": "//evil.example/"})
    assert [(m["kind"], m["target"], m["until"]) for m in _mutes(db)
            if m["ended_at"] is None] == [("story", str(sid), None)]
    assert "story muted" in secure_desk.get(f"/-/desk/story/{sid}").text
    bad = secure_desk.post("/-/desk/action", {"csrftoken": token, "op": "mute",
                                              "kind": "story", "target": "x"})
    assert bad.status_code == 400


def test_an_open_redirect_is_refused(secure_desk):
    secure_desk.sign_in()
    token = secure_desk.csrftoken("/-/desk")
    done = secure_desk.post("/-/desk/action", {"csrftoken": token, "op": "mute",
                                               "kind": "watch", "target": "w",
                                               "next": "//evil.example/x"})
    assert done.headers["location"] == "/-/desk"


def test_html_in_titles_and_snippets_is_escaped_on_every_page(secure_desk, db):
    secure_desk.sign_in()       # the signed-in pages carry more (forms, buttons)
    herald = _story_ids(db)["herald"]
    paths = [*PAGES, f"/-/desk/story/{herald}", f"/{db.stem}/articles",
             f"/{db.stem}/stories/{herald}", f"/{db.stem}/latest_hits"]
    for path in paths:
        page = secure_desk.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert "<b>Bold" not in page.text, path
    for path in ("/-/desk", f"/-/desk/story/{herald}", "/-/desk/playground?q=Pyongyang"
                 "&since=", "/-/desk/alerts"):
        assert "&lt;script&gt;alert(" in secure_desk.get(path).text, path


def _mutes(db) -> list[dict]:
    store = Store(db)
    rows = [dict(r) for r in store.db.query("select * from mutes order by id")]
    store.close()
    return rows


# ----------------------------------------------------------------------- command

def _serve(*args: str, env: dict | None = None, timeout: float = 20):
    return subprocess.run([sys.executable, "-m", "monitor", "serve", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})


def test_serve_config_errors_are_one_line_and_exit_2(tmp_path, db):
    missing = _serve("--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "not found" in missing.stderr
    unset = _serve("--db", str(db), "--secret-env", "DESK_TEST_UNSET_SECRET")
    assert unset.returncode == 2 and "DESK_TEST_UNSET_SECRET" in unset.stderr
    short = _serve("--db", str(db), "--secret-env", "DESK_S", env={"DESK_S": "short"})
    assert short.returncode == 2 and "at least 12" in short.stderr
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = _serve("--db", str(db), "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and "cannot listen" in busy.stderr
    assert busy.stderr.count("\n") == 1


def test_serve_answers_on_a_real_port(db):
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--db", str(db),
                             "--port", "0"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://\S+/", line).group(0)
        assert url.startswith("http://127.0.0.1:") and "read-only" in line
        with urllib.request.urlopen(url + "-/desk.json", timeout=10) as answer:
            stories = json.load(answer)["stories"]
        assert len(stories) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_another_datasette_in_the_process_is_left_alone(desk, db):
    from datasette.app import Datasette

    plain = Client(Datasette(files=[str(db)]))
    index = plain.get("/")
    assert index.status_code == 200 and "/-/desk" not in index.text
    assert plain.get("/-/desk").status_code == 404
    assert plain.get(f"/{db.stem}.json?sql=select+1").status_code == 200
