"""Listing pages (section fronts, tag pages): recognised by their teasers whatever their
number, so an AND query never matches across two unrelated teasers."""

from __future__ import annotations

import itertools

import pytest

from monitor.extract import extract
from monitor.matching.adhoc import compile_query
from monitor.models import Article, Page, Rejection

TEASERS = [
    ("Russia and China hold naval drills in the Pacific",
     "The exercise involves twelve warships and will last a week off the coast, officials "
     "said on Monday in a brief statement to reporters."),
    ("North Korea launches satellite rocket",
     "The launch was the third attempt this year, according to the military in Seoul, "
     "which tracked the rocket over the Yellow Sea for several minutes."),
    ("City budget passes after late-night session",
     "Councillors approved the spending plan by one vote after a debate that ran until two "
     "in the morning, ending weeks of argument."),
    ("Heatwave warning for the south",
     "Forecasters expect temperatures above 35 degrees from Thursday, with the hottest days "
     "over the weekend and little relief at night."),
    ("Rail strike called off",
     "Unions said a new offer from the operator was good enough to put to members, and the "
     "walkout planned for Friday will not go ahead."),
]
ARTICLE = [
    "The finance ministry said on Tuesday that tax receipts rose by four percent in the "
    "first half of the year, helped by higher wages and a recovery in consumer spending.",
    "Officials cautioned that the second half would be weaker as energy subsidies end, and "
    "said the deficit target for the year remained within reach.",
    "Opposition lawmakers called the figures flattering and demanded an independent review "
    "of the ministry's forecasts before the budget debate in autumn.",
]
AND_QUERY = 'Russia AND "North Korea"'


def _cards(n: int, card: str, heading: str, start: int = 0) -> str:
    items = "".join(
        f"<{card} class='card'><{heading}><a href='/news/s{i}'>{t}</a></{heading}>"
        f"<p>{s}</p><span class='date'>2 hours ago</span></{card}>"
        for i, (t, s) in enumerate(TEASERS[start:start + n]))
    return f"<ul>{items}</ul>" if card == "li" else items


def _page(body: str, head: str = "") -> Page:
    html = (f"<html><head><title>World | Daily Example</title>{head}</head><body>"
            f"<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>{body}</body></html>")
    return Page(url="https://daily.example/world", body=html.encode(), source="test")


@pytest.mark.parametrize("n, card, heading, og", list(itertools.product(
    [2, 3, 5], ["div", "article", "li"], ["h2", "h3"],
    ["<meta property='og:type' content='website'>", ""])))
def test_section_front_with_any_number_of_teasers_is_a_listing(n, card, heading, og):
    result = extract(_page(f"<main><h1>World</h1>{_cards(n, card, heading)}</main>", og))
    assert isinstance(result, Rejection), result
    assert result.reason == "listing-page"
    assert "teasers" in result.detail


def test_an_and_query_never_matches_across_two_teasers():
    query = compile_query(AND_QUERY)
    # joined into one fake article, the two teasers would match
    fake = Article(url="u", request_url="u", source="t", title="World",
                   text="\n\n".join(f"{t} {s}" for t, s in TEASERS[:2]))
    assert query.match(fake) is not None
    for n in (2, 3, 5):
        result = extract(_page(f"<main><h1>World</h1>{_cards(n, 'div', 'h2')}</main>"))
        assert isinstance(result, Rejection) and result.reason == "listing-page"


def test_teaser_cards_of_other_stories_are_not_part_of_an_article():
    own = "".join(f"<p>{p} Russia was not mentioned.</p>" for p in ARTICLE)
    body = (f"<article><h1>Tax receipts rise</h1>{own}</article>"
            f"<section class='related'><h2>More news</h2>{_cards(3, 'div', 'h3', start=1)}</section>")
    result = extract(_page(body))
    assert isinstance(result, Article), result
    assert "tax receipts rose" in result.text
    assert "North Korea" not in result.text
    assert compile_query(AND_QUERY).match(result) is None


@pytest.mark.parametrize("related", [0, 2, 3, 5])
def test_an_article_without_metadata_with_related_teasers_stays_an_article(related):
    own = "".join(f"<p>{p}</p>" for p in ARTICLE)
    body = f"<h1>Tax receipts rise</h1>{own}<aside>{_cards(related, 'div', 'h3')}</aside>"
    result = extract(_page(body))
    assert isinstance(result, Article), result
    assert result.text.startswith("The finance ministry")
