"""Consent banners over articles in unusual containers (case 02) and paywalled pages
(case R9): a recall-oriented second extraction before rejecting; a paywalled article is
stored partial with its teaser, never with the subscription offer."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.extract import extract, page_from_file
from monitor.matching import load_watches
from monitor.models import Article, ExtractOptions, Page, Rejection

CASES = Path(__file__).resolve().parent / "cases"

COOKIE_NOTICE = (
    "We and our partners use cookies to personalise content and ads, provide social media "
    "features and analyse traffic. By clicking accept all you consent to the use of cookies "
    "and similar technologies by us and our vendors. You can withdraw your consent at any "
    "time in the privacy settings and read our cookie policy and privacy notice for details "
    "on how our partners process personal data.")
ARTICLE_PARAS = [
    "The harbour authority approved a plan on Monday to dredge the eastern channel, "
    "allowing larger container ships to reach the port for the first time since 1990.",
    "Work is due to begin in March and should take eighteen months, the authority said, "
    "adding that fishing boats will keep a marked lane open throughout the works.",
    "Environmental groups said they would study the plan and might appeal, citing the "
    "seagrass meadows along the northern edge of the channel.",
]


def _page(html: str, url: str = "https://port.example/news/dredging") -> Page:
    return Page(url=url, body=html.encode(), source="test")


def _hits(rules: Path, article: Article) -> set[str]:
    return {h.watch_id for h in load_watches(rules).match(article)}


# --- case 02: consent notice longer than an article trafilatura discards --------------

def test_case_02_article_in_aside_behind_a_cookie_notice():
    folder = CASES / "02-consent-aside"
    result = extract(page_from_file(folder / "radio-windfarm.html"))
    assert isinstance(result, Article), result
    assert "wind farm" in result.text
    assert "cookies" not in result.text.lower()
    assert _hits(folder / "rules", result) == {"windfarm"}


@pytest.mark.parametrize("container", ["aside", "nav", "footer", "section"])
@pytest.mark.parametrize("banner", [
    "<div id='cmp'><p>{notice}</p><button>Accept all</button></div>",
    "<section class='banner'><h2>Your privacy</h2><p>{notice}</p><a href='#'>Manage options</a></section>",
    "<dialog open><p>{notice}</p></dialog>",
])
def test_cookie_banner_over_an_article_in_any_container(container, banner):
    paras = "".join(f"<p>{p}</p>" for p in ARTICLE_PARAS)
    html = (f"<html><head><title>Channel to be dredged</title></head><body>"
            f"{banner.format(notice=COOKIE_NOTICE)}"
            f"<{container} class='content'><h1>Channel to be dredged</h1>{paras}</{container}>"
            f"</body></html>")
    result = extract(_page(html))
    assert isinstance(result, Article), result
    assert "dredge the eastern channel" in result.text
    assert "cookie" not in result.text.lower()


def test_a_real_consent_wall_is_still_rejected():
    html = (f"<html><head><title>Before you continue</title></head><body>"
            f"<div class='wall'><h1>Before you continue</h1><p>{COOKIE_NOTICE}</p>"
            f"<p>{COOKIE_NOTICE.replace('personalise', 'tailor')}</p>"
            f"<button>Accept all</button><button>Reject all</button></div></body></html>")
    result = extract(_page(html))
    assert isinstance(result, Rejection)
    assert result.reason in ("consent-wall", "no-text", "too-short")


# --- case R9: paywalled pages ---------------------------------------------------------

@pytest.mark.parametrize("name, teaser", [
    ("paywalled", ["The insurer is exploring a sale of its life insurance unit"]),
    ("paywalled-long-teaser", ["The insurer is exploring a sale of its life insurance unit",
                               "The company has hired advisers"]),
])
@pytest.mark.parametrize("markup", [True, False])
def test_case_R9_paywalled_article_is_partial_with_its_teaser(name, teaser, markup):
    folder = CASES / "R9-paywall"
    page = page_from_file(folder / f"{name}.html")
    if not markup:  # the same page without the paywall class: the prompt text alone
        page = Page(url=page.url, body=page.body.replace(b'class="paywall"', b'class="box"'),
                    source=page.source)
    result = extract(page)
    assert isinstance(result, Article), result
    assert result.partial is True
    assert result.title == "Insurer weighs sale of life unit"
    for line in teaser:
        assert line in result.text
    for offer in ("Subscribe", "subscri", "first month is free", "unlimited access",
                  "Special offer"):
        assert offer.lower() not in result.text.lower()
    assert _hits(folder / "rules", result) == {"insurer-sale"}


def test_case_R9_also_with_a_low_minimum():
    page = page_from_file(CASES / "R9-paywall" / "paywalled.html")
    result = extract(page, ExtractOptions(min_text_chars=10))
    assert isinstance(result, Article) and result.partial
    assert "Subscribe to continue reading" not in result.text


@pytest.mark.parametrize("offer", [
    "<div class='paywall'><h2>Subscribe to continue reading</h2><p>Already a subscriber? "
    "Log in.</p></div>",
    "<div class='regwall-container'><p>This article is for subscribers only.</p>"
    "<p>Get unlimited access for 1 euro a month. Cancel anytime.</p></div>",
    "<section><p>Jetzt weiterlesen mit Abo</p><p>Alle Artikel für 9,99 € pro Monat, "
    "jederzeit kündbar.</p></section>",
])
def test_paywall_offers_in_other_forms(offer):
    html = ("<html><head><meta property='og:type' content='article'>"
            "<title>Port deal</title></head><body><article><h1>Port deal</h1>"
            f"<p class='lead'>{ARTICLE_PARAS[0]}</p>{offer}</article></body></html>")
    result = extract(_page(html))
    assert isinstance(result, Article), result
    assert result.partial
    assert result.text == ARTICLE_PARAS[0]


def test_a_full_article_mentioning_subscribers_is_not_cut():
    paras = [*ARTICLE_PARAS,
             "The streaming service said it now has 12 million subscribers, up from 9 million a "
             "year earlier, and will raise prices for new subscribers from April."]
    html = ("<html><head><meta property='og:type' content='article'><title>T</title></head>"
            "<body><article><h1>T</h1>" + "".join(f"<p>{p}</p>" for p in paras)
            + "</article></body></html>")
    result = extract(_page(html))
    assert isinstance(result, Article)
    assert not result.partial
    assert "12 million subscribers" in result.text


def test_a_page_with_neither_paywall_nor_article_text_stays_rejected():
    html = ("<html><head><title>Flash</title></head><body><article><h1>Flash</h1>"
            "<p>More to follow.</p></article></body></html>")
    result = extract(_page(html))
    assert isinstance(result, Rejection) and result.reason in ("too-short", "no-text")
