"""monitor.extract body cleaning on small synthetic pages: structured-data fallbacks,
pages that append the next article, repeated placeholders."""

from __future__ import annotations

import json

import pytest
from trafilatura.utils import load_html

from monitor.extract import extract
from monitor.extract.body import _appended_articles
from monitor.models import Article, Page, Rejection

STORY = [
    "The council approved the new bridge over the Lune on Tuesday night by seven votes to five.",
    "Engineers expect the crossing to open in spring, three years after the first plans.",
    "Residents of the east bank had campaigned for a footpath since the ferry stopped running.",
    "Opponents warned that heavier traffic would clog the narrow streets of the old town.",
    "The mayor said buses would be rerouted and a lorry ban enforced during school hours.",
    "Funding comes partly from a regional grant and partly from a parking levy.",
    "Contractors must finish the foundations before the autumn floods raise the water level.",
    "A fisheries charity asked for a survey of salmon spawning grounds below the piers.",
    "The county archaeologist will watch the excavation for remains of a medieval quay.",
    "Shopkeepers on Bridge Street hope the footfall will revive their trade.",
    "Cyclists welcomed a separated lane, though some called its width disappointing.",
    "A public exhibition of the final design opens at the library next month.",
]


def page(html: str, url: str = "https://news.example/politics/bridge") -> Page:
    return Page(url=url, body=html.encode("utf-8"), source="test")


def head(extra: str = "") -> str:
    return ("<meta charset='utf-8'><title>Bridge to open in spring | Example News</title>"
            "<meta property='og:type' content='article'>"
            "<meta property='og:title' content='Bridge to open in spring'>" + extra)


def test_text_only_in_a_script_payload_is_read_from_it():
    # a client-rendered page: the HTML holds a shell, the story is a JSON string in a script
    content = "".join(f"<p>{s}</p>" for s in STORY)
    state = {"article": {"id": 7, "title": "Bridge to open in spring", "contentHtml": content},
             "config": {"theme": "dark", "routes": ["/", "/politics"]}}
    html = (f"<!DOCTYPE html><html lang='en'><head>{head()}</head><body><div id='root'></div>"
            f"<script>window.__STATE__ = window.__STATE__ || [];"
            f"window.__STATE__.push({json.dumps(state)});</script></body></html>")
    got = extract(page(html))
    assert isinstance(got, Article), got
    assert got.text.split("\n\n") == STORY


def test_script_payload_is_not_used_on_a_page_without_article_claims():
    content = "".join(f"<p>{s}</p>" for s in STORY)
    html = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Example</title>"
            "</head><body><div id='root'></div>"
            f"<script>var s = {json.dumps({'contentHtml': content})};</script></body></html>")
    got = extract(page(html))
    assert isinstance(got, Rejection) and got.reason == "no-text"


def test_json_ld_article_body_replaces_a_far_shorter_extraction():
    # the visible page shows the first four paragraphs; the JSON-LD carries all twelve
    ld = {"@context": "https://schema.org", "@type": "NewsArticle",
          "headline": "Bridge to open in spring", "articleBody": "\n\n".join(STORY)}
    visible = "".join(f"<p>{s}</p>" for s in STORY[:4])
    html = (f"<!DOCTYPE html><html lang='en'><head>{head()}"
            f"<script type='application/ld+json'>{json.dumps(ld)}</script></head>"
            f"<body><article><h1>Bridge to open in spring</h1>{visible}</article></body></html>")
    got = extract(page(html))
    assert isinstance(got, Article), got
    assert got.text.split("\n\n") == STORY


def test_json_ld_article_body_repeating_the_text_does_not_replace_it():
    # an articleBody that holds the story twice is long but adds no words
    ld = {"@context": "https://schema.org", "@type": "NewsArticle",
          "headline": "Bridge to open in spring", "articleBody": " ".join(STORY * 3)}
    visible = "".join(f"<p>{s}</p>" for s in STORY)
    html = (f"<!DOCTYPE html><html lang='en'><head>{head()}"
            f"<script type='application/ld+json'>{json.dumps(ld)}</script></head>"
            f"<body><article><h1>Bridge to open in spring</h1>{visible}</article></body></html>")
    got = extract(page(html))
    assert isinstance(got, Article), got
    assert got.text.split("\n\n") == STORY


NEXT_STORY = [
    "The county cricket club has signed a fast bowler from New Zealand for the summer.",
    "He played four test matches and took eleven wickets on his debut tour of England.",
    "The coach said the signing gives the attack pace that it lacked last season.",
    "Members will meet the new player at a supporters' evening in the pavilion.",
    "Tickets for the opening home fixture go on sale at the club shop on Monday.",
    "Ground staff have relaid the square after the wettest winter in twenty years.",
    "The club also confirmed that its academy captain has signed a first professional deal.",
    "Season tickets are unchanged in price for the third year running, the treasurer said.",
]


def scroll_page() -> str:
    first = "".join(f"<p>{s}</p>" for s in STORY)
    second = "".join(f"<p>{s}</p>" for s in NEXT_STORY)
    teaser = ("<article class='teaser'><h1><a href='/sport/x'>Cup final tickets sold out</a>"
              "</h1></article>")
    return (f"<!DOCTYPE html><html lang='en'><head>{head()}</head><body><main>"
            f"<article><h1>Bridge to open in spring</h1>{first}{teaser}</article>"
            f"<div class='next'><article id='next'><h1>County signs fast bowler</h1>{second}"
            f"</article></div></main></body></html>")


def test_appended_articles_found_but_not_nested_teasers():
    tree = load_html(scroll_page())
    found = _appended_articles(tree)
    assert [a.get("id") for a in found] == ["next"]
    assert len(list(tree.iter("article"))) == 3   # the caller's tree is not modified


def test_next_article_appended_by_infinite_scroll_is_left_out():
    got = extract(page(scroll_page()))
    assert isinstance(got, Article), got
    assert got.title == "Bridge to open in spring"
    assert "fast bowler" not in got.text
    assert got.text.split("\n\n")[:3] == STORY[:3]


def test_repeated_short_placeholders_are_removed():
    placeholder = ("<p>External content not available</p><p>Your privacy settings block "
                   "embedded content.</p>")
    parts = []
    for i, s in enumerate(STORY):
        parts.append(f"<p>{s}</p>")
        if i % 4 == 1:
            parts.append(placeholder)
    html = (f"<!DOCTYPE html><html lang='en'><head>{head()}</head><body><article>"
            f"<h1>Bridge to open in spring</h1>{''.join(parts)}</article></body></html>")
    got = extract(page(html))
    assert isinstance(got, Article), got
    assert got.text.split("\n\n") == STORY


def test_photo_credit_lines_are_removed():
    parts = [f"<p>{s}</p>" for s in STORY]
    parts.insert(2, "<p>Photo: Jane Doe/AFP</p>")
    parts.insert(6, "<p>STR/AFP via Getty Images</p>")
    html = (f"<!DOCTYPE html><html lang='en'><head>{head()}</head><body><article>"
            f"<h1>Bridge to open in spring</h1>{''.join(parts)}</article></body></html>")
    got = extract(page(html))
    assert isinstance(got, Article), got
    assert got.text.split("\n\n") == STORY


def _walled_page(paragraphs: int) -> Page:
    text = "".join(f"<p>Paragraph {i}: the harbour board met on Tuesday and agreed to "
                   f"extend the quay by {i + 10} metres before the winter storms arrive, "
                   f"officials said after the vote.</p>" for i in range(paragraphs))
    nav = "".join(f'<li><a href="/s/{i}">Section {i}</a></li>' for i in range(80))
    html = (f'<!DOCTYPE html><html lang="en"><head><title>Quay extended</title>'
            f'<meta property="og:type" content="article"></head><body><nav><ul>{nav}</ul>'
            f"</nav><article><h1>Quay extended</h1>{text}"
            f'<div class="paywall-offer"><p>Subscribe now to continue reading. Already a '
            f"subscriber? Log in.</p></div></article><footer><p>© 2024 Harbour News</p>"
            f"</footer></body></html>")
    return Page(url="https://harbour.example/news/quay", body=html.encode(), source="t")


@pytest.mark.parametrize("paragraphs", [2, 12])
def test_walled_page_skips_trafilatura_fallbacks_without_losing_text(monkeypatch, paragraphs):
    # a walled page is first extracted without trafilatura's fallbacks; the text must be
    # what the full cascade gives, for a stub (2 paragraphs: run again with them) and for a
    # real-sized article (12 paragraphs: the fast pass is kept)
    from monitor.extract import body

    page = _walled_page(paragraphs)
    fast = extract(page)
    calls = []
    full_only = body._trafilatura

    def never_fast(tree, recall, fast):
        calls.append(fast)
        return full_only(tree, recall, False)

    monkeypatch.setattr(body, "_trafilatura", never_fast)
    full = extract(page)
    assert isinstance(fast, Article) and isinstance(full, Article)
    assert fast.text == full.text
    assert "Paragraph 1:" in fast.text and "Subscribe" not in fast.text
    assert calls and calls[0] is True   # the walled page was offered the fast pass
