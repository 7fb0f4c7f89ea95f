"""What a reader sees in an alert: the outlet as the page names itself, the words that
matched with their entity, and one alert number on every channel."""

from __future__ import annotations

import json

from monitor.alerts import render
from monitor.extract import extract
from monitor.matching import compile_query
from monitor.models import Article, Hit, Page
from monitor.store import Store
from tests.alert_fixtures import alert_with
from tests.matching_fixtures import ENTITIES, VARIANTS, seed_article

BODY = " ".join(["Officials from both countries met in the capital on Tuesday and spoke "
                 "at length about trade, security and the coming winter."] * 4)


def page(head: str) -> Page:
    html = (f"<html lang='en'><head><title>Talks resume</title>{head}</head><body>"
            f"<article><h1>Talks resume</h1><p>{BODY}</p><p>{BODY}</p></article>"
            f"</body></html>")
    return Page(url="https://news.example.org/world/talks", body=html.encode(),
                source="example-feed")


def test_outlet_comes_from_og_site_name_then_the_json_ld_publisher():
    og = extract(page('<meta property="og:site_name" content="The Example Times">'
                      '<meta property="og:type" content="article">'))
    assert og.site_name == "The Example Times"
    ld = extract(page('<script type="application/ld+json">{"@type": "NewsArticle", '
                      '"headline": "Talks resume", "publisher": {"@type": '
                      '"Organization", "name": "Example Wire"}}</script>'))
    assert ld.site_name == "Example Wire"
    assert extract(page("")).site_name is None


def test_alerts_show_the_outlet_and_fall_back_to_the_source_name():
    named = alert_with(outlet="The Example Times", source="example-feed")
    text = render.render_text(named)
    assert "Source:    The Example Times\n" in text
    assert "found by source \u201cexample-feed\u201d" in text  # for the operator
    slack = json.dumps(render.render_slack(named))
    assert "*Source*\\nThe Example Times" in slack
    assert render.render_webhook(named)["outlet"] == "The Example Times"
    unnamed = render.render_text(alert_with(outlet=None, source="example-feed"))
    assert "Source:    example-feed\n" in unnamed


def test_matched_words_are_the_article_s_with_the_entity_beside_them():
    hit = compile_query('@russia AND @north-korea AND sanction* AND "mutual defence"',
                        entities=ENTITIES, variants=VARIANTS).match(seed_article())
    assert hit.terms[:2] == ["@russia", "@north-korea"]
    assert hit.matched[0].startswith("Russia") and hit.matched[0].endswith("(entity russia)")  # test registry: no name
    assert "Pyongyang" in hit.matched[1] and "(entity " in hit.matched[1]
    assert "sanctions (sanction*)" in hit.matched
    assert "mutual defence" in hit.matched               # as written: nothing beside it
    text = render.render_text(alert_with(terms=tuple(hit.terms),
                                         matched=tuple(hit.matched)))
    line = next(ln for ln in text.splitlines() if ln.startswith("Matched:"))
    assert "Pyongyang" in line and "@north-korea" not in line


def test_one_alert_number_per_story_and_watch_on_every_channel(tmp_path):
    store = Store(tmp_path / "m.db")
    text = "Sanctions were discussed in Pyongyang at length by the delegations."
    hit = Hit("rnk", "Russia and North Korea", ["Pyongyang"], matched=["Pyongyang"],
              snippet="in [[Pyongyang]]")
    first = Article(url="https://a.test/1", request_url="https://a.test/1", source="a",
                    title="One", text=text, site_name="Outlet A")
    other = Article(url="https://b.test/2", request_url="https://b.test/2", source="b",
                    title="Two", text="Another story entirely about Pyongyang.")
    store.save_article(other, [Hit("other", "Other", ["Pyongyang"])], ["mail", "slack"])
    store.save_article(first, [hit], ["mail", "slack", "console"])
    alerts = [p for p in store.claim_alerts("immediate", ["mail", "slack", "console"])
              if p.alert.watch_id == "rnk"]
    assert len(alerts) == 3
    assert len({p.outbox_id for p in alerts}) == 3
    assert len({p.alert.alert_id for p in alerts}) == 1
    assert alerts[0].alert.outlet == "Outlet A"
    assert alerts[0].alert.matched == ("Pyongyang",)
    store.close()
