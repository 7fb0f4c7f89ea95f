"""Shared helpers for the matching tests (no tests here).

The seed article is built from the excerpt below (headline, standfirst, body lines) of
the story in ``seeds/cbc-news_2024-06-19.html``, so the matching tests do not depend on
extraction.
"""

from __future__ import annotations

from pathlib import Path

from monitor.models import Article

REPO = Path(__file__).resolve().parents[1]
SEED_PAGE = REPO / "seeds" / "cbc-news_2024-06-19.html"

SEED_EXCERPT = """\
Russia, North Korea say they've strengthened ties, including mutual defence pact
Kim Jong-un expresses 'unconditional support' for Russian policies, on Putin's first visit in 24 years
Russian President Vladimir Putin signed a deal with North Korea's Kim Jong-un on Wednesday in Pyongyang that included a mutual defence pledge, one of Russia's most significant moves in Asia for years that Kim said amounted to an "alliance."
Moscow could develop military and technical co-operation with the North Koreans, Putin said, linking the deepening ties to the West's growing support for Ukraine two years after Russian troops invaded the country.
"The comprehensive partnership agreement signed today provides, among other things, for mutual assistance in the event of aggression against one of the parties to this agreement," Putin said.
Kim said the pact would expand co-operation in politics, economy and defence, calling it "strictly peace-loving and defensive" in nature. He expressed "unconditional support" for "all of Russia's policies," including Putin's war with Ukraine, which has led to a host of U.S.-led Western sanctions.
Depending on the exact wording of the pact, which was not released, it could be a dramatic shift in the strategic balance in Northeast Asia by placing Russia's heft behind North Korea, which was founded in 1948 with Soviet Union backing. Officials in the U.S. and South Korea have expressed concerns about the deepening ties ahead of this week's summit.
Moscow and Pyongyang have denied weapons transfers.
"""

FOOTBALL = Article(
    url="https://sport.example/arsenal-chelsea", request_url="https://sport.example/a",
    source="sport-desk", title="Arsenal beat Chelsea in a tense derby",
    text="The match at the Emirates was settled by a late header. Chelsea's defence "
         "looked tired and the home side pressed for a winner.\n\nThe manager praised the "
         "crowd and said the team's mutual trust carried them through.",
    language="en")

RECIPE = Article(
    url="https://food.example/sourdough", request_url="https://food.example/sourdough",
    source="kitchen", title="Why your sourdough starter smells like nail varnish",
    text="Feed the starter twice a day with equal weights of flour and water. Keep it "
         "warm, and discard half before each feed. A defenceless starter is easily "
         "taken over by other yeasts.",
    language="en")


def article_from_lines(text: str, url: str = "https://www.cbc.ca/news/world/seed",
                       source: str = "cbc-world", language: str | None = "en") -> Article:
    """Build an Article from headline / standfirst / body lines."""
    lines = text.splitlines()
    body = "\n\n".join(line for line in lines[2:] if line.strip())
    return Article(url=url, request_url=url, source=source, title=lines[0], text=body,
                   description=lines[1], language=language)


def seed_article() -> Article:
    """The seed story, built from :data:`SEED_EXCERPT`."""
    return article_from_lines(SEED_EXCERPT)


def art(text: str = "", title: str = "", **kw) -> Article:
    """A small article for table-driven cases."""
    return Article(url=kw.pop("url", "https://news.example/a"),
                   request_url="https://news.example/a", source=kw.pop("source", "desk"),
                   title=title, text=text, **kw)


ENTITIES = {
    "north-korea": ["North Korea", "DPRK", "Pyongyang",
                    "Democratic People's Republic of Korea"],
    "russia": ["Russia", "Russian Federation", "Moscow"],
    "kim-jong-un": ["Kim Jong Un", "Kim Jong-un"],
    "vladimir-putin": ["Vladimir Putin", "Putin"],
}
VARIANTS = [["defence", "defense"], ["co-operation", "cooperation"]]
