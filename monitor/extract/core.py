"""extract(): one page in, an Article or a Rejection with a reason out."""

from __future__ import annotations

import logging

from monitor.extract import verdict
from monitor.extract.body import drop_headline, extract_body
from monitor.extract.dates import published_date
from monitor.extract.decode import decode_body, not_html_reason
from monitor.extract.fields import (
    authors,
    canonical_url,
    choose_title,
    description,
    keywords,
    language,
    outlet,
    title_candidates,
)
from monitor.extract.liblogs import hold_library_logs, last_message, release
from monitor.extract.metadata import article_signals, clean_text, read_meta
from monitor.extract.retry import recall_tree
from monitor.extract.tree import parse_html
from monitor.models import Article, ExtractOptions, Page, Rejection

_DEFAULT_OPTIONS = ExtractOptions()
# what a body may consist of and still be empty: whitespace, BOMs, NUL bytes
_BLANK = " \t\r\n\f\v\ufeff\x00"
_BLANK_BYTES = b" \t\r\n\f\v\x00\xef\xbb\xbf\xfe\xff"

# The Rejection reasons extract() returns, permanent or transient: PERMANENT_REASONS and
# TRANSIENT_REASONS (monitor.models, beside Rejection, so the store reads them without
# importing extraction).
# rejections that get a second, recall-oriented extraction first
_RETRIED = frozenset({"no-text", "too-short", "consent-wall"})


def extract(page: Page, options: ExtractOptions | None = None) -> Article | Rejection:
    """Extract the news article on a page, or say why there is none.

    The HTML is parsed once; JSON-LD, meta tags and the body all come from that tree.
    What trafilatura, htmldate and courlan log during the call is held back: dropped for
    a rejected page (the Rejection says why), passed on at ERROR and above for an article
    (see ``monitor.extract.liblogs``).

    Args:
        page: the fetched (or replayed) page.
        options: limits; ``ExtractOptions()`` defaults when None.

    Returns:
        An Article with a non-empty body, or a Rejection whose ``reason`` is a stable code
        (``monitor.models.Rejection``) and whose ``detail`` gives the evidence:

        permanent for the URL (re-fetching gives the same answer):
            ``not-html``, ``too-large``, ``listing-page``;
        transient (the page may become an article when re-fetched: a breaking-news stub
        grows, a consent wall is shown only to some requests, a server briefly sends an
        empty body), so the store retries them later:
            ``no-text``, ``too-short``, ``consent-wall``.

        ``PERMANENT_REASONS`` and ``TRANSIENT_REASONS`` hold the two groups; an empty
        body is ``no-text`` (transient), never ``not-html``.
    """
    with hold_library_logs() as held:
        result = _extract(page, options or _DEFAULT_OPTIONS, held)
    release(held, rejected=isinstance(result, Rejection))
    return result


def _extract(page: Page, options: ExtractOptions,
             held: list[logging.LogRecord]) -> Article | Rejection:
    def reject(reason: str, detail: str) -> Rejection:
        return Rejection(url=page.url, source=page.source, reason=reason, detail=detail)

    size = len(page.body)
    if size > options.max_page_bytes:
        return reject("too-large", f"body is {size} bytes, over the limit of "
                                   f"{options.max_page_bytes} bytes")
    if not page.body.strip(_BLANK_BYTES):
        # an empty response is a server's bad moment, not a property of the URL; checked
        # before parsing, lxml would only log "Document is empty"
        return reject("no-text", f"the {size}-byte body is empty or whitespace only")
    why = not_html_reason(page)
    if why:
        return reject("not-html", why)

    text = decode_body(page)
    if not text.strip(_BLANK):
        return reject("no-text", f"the {size}-byte body is empty or whitespace only "
                                 f"once decoded")
    tree = parse_html(text)
    if tree is None:
        why = last_message(held)
        return reject("no-text", f"the {size}-byte body could not be parsed as HTML"
                                 + (f" ({why})" if why else ""))
    pm = read_meta(tree)
    cands = title_candidates(pm, page.url)
    title, _ = choose_title(cands)
    headlines = [title, *cands.values(), *pm.h1[:1]]

    body = drop_headline(extract_body(tree, pm, page.url), headlines)
    decision = verdict.judge(tree, pm, body, options)
    retry = (decision.reason in _RETRIED and (decision.reason == "consent-wall" or body.partial
                                              or article_signals(pm))) \
        or (decision.reason is None and body.partial)
    if retry:
        # a second, recall-oriented try (monitor.extract.retry): the article may sit in an
        # <aside> behind a longer cookie notice, a paywalled article's teaser may carry a
        # class the balanced pass drops. Taken when accepted (and, for an accepted
        # paywalled page, longer); otherwise the first verdict stands.
        second, _ = recall_tree(tree)
        body2 = drop_headline(extract_body(second, pm, page.url, recall=True), headlines)
        decision2 = verdict.judge(second, pm, body2, options)
        if decision2.reason is None and (decision.reason is not None
                                         or len(decision2.text) > len(decision.text)):
            body, decision = body2, decision2
    if decision.reason:
        return reject(decision.reason, decision.detail)

    if not title and page.feed_title:
        title = clean_text(page.feed_title)
    published, _ = published_date(pm, tree, page.url, page.feed_published)
    if published is None:
        published = page.feed_modified
    return Article(
        url=canonical_url(pm, page.url),
        request_url=page.url,
        source=page.source,
        title=title or "",
        text=decision.text,
        published=published,
        author=authors(pm),
        language=language(pm, fallback=page.feed_language),
        partial=decision.partial,
        comments=body.comments,
        description=description(pm),
        site_name=outlet(pm),
        keywords=keywords(pm, page.feed_keywords),
    )
