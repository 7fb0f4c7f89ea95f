"""The article body: trafilatura on the parsed tree, cleaned with generic page signals.

Whole articles appended below the page's own (infinite scroll) are left out first. Then
one trafilatura pass (default, balanced settings, links kept in its XML so that link
lists can be recognised), then:

1. lists whose items are mostly links to other pages ("Mehr zum Thema", "Related"),
   with the heading just before them, and paragraphs that are wholly a link, go;
2. when the page's JSON-LD carries a full ``articleBody``, trailing paragraphs after the
   last one found in it go (related stories, author boxes, newsletter boxes);
3. short boxes (newsletter, read-also, credits) and short paragraphs repeated word for
   word go;
4. a paywall prompt at the end is cut off and reported (``partial``).

When the visible text is missing, or far shorter than the page's own JSON-LD
``articleBody``, the text comes from the structured data instead: the ``articleBody``,
else (on a page that claims to be an article) the longest prose string in an inline
script payload (Next.js and React Query state, ``__NEXT_DATA__``).

Each step is justified by ``benchmarks/extraction_quality.py`` (see docs/extraction.md).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import re
from dataclasses import dataclass

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.settings import Document
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt as _trafilatura_xmltotxt

from monitor.extract.metadata import PageMeta, article_signals, clean_lines, clean_text

# trafilatura's xmltotxt ends with html.unescape() over text that lxml has already decoded,
# so a page showing "&lt;script&gt;" would be stored as "<script>" (decoded twice). Where it
# does, "&" is escaped first, so its unescape gives back exactly the text the page shows.
_XMLTOTXT_UNESCAPES = _trafilatura_xmltotxt(etree.fromstring("<p>&amp;amp;</p>"), False) == "&"


def xmltotxt(element: etree._Element | None, include_formatting: bool) -> str:
    """The text of a trafilatura result tree, with HTML entities decoded once (by lxml).

    Args:
        element: trafilatura's ``body`` or ``commentsbody`` element (or None).
        include_formatting: as for ``trafilatura.xml.xmltotxt``.

    Returns:
        The text, paragraphs separated by newlines ("" for None).
    """
    if element is None or not _XMLTOTXT_UNESCAPES or not any(
            "&" in (node.text or "") or "&" in (node.tail or "") for node in element.iter()):
        return _trafilatura_xmltotxt(element, include_formatting)
    element = copy.deepcopy(element)
    for node in element.iter():
        if node.text and "&" in node.text:
            node.text = node.text.replace("&", "&amp;")
        if node.tail and "&" in node.tail:
            node.tail = node.tail.replace("&", "&amp;")
    return _trafilatura_xmltotxt(element, include_formatting)


# trafilatura logs every discarded page at WARNING; extract() holds those records back
# for the duration of the call (monitor.extract.liblogs), no logger level is changed here

_WORD = re.compile(r"\w+")
# a list is navigation when this share of its items is mostly link text
_LINK_ITEM_SHARE = 0.5
_LINK_LIST_SHARE = 0.5
# a paragraph is navigation when this share of its text is link text
_LINK_PARAGRAPH_SHARE = 0.8
# JSON-LD articleBody trimming: a paragraph "is in" the articleBody when this share of
# its words are; the articleBody must be at least this long relative to the extraction
# (shorter ones are teasers or paywall stubs)
_LD_COVERED = 0.7
_LD_MIN_RATIO = 0.5

# the JSON-LD articleBody replaces the extraction when the extraction is under this share
# of its length and lacks this share of its distinct words (a duplicated or marked-up
# articleBody is long but adds no words)
_LD_FAR_SHORTER = 0.5
_LD_MISSED_WORDS = 0.3
# script payloads: JSON string literals at least this long, read as article text when
# they are prose (few code characters, several sentence ends)
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.){400,})"')
_CODE_CHARS = re.compile(r"[{}\[\]\\|]")
_CODE_SHARE = 0.005
_SENTENCE_END = re.compile(r"[.!?。！？]")
_MIN_SENTENCES = 3
_TAG = re.compile(r"<[a-zA-Z/][^>]*>")

# an <article> with its own <h1> after the page's article is the next story (infinite
# scroll) when its paragraphs hold at least this many characters
_APPENDED_MIN_CHARS = 500

# prompts that end a paywalled stub (checked on the last paragraphs only)
PAYWALL = re.compile(
    r"(subscribe (?:now|today|to (?:continue|read|keep))|to continue reading|already a subscriber"
    r"|subscribers only|for subscribers"
    r"|this (?:article|content) is (?:for|reserved for|exclusive to)"
    r" (?:subscribers|members)|unlock (?:this|the full) (?:article|story)"
    r"|jetzt (?:weiterlesen|abonnieren|abo|testen|freischalten)|weiterlesen mit"
    r"|mit (?:\w+\s)?(?:plus|abo)"
    r" (?:weiterlesen|lesen)|bereits abonnent|schon abonnent|abo abschließen|zugang zu allen"
    r"|artikel (?:ist )?(?:nur )?für abonnent|exklusiv für abonnent"
    r"|abonnez-vous|déjà abonné|réservé aux abonnés|suscríbete|ya eres suscriptor"
    r"|exclusivo para suscriptores|abbonati|già abbonato)",
    re.I)

# words of subscription offers around a paywall prompt ("the first month is free",
# "cancel anytime", "log in"): a paragraph with one of them next to a prompt is part of
# the offer
SUBSCRIPTION = re.compile(
    r"(subscri(?:be|ption|ber)|\babo(?:nnement|nnent|s)?\b|abonn|per month|a month|pro monat"
    r"|par mois|al mes|cancel (?:anytime|at any time)|jederzeit kündbar|log ?in\b|sign in"
    r"|anmelden|einloggen|digital access|unlimited access|unbegrenzt|premium|special offer"
    r"|free trial|first month|gratis|kostenlos testen|e-paper|plus-artikel)",
    re.I)
# a trailing subscription offer is cut from at most this many paragraphs before the end
_PAYWALL_RUN = 6
# class or id tokens of the elements that hold a paywall or its offer (markup vocabulary
# of paywall vendors and CMSs, not site names)
PAYWALL_MARKUP = re.compile(
    r"(?:[\w-]*[_-])?(?:paywall|pay-wall|regwall|reg-wall|piano-offer|piano-paywall"
    r"|subscription-(?:wall|prompt|offer|required)|subscriber-only|subscribers-only"
    r"|premium-(?:wall|barrier)|plus-(?:wall|barrier)|offer-wall|metered-wall)"
    r"(?:[_-](?:box|container|wrapper|inner|overlay|prompt|offer|cta|message|notice|banner|block))?",
    re.I)
# a part of every ``PAYWALL_MARKUP`` match: a quick test before the token by token one
_PAYWALL_HINT = re.compile(r"wall|piano-offer|subscri|premium-|plus-", re.I)
_PAYWALL_HINTS = ("wall", "piano-offer", "subscri", "premium-", "plus-")
# every class and every id value of a page as plain strings, collected by libxml2 (two
# paths: a union would sort the attributes into document order, which costs more)
_CLASS_VALUES = etree.XPath("//*/@class", smart_strings=False)
_ID_VALUES = etree.XPath("//*/@id", smart_strings=False)
# a paywalled article may be a headline and a teaser: stored (partial) from this length
PARTIAL_MIN_CHARS = 80
# a page with paywall markup is a stub (partial) when its text is shorter than this
_WALLED_STUB_CHARS = 1000


# short boxes that sit in or after article text: newsletter and app prompts, "read also"
# teasers, copyright lines (generic phrases, no site names)
BOILERPLATE = re.compile(
    r"(newsletter|sign up|signup|follow us|folgen sie|folgst du|abonniere|lesen sie auch"
    r"|mehr zum thema"
    r"|auch interessant|read more|read also|related:|more from|all rights reserved"
    r"|alle rechte vorbehalten|tous droits réservés|todos los derechos|copyright|©|whatsapp-kanal"
    r"|in your inbox|get the latest|download (?:the|our) app|unsere app"
    r"|jetzt (?:teilen|herunterladen))",
    re.I)
_BOILERPLATE_MAX_CHARS = 300
# BOILERPLATE for lower-cased text: case-sensitive branches let the regex engine skip
# ahead to their first letters (several times faster on long paragraphs)
_BOILERPLATE_LOWER = re.compile(BOILERPLATE.pattern)


def _is_boilerplate(para: str) -> bool:
    """``BOILERPLATE.search(para)``, faster."""
    low = para.lower()
    if len(low) != len(para):   # a letter that lower-cases to two: the plain way
        return BOILERPLATE.search(para) is not None
    return _BOILERPLATE_LOWER.search(low) is not None

# photo and source credit lines ("Photo: AFP", "STR/Getty Images", "Quelle: dpa")
CREDIT = re.compile(
    r"^(?:photos?|fotos?|bild(?:er)?|images?|credits?|quelle|source|фото)\s*(?:\[m\])?\s*:"
    r"|getty images|shutterstock|\bimago\b|picture[ -]alliance", re.I)
_CREDIT_MAX_CHARS = 80

# a short paragraph found twice or more, word for word, is a placeholder, a credit or a
# widget label ("External content not available", "Photo: AFP"): every copy goes
_REPEATED_MAX_CHARS = 200


@dataclass
class Body:
    """An extracted body.

    Attributes:
        text: paragraphs separated by blank lines ("" when nothing was found).
        comments: reader comments, paragraphs separated by blank lines, or None.
        partial: True when the text ended in a subscription prompt (removed from text).
        method: the steps that produced ``text`` (for the benchmark and debugging).
        dropped_chars: characters of link lists and link paragraphs removed from the
            main content (a listing page loses most of its text this way).
    """

    text: str
    comments: str | None
    partial: bool = False
    method: str = "trafilatura"
    dropped_chars: int = 0


def paragraphs(text: str | None) -> list[str]:
    """Split extracted text into whitespace-normalised, non-empty paragraphs."""
    if not text:
        return []
    return clean_lines(text)


def _text_len(el: etree._Element) -> int:
    return len("".join(el.itertext()).strip())


def _link_share(el: etree._Element) -> float:
    if next(el.iter("ref"), None) is None:   # most paragraphs: no link at all
        return 0.0
    total = _text_len(el)
    if not total:
        return 0.0
    return sum(_text_len(ref) for ref in el.iter("ref")) / total


def _drop_link_blocks(body: etree._Element) -> int:
    """Remove link lists (and their heading) and all-link paragraphs; return the number
    of characters removed."""
    kids = list(body)
    drop: set[int] = set()
    for i, el in enumerate(kids):
        if el.tag == "list":
            items = list(el.iter("item"))
            linky = sum(_link_share(item) >= _LINK_ITEM_SHARE for item in items)
            if items and linky >= _LINK_LIST_SHARE * len(items):
                drop.add(i)
                if i > 0 and kids[i - 1].tag == "head":
                    drop.add(i - 1)
        elif el.tag == "p" and _link_share(el) >= _LINK_PARAGRAPH_SHARE:
            drop.add(i)
    removed = 0
    for i in sorted(drop, reverse=True):
        removed += _text_len(kids[i])
        body.remove(kids[i])
    return removed


def _tokens(text: str) -> collections.Counter[str]:
    return collections.Counter(_WORD.findall(text.lower()))


def _trim_to_articlebody(paras: list[str], article_body: str | None) -> list[str]:
    """Drop paragraphs after the last one that the JSON-LD articleBody contains."""
    if not article_body or not paras:
        return paras
    if len(article_body) < _LD_MIN_RATIO * sum(len(p) for p in paras):
        return paras
    reference = _tokens(article_body)
    last = -1
    for i, para in enumerate(paras):
        words = _tokens(para)
        total = sum(words.values())
        # the size of the multiset intersection words & reference
        shared = sum(min(n, reference.get(w, 0)) for w, n in words.items())
        if total and shared / total >= _LD_COVERED:
            last = i
    return paras[: last + 1] if last >= 0 else paras


def _markup_paragraphs(text: str) -> list[str]:
    """Paragraphs of a text from structured data, which may be an HTML fragment."""
    if not _TAG.search(text):
        return paragraphs(text)
    fragment = load_html(f"<html><body><article>{text}</article></body></html>")
    try:
        doc = trafilatura.bare_extraction(fragment, url=None) if fragment is not None else None
    except Exception:  # malformed fragment: fall back to the text without tags
        doc = None
    if isinstance(doc, Document) and doc.body is not None:
        got = paragraphs(xmltotxt(doc.body, False))
        if got:
            return got
    return paragraphs(_TAG.sub("\n", text))


def _ld_replaces(paras: list[str], article_body: str | None) -> bool:
    """True when the JSON-LD articleBody holds much more of the article than the
    extraction: over twice as long (markup aside) and with words the extraction lacks."""
    if not article_body:
        return False
    ld_text = _TAG.sub(" ", article_body)
    if not paras:
        return bool(ld_text.strip())
    if sum(len(p) for p in paras) >= _LD_FAR_SHORTER * len(clean_text(ld_text)):
        return False
    ld_words = set(_tokens(ld_text))
    have = set(_tokens(" ".join(paras)))
    return len(ld_words - have) >= _LD_MISSED_WORDS * len(ld_words)


def _payload_paragraphs(tree: HtmlElement) -> list[str]:
    """The article text kept only in an inline script payload (client-rendered pages):
    the longest JSON string literal that reads as prose, as paragraphs."""
    best, best_len = None, 0
    for script in tree.iter("script"):
        code = script.text
        if not code or script.get("src") or len(code) < 400:
            continue
        for match in _JSON_STRING.finditer(code):
            try:
                value = json.loads(f'"{match.group(1)}"')
            except ValueError:
                continue
            prose = _TAG.sub(" ", value)
            if (len(prose) <= best_len
                    or len(_CODE_CHARS.findall(prose)) > _CODE_SHARE * len(prose)
                    or len(_SENTENCE_END.findall(prose)) < _MIN_SENTENCES):
                continue
            best, best_len = value, len(prose)
    return _markup_paragraphs(best) if best else []


def _cut_paywall(paras: list[str]) -> tuple[list[str], bool]:
    """Remove a subscription prompt from the end of the text, with the offer around it.

    A prompt (``PAYWALL``) among the last three paragraphs anchors the cut; paragraphs
    before it that read as part of the offer (``SUBSCRIPTION`` vocabulary, under 400
    characters, at most ``_PAYWALL_RUN`` from the end) go with it.
    """
    anchor = None
    for i in range(len(paras) - 1, max(len(paras) - 4, 0) - 1, -1):
        if i >= 0 and len(paras[i]) < 400 and PAYWALL.search(paras[i]):
            anchor = i
            break
    if anchor is None:
        return paras, False
    start = anchor
    floor = max(len(paras) - _PAYWALL_RUN, 0)
    while start - 1 >= floor and len(paras[start - 1]) < 400 and (
            PAYWALL.search(paras[start - 1]) or SUBSCRIPTION.search(paras[start - 1])):
        start -= 1
    return paras[:start], True


def paywall_elements(tree: HtmlElement) -> list[etree._Element]:
    """The elements of a page that hold its paywall offer: a class or id token that is
    paywall vocabulary (``PAYWALL_MARKUP``), under 1,500 characters of text, and text
    that reads as an offer (``PAYWALL`` or ``SUBSCRIPTION`` words).

    Sites also mark the locked article itself (``class="paywall-article"``, JSON-LD
    ``isAccessibleForFree`` parts, which crawlers are often shown in full), so markup
    alone never removes text: the offer's words must be there too.

    Args:
        tree: the parsed page.

    Returns:
        The outermost such elements, in document order.
    """
    found: list[etree._Element] = []
    # the class and id tokens of paywall markup, looked for in C: most pages have none
    # (no hint at all in their class and id values, or only in unrelated tokens)
    names = " ".join(" ".join(_CLASS_VALUES(tree) + _ID_VALUES(tree)).split())   # 1 space apart
    folded = names.lower()
    if len(folded) != len(names):   # a letter that lower-cases to two: token by token
        tokens = sorted(t for t in set(names.split())
                        if _PAYWALL_HINT.search(t) and PAYWALL_MARKUP.fullmatch(t))
    else:
        found_tokens = set()
        for hint in _PAYWALL_HINTS:   # str.find per hint: C, faster than one regex
            at = folded.find(hint)
            while at >= 0:
                start = folded.rfind(" ", 0, at) + 1
                end = folded.find(" ", at + len(hint))
                end = len(names) if end < 0 else end
                if PAYWALL_MARKUP.fullmatch(names[start:end]):
                    found_tokens.add(names[start:end])
                at = folded.find(hint, end)
        tokens = sorted(found_tokens)
    if not tokens:
        return []
    # tokens hold only word characters and hyphens (PAYWALL_MARKUP): safe in XPath quotes
    holders = tree.xpath("descendant-or-self::*[" + " or ".join(
        f"contains(@class, '{t}') or contains(@id, '{t}')" for t in tokens) + "]")
    for el in holders:
        if el.tag in ("html", "body", "article", "main"):
            continue
        names = f"{el.get('class') or ''} {el.get('id') or ''}"
        if not any(PAYWALL_MARKUP.fullmatch(t) for t in names.split()):
            continue
        text = " ".join("".join(el.itertext()).split())
        if len(text) < 1500 and (PAYWALL.search(text) or SUBSCRIPTION.search(text)):
            found.append(el)
    return [el for el in found if not any(a in found for a in el.iterancestors())]


def _without(tree: HtmlElement, elements: list[etree._Element]) -> HtmlElement:
    """A copy of the tree without the given elements (their tails are kept)."""
    paths = [tree.getroottree().getpath(el) for el in elements]
    tree = copy.deepcopy(tree)
    for path in paths:
        for el in tree.getroottree().xpath(path):
            if el.getparent() is not None:
                el.drop_tree()  # lxml.html: removes the element, keeps its tail text
    return tree


def _appended_articles(tree: HtmlElement) -> list[etree._Element]:
    """Whole articles appended after the page's own one (infinite scroll): later
    ``<article>`` elements with their own ``<h1>`` and paragraphs, outside the first
    article that has an ``<h1>``. Teaser cards nested inside the article stay."""
    containers: list[etree._Element] = []
    for h1 in tree.iter("h1"):
        article = next((a for a in h1.iterancestors("article")), None)
        if article is not None and article not in containers and "".join(h1.itertext()).strip():
            containers.append(article)
    if len(containers) < 2:
        return []
    main = containers[0]
    main_ancestors = set(main.iterancestors())
    out = []
    for article in containers[1:]:
        if article in main_ancestors or any(a is main for a in article.iterancestors()):
            continue
        text = sum(len("".join(p.itertext())) for p in article.iter("p"))
        if text >= _APPENDED_MIN_CHARS:
            out.append(article)
    return out


def _trafilatura(tree: HtmlElement, recall: bool, fast: bool) -> Document | None:
    """trafilatura's extraction of the tree (links kept in its XML), or None."""
    try:
        # no URL: links are kept only to measure link text, resolving them is wasted time
        doc = trafilatura.bare_extraction(tree, url=None, include_comments=True,
                                          include_links=True, favor_recall=recall, fast=fast)
        # a Document (a dict only with as_dict=True)
        return doc if isinstance(doc, Document) else None
    except Exception:  # trafilatura raises on some malformed trees; treat as no text
        return None


def extract_body(tree: HtmlElement, pm: PageMeta, url: str | None,
                 recall: bool = False) -> Body:
    """Extract the body text of the article on a page.

    Args:
        tree: the parsed page; trafilatura works on a copy, the tree is not modified.
        pm: the page's metadata signals (for the JSON-LD articleBody).
        url: the request URL.
        recall: run trafilatura with ``favor_recall`` (the second try on a page whose
            first extraction was rejected: it keeps teaser paragraphs and unusual
            containers that the balanced setting drops).

    Returns:
        The body (its text is empty when the page has no article text). ``partial`` is
        True when the page has a paywall (in markup or as a prompt ending the text).
    """
    steps: list[str] = []
    appended = _appended_articles(tree)
    if appended:
        # work on a copy without the appended articles (the caller's tree stays whole)
        tree = _without(tree, appended)
        steps.append("appended-articles")
    walled = paywall_elements(tree)
    if walled:
        # the offer never reaches the text, so no watch can match it
        tree = _without(tree, walled)
        steps.append("paywall-markup")
    if recall:
        steps.append("recall")
    # On a page with its paywall offer removed, a first pass without trafilatura's
    # fallbacks (readability, justext, the recall escalation), which would look for more
    # text on a page that is short by design and cost two to three passes: the same text
    # on every real-sized walled page of the corpus and the generated pages of
    # benchmarks/extraction_cost.py. A stub (under _WALLED_STUB_CHARS) gets them anyway.
    fast = bool(walled) and not recall
    doc = _trafilatura(tree, recall, fast)
    if fast and (doc is None or doc.body is None
                 or _text_len(doc.body) < _WALLED_STUB_CHARS):
        doc = _trafilatura(tree, recall, False)
    paras: list[str] = []
    comments = None
    dropped = 0
    if doc is not None and doc.body is not None:
        steps.append("trafilatura")
        dropped = _drop_link_blocks(doc.body)
        if dropped:
            steps.append("link-blocks")
        etree.strip_tags(doc.body, "ref")
        paras = paragraphs(xmltotxt(doc.body, False))
        if getattr(doc, "commentsbody", None) is not None and len(doc.commentsbody):
            etree.strip_tags(doc.commentsbody, "ref")
            comments = "\n\n".join(paragraphs(xmltotxt(doc.commentsbody, False))) or None
    article_body = pm.article_ld.get("articleBody") if pm.article_ld else None
    article_body = article_body if isinstance(article_body, str) else None
    if article_body is not None and _ld_replaces(paras, article_body):
        paras, steps = _markup_paragraphs(article_body), ["json-ld-body"]
    if not paras and article_signals(pm):
        paras = _payload_paragraphs(tree)
        if paras:
            steps = ["script-payload"]
    if not paras:
        return Body("", comments, partial=bool(walled), method="+".join(steps) or "none",
                    dropped_chars=dropped)
    trimmed = _trim_to_articlebody(paras, article_body)
    if len(trimmed) < len(paras):
        steps.append("json-ld-trim")
    kept = [p for p in trimmed if (len(p) >= _BOILERPLATE_MAX_CHARS or not _is_boilerplate(p))
            and (len(p) >= _CREDIT_MAX_CHARS or not CREDIT.search(p))]
    if len(kept) < len(trimmed):
        steps.append("boilerplate")
    repeats = collections.Counter(p for p in kept if len(p) <= _REPEATED_MAX_CHARS)
    if any(n > 1 for n in repeats.values()):
        kept = [p for p in kept if repeats[p] < 2]
        steps.append("repeated")
    paras, partial = _cut_paywall(kept)
    if partial:
        steps.append("paywall")
    text = "\n\n".join(paras)
    # paywall markup on a page that carries the whole article (served to crawlers, or
    # the offer box is hidden for them) does not make the text a stub; a short text does
    partial = partial or (bool(walled) and len(text) < _WALLED_STUB_CHARS)
    return Body(text, comments, partial, "+".join(steps), dropped)


def _headline_key(text: str) -> str:
    return "".join(_WORD.findall(text.casefold()))


def drop_headline(body: Body, headlines: list[str | None]) -> Body:
    """Remove the headline (and its variants) where trafilatura kept it at the top of the
    body: the title is stored apart, the body starts with the standfirst or first line."""
    keys = {_headline_key(h) for h in headlines if h}
    keys.discard("")
    paras = body.text.split("\n\n") if body.text else []
    start = 0
    while start < min(len(paras), 3) and _headline_key(paras[start]) in keys:
        start += 1
    if not start:
        return body
    return dataclasses.replace(body, text="\n\n".join(paras[start:]))
