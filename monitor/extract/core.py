"""extract(): one page in, an Article or a Rejection with a reason out."""

from __future__ import annotations

from trafilatura.utils import load_html

from monitor.extract import verdict
from monitor.extract.body import drop_headline, extract_body
from monitor.extract.dates import published_date
from monitor.extract.decode import decode_body, not_html_reason
from monitor.extract.fields import (
    authors,
    canonical_url,
    choose_title,
    description,
    language,
    title_candidates,
)
from monitor.extract.metadata import clean_text, read_meta
from monitor.models import Article, ExtractOptions, Page, Rejection

_DEFAULT_OPTIONS = ExtractOptions()


def extract(page: Page, options: ExtractOptions | None = None) -> Article | Rejection:
    """Extract the news article on a page, or say why there is none.

    The HTML is parsed once; JSON-LD, meta tags and the body all come from that tree.

    Args:
        page: the fetched (or replayed) page.
        options: limits; ``ExtractOptions()`` defaults when None.

    Returns:
        An Article with a non-empty body, or a Rejection whose ``reason`` is one of
        ``not-html``, ``too-large``, ``no-text``, ``too-short``, ``listing-page``,
        ``consent-wall``, and whose ``detail`` gives the evidence.
    """
    options = options or _DEFAULT_OPTIONS

    def reject(reason: str, detail: str) -> Rejection:
        return Rejection(url=page.url, source=page.source, reason=reason, detail=detail)

    size = len(page.body)
    if size > options.max_page_bytes:
        return reject("too-large", f"body is {size} bytes, over the limit of "
                                   f"{options.max_page_bytes} bytes")
    why = not_html_reason(page)
    if why:
        return reject("not-html", why)

    tree = load_html(decode_body(page))
    if tree is None:
        return reject("no-text", f"the {size}-byte body could not be parsed as HTML")
    pm = read_meta(tree)
    body = extract_body(tree, pm, page.url)

    cands = title_candidates(pm, page.url)
    title, _ = choose_title(cands)
    body = drop_headline(body, [title, *cands.values(), *pm.h1[:1]])

    decision = verdict.judge(tree, pm, body, options)
    if decision.reason:
        return reject(decision.reason, decision.detail)

    if not title and page.feed_title:
        title = clean_text(page.feed_title)
    published, _ = published_date(pm, tree, page.url)
    if published is None:
        published = page.feed_published
    return Article(
        url=canonical_url(pm, page.url),
        request_url=page.url,
        source=page.source,
        title=title or "",
        text=decision.text,
        published=published,
        author=authors(pm),
        language=language(pm),
        partial=decision.partial,
        comments=body.comments,
        description=description(pm),
    )
