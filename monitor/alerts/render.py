"""Pure rendering of alerts and digests for each channel.

Every function here takes :class:`~monitor.models.Alert` values and returns a string or a
JSON-ready dict; none does I/O. Channels call them and only deliver the result.

Snippets arrive with matches marked ``[[...]]``. Each renderer shows a match its own way:

- plain text (email text part, console): ``**match**``
- HTML (email): ``<mark><b>match</b></mark>``, everything else autoescaped
- Slack mrkdwn: ``*match*``, with ``&``, ``<`` and ``>`` escaped as Slack requires
- webhook JSON: the snippet as received, markers included, plus ``snippet_text`` without

Limits are explicit constants (see the ``SLACK_*`` names); the Slack renderers never
produce a payload Slack would reject for size, however long the title or snippet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from monitor.alerts.templates import TEMPLATES
from monitor.models import Alert, FollowUp
from monitor.words import count

__all__ = [
    "DATE_UNKNOWN",
    "ELLIPSIS",
    "MAX_SNIPPET_CHARS",
    "MAX_SUBJECT_CHARS",
    "MAX_TITLE_CHARS",
    "SLACK_MAX_BLOCKS",
    "SLACK_MAX_BLOCKS_CHARS",
    "SLACK_MAX_CONTEXT_ELEMENTS",
    "SLACK_MAX_FIELDS",
    "SLACK_MAX_FIELD_CHARS",
    "SLACK_MAX_HEADER_CHARS",
    "SLACK_MAX_SECTION_CHARS",
    "SLACK_MAX_TEXT_CHARS",
    "alert_view",
    "digest_message_id",
    "followup_digest_line_slack",
    "format_published",
    "message_id",
    "render_digest_html",
    "render_digest_slack",
    "render_digest_subject",
    "render_digest_text",
    "render_digest_webhook",
    "render_followup_slack",
    "render_followup_webhook",
    "render_html",
    "render_slack",
    "render_subject",
    "render_text",
    "render_webhook",
    "slack_escape",
    "snippet_segments",
    "snippet_text",
]

DATE_UNKNOWN = "date unknown"
ELLIPSIS = "\u2026"

#: Titles longer than this many characters are cut (with an ellipsis) in every rendering
#: except the webhook JSON, which carries the fields unchanged.
MAX_TITLE_CHARS = 300
#: Snippets longer than this many characters (markers excluded) are cut likewise.
MAX_SNIPPET_CHARS = 1000
#: Email subject lines are kept to at most this many characters.
MAX_SUBJECT_CHARS = 140

# Slack Block Kit and message limits (https://api.slack.com/reference/block-kit/blocks,
# https://api.slack.com/messaging/webhooks). Slack answers 400 invalid_blocks /
# invalid_payload when a block exceeds its limit.
#: Blocks per message.
SLACK_MAX_BLOCKS = 50
#: Characters in a section block's text.
SLACK_MAX_SECTION_CHARS = 3000
#: Characters in a header block's plain_text.
SLACK_MAX_HEADER_CHARS = 150
#: Items in a section block's ``fields``.
SLACK_MAX_FIELDS = 10
#: Characters in each section field.
SLACK_MAX_FIELD_CHARS = 2000
#: Elements in a context block.
SLACK_MAX_CONTEXT_ELEMENTS = 10
#: Characters in the top-level ``text``. Slack truncates past 40,000 and recommends at
#: most 4,000; this is the notification/fallback text, so we keep it short.
SLACK_MAX_TEXT_CHARS = 3000
#: Total characters across all block texts in one message. Slack documents no such
#: number, but rejects messages whose blocks add up to about 13,000 characters
#: (``msg_blocks_too_long``), so digests stay under this budget.
SLACK_MAX_BLOCKS_CHARS = 12_000

# Digest alerts whose snippets are cut shorter than a single alert's.
_DIGEST_SNIPPET_CHARS = 300
# A URL longer than this is not used as a Slack link target (it would crowd the section).
_SLACK_MAX_LINK_URL_CHARS = 2000

_MARK_RE = re.compile(r"\[\[(.+?)\]\]", re.DOTALL)
_SPACE_RE = re.compile(r"\s+")

_ENV = Environment(
    loader=DictLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

Segments = list[tuple[str, bool]]


# --------------------------------------------------------------------------- helpers


def format_published(published: datetime | None) -> str:
    """Format a publication time for display.

    Args:
        published: the article's publication time (timezone-aware), or None.

    Returns:
        The time to the minute as a reader reads it, in the zone the page gave:
        ``2024-05-01 09:30 UTC``, ``2024-05-01 18:30 UTC+09:00``; or ``"date
        unknown"``. (The webhook JSON keeps ISO 8601, for machines.)
    """
    if published is None:
        return DATE_UNKNOWN
    offset = published.utcoffset() or timedelta(0)
    zone = "UTC"
    if offset:
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        zone = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{published:%Y-%m-%d %H:%M} {zone}"


def _one_line(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into single spaces and strip."""
    return _SPACE_RE.sub(" ", text).strip()


def _word_cut(text: str, n: int) -> str:
    """The first ``n`` characters of ``text``, ending at a word boundary when a space
    lies within the last 40 of them (a cut never leaves half a word)."""
    if n >= len(text) or n <= 0:
        return text[:max(n, 0)]
    if text[n].isspace() or text[n - 1].isspace():
        return text[:n]
    space = max(text.rfind(" ", max(0, n - 40), n), text.rfind("\u00a0", max(0, n - 40), n))
    return text[:space + 1] if space >= 0 else text[:n]


def _cut(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, ending with an
    ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return _word_cut(text, limit - 1).rstrip() + ELLIPSIS


def snippet_segments(snippet: str, limit: int | None = MAX_SNIPPET_CHARS) -> Segments:
    """Split a marked snippet into ``(text, is_match)`` pairs.

    Whitespace runs become single spaces. A ``[[`` without its ``]]`` stays literal text.

    Args:
        snippet: text with matches marked ``[[...]]``.
        limit: the most characters of text to keep (markers excluded), or None for all;
            a cut snippet ends with an ellipsis.

    Returns:
        The pieces in order; empty for an empty snippet.
    """
    segments: Segments = []
    pos = 0
    for m in _MARK_RE.finditer(snippet):
        if m.start() > pos:
            segments.append((snippet[pos:m.start()], False))
        segments.append((m.group(1), True))
        pos = m.end()
    if pos < len(snippet):
        segments.append((snippet[pos:], False))
    # Normalise whitespace without gluing words across segment boundaries.
    cleaned: Segments = []
    for text, hit in segments:
        text = _SPACE_RE.sub(" ", text)
        if text:
            cleaned.append((text, hit))
    if cleaned:
        first, hit = cleaned[0]
        cleaned[0] = (first.lstrip(), hit)
        last, hit = cleaned[-1]
        cleaned[-1] = (last.rstrip(), hit)
        cleaned = [(t, h) for t, h in cleaned if t]
    if limit is not None:
        cleaned = _cut_segments(cleaned, limit)
    return cleaned


def _cut_segments(segments: Segments, limit: int) -> Segments:
    """Keep at most ``limit`` characters of segment text, cut at a word boundary (a
    match whole or not at all), ending with an ellipsis if cut."""
    total = sum(len(t) for t, _ in segments)
    if total <= limit:
        return list(segments)
    out: Segments = []
    budget = max(limit - 1, 0)  # room for the ellipsis
    for text, hit in segments:
        if budget <= 0:
            break
        if hit and len(text) > budget:
            break  # a match is shown whole or not at all
        piece = text if len(text) <= budget else _word_cut(text, budget)
        budget -= len(piece)
        out.append((piece, hit))
        if len(piece) < len(text):
            break
    if out and not out[-1][1]:
        out[-1] = (out[-1][0].rstrip(), False)
    out.append((ELLIPSIS, False))
    return out


def snippet_text(snippet: str) -> str:
    """Return the snippet with its ``[[...]]`` markers removed (whitespace normalised)."""
    return "".join(t for t, _ in snippet_segments(snippet, limit=None))


def slack_escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn reserves: ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    """Make a URL safe inside Slack's ``<url|label>`` link syntax."""
    return (url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
            .replace("|", "%7C").replace(" ", "%20"))


def _fit(render: Callable[[int], str], size: int, limit: int) -> str:
    """Render with the largest raw budget (at most ``size``) whose result fits ``limit``.

    ``render(n)`` must produce the output from the first ``n`` raw characters; escaping
    can make the output longer than ``n`` (``&`` becomes ``&amp;``), so the budget is
    found by bisection: about log2(size) renders, never overshooting to an empty text
    when a shorter cut would fit.

    Returns:
        ``render(n)`` for the largest ``n`` in 0..size whose output has at most ``limit``
        characters (``render(0)`` when none has).
    """
    out = render(size)
    if len(out) <= limit:
        return out
    lo, hi, best = 0, size - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = render(mid)
        if len(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else render(0)


def _short_hash(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:12]


def alert_view(alert: Alert, snippet_limit: int = MAX_SNIPPET_CHARS) -> dict[str, Any]:
    """Build the display fields of an alert (what the templates receive).

    Args:
        alert: the alert.
        snippet_limit: the most snippet characters to keep.

    Returns:
        A dict with ``alert_id``, ``watch_id``, ``watch_name``, ``title`` (one line, cut
        to :data:`MAX_TITLE_CHARS`), ``url``, ``source``, ``published`` (formatted),
        ``source`` (the outlet as the page names itself, else the source's name),
        ``source_name`` (the configured source's name),
        ``terms`` (the words that matched, see :attr:`Alert.matched`; a list),
        ``updated`` (for an edited article, "updated: now mentions ...", one line cut to
        :data:`MAX_TITLE_CHARS`; else None) and ``segments`` (see
        :func:`snippet_segments`).
    """
    return {
        "alert_id": alert.alert_id,
        "watch_id": alert.watch_id,
        "watch_name": _one_line(alert.watch_name),
        "title": _cut(_one_line(alert.title), MAX_TITLE_CHARS) or "(untitled)",
        "url": alert.url,
        "source": _outlet(alert),
        "source_name": _one_line(alert.source),
        "published": format_published(alert.published),
        "terms": _terms(alert),
        "updated": _update(alert),
        "segments": snippet_segments(alert.snippet, snippet_limit),
    }


def _update(alert: Alert) -> str | None:
    """An edited article's "updated: now mentions ..." line, one line and cut to
    :data:`MAX_TITLE_CHARS`, or None."""
    return _cut(_one_line(alert.update), MAX_TITLE_CHARS) or None if alert.update else None


def _footer(alert: Alert) -> str:
    """``news-monitor alert 12 · found by source “bbc-world”`` (the source only when the
    outlet is shown above it instead)."""
    source = _one_line(alert.source)
    if _outlet(alert) == source:
        return f"news-monitor alert {alert.alert_id}"
    return (f"news-monitor alert {alert.alert_id} \u00b7 found by source "
            f"\u201c{slack_escape(source)}\u201d")


def _outlet(alert: Alert) -> str:
    """The outlet as the page names itself, else the configured source's name."""
    return _cut(_one_line(alert.outlet or ""), 100) or _one_line(alert.source)


def _terms(alert: Alert) -> list[str]:
    """The words that matched, with the entity beside them (the watch's terms for
    alerts stored before those were kept)."""
    return [_one_line(t) for t in (alert.matched or alert.terms)]


#: Between two matched terms (one term's entry may list several words with commas).
TERMS_SEPARATOR = "; "


# ----------------------------------------------------------------------- email / text


def render_subject(alert: Alert) -> str:
    """Email subject for one alert: ``[monitor] <watch name>: <title>`` (``[monitor]
    <watch name> (updated): <title>`` for an edited article, see :attr:`Alert.update`).

    Returns:
        One line of at most :data:`MAX_SUBJECT_CHARS` characters (the title is cut first,
        then the watch name if it alone is too long).
    """
    watch = _cut(_one_line(alert.watch_name), MAX_SUBJECT_CHARS // 2)
    prefix = f"[monitor] {watch}{' (updated)' if alert.update else ''}: "
    title = _one_line(alert.title) or "(untitled)"
    return prefix + _cut(title, MAX_SUBJECT_CHARS - len(prefix))


def render_digest_subject(alerts: Sequence[Alert], title: str) -> str:
    """Email subject for a digest: ``[monitor] <title> (<n> alerts)``, at most
    :data:`MAX_SUBJECT_CHARS` characters."""
    n = len(alerts)
    suffix = f" ({count(n, 'alert')})"
    prefix = "[monitor] "
    return prefix + _cut(_one_line(title) or "Digest",
                         MAX_SUBJECT_CHARS - len(prefix) - len(suffix)) + suffix


def message_id(alert: Alert, domain: str) -> str:
    """A Message-ID that is the same every time this alert is rendered.

    A resend of the same alert therefore carries the same Message-ID (mail clients show
    it once). The id includes a hash of the watch and URL, so alerts from a recreated
    database that reuse an outbox id do not collide with older mail.

    Args:
        alert: the alert.
        domain: the right-hand side, usually the sender's domain.

    Returns:
        e.g. ``<alert.42.3f9a0c1b2d4e@example.org>``.
    """
    return f"<alert.{alert.alert_id}.{_short_hash(alert.watch_id, alert.url)}@{domain}>"


def digest_message_id(alerts: Sequence[Alert], title: str, domain: str) -> str:
    """A Message-ID stable for the same digest title and set of alerts."""
    ids = ",".join(str(a.alert_id) for a in sorted(alerts, key=lambda a: a.alert_id))
    return f"<digest.{_short_hash(title, ids)}@{domain}>"


def render_text(alert: Alert) -> str:
    """Plain-text body for one alert (email text part and console); matches as ``**x**``."""
    return _ENV.get_template("alert.txt").render(items=[alert_view(alert)])


def render_html(alert: Alert) -> str:
    """HTML body for one alert (email HTML part); all fields escaped, matches marked."""
    return _ENV.get_template("alert.html").render(items=[alert_view(alert)])


def render_digest_text(alerts: Sequence[Alert], title: str) -> str:
    """Plain-text body for a digest: the title, the count, then each alert numbered."""
    items = [alert_view(a, _DIGEST_SNIPPET_CHARS) for a in alerts]
    return _ENV.get_template("digest.txt").render(
        items=items, title=_one_line(title), count=len(items))


def render_digest_html(alerts: Sequence[Alert], title: str) -> str:
    """HTML body for a digest: an ordered list of the alerts, all fields escaped."""
    items = [alert_view(a, _DIGEST_SNIPPET_CHARS) for a in alerts]
    return _ENV.get_template("digest.html").render(
        items=items, title=_one_line(title), count=len(items))


# ----------------------------------------------------------------------------- Slack


def _slack_snippet(segments: Segments) -> str:
    """Render snippet segments as mrkdwn, matches bold."""
    parts = []
    for text, hit in segments:
        if hit and text.strip():
            core = text.strip()
            lead = text[: len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()):]
            parts.append(f"{lead}*{slack_escape(core)}*{trail}")
        else:
            parts.append(slack_escape(text))
    return "".join(parts)


def _slack_quote(snippet: str, limit: int, budget: int) -> str:
    """A ``>``-quoted mrkdwn snippet of at most ``limit`` rendered characters."""
    full = snippet_segments(snippet, limit=None)
    size = min(sum(len(t) for t, _ in full), budget)
    return _fit(lambda n: ">" + _slack_snippet(_cut_segments(full, n)), size, limit)


def _slack_title_link(title: str, url: str, limit: int) -> str:
    """``*<url|title>*`` (or ``*title*`` when the URL is too long to link), fitted."""
    title = _one_line(title) or "(untitled)"
    link = _slack_url(url)
    # Link only when the URL leaves room for some title; else show the title unlinked.
    if len(url) <= _SLACK_MAX_LINK_URL_CHARS and len(link) + 50 <= limit:
        return _fit(lambda n: f"*<{link}|{slack_escape(_cut(title, n))}>*",
                    min(len(title), MAX_TITLE_CHARS), limit)
    return _fit(lambda n: f"*{slack_escape(_cut(title, n))}*",
                min(len(title), MAX_TITLE_CHARS), limit)


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _field(label: str, value: str) -> dict[str, str]:
    head = f"*{label}*\n"
    body = _fit(lambda n: slack_escape(_cut(value, n)), len(value),
                SLACK_MAX_FIELD_CHARS - len(head))
    return _mrkdwn(head + body)


def render_slack(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook payload for one alert: fallback ``text`` plus Block Kit.

    Blocks: the title linked to the article, for an edited article its "updated: now
    mentions ..." line in bold, a fields section (watch, outlet, published,
    matched words), the snippet as a quote with matches bold, and a context line with the alert
    id. Every text is escaped for mrkdwn and cut to fit Slack's limits.

    Returns:
        A JSON-ready dict with ``text``, ``blocks``, ``unfurl_links`` and ``unfurl_media``.
    """
    watch = _one_line(alert.watch_name)
    title = _one_line(alert.title) or "(untitled)"
    update = _update(alert)
    # the fallback text (notifications) says it is an edit: "title (updated: now ...)"
    headline = f"{title} ({update})" if update else title
    source = _outlet(alert)
    terms = TERMS_SEPARATOR.join(_terms(alert)) or "-"
    text = _fit(
        lambda n: slack_escape(_cut(f"{watch}: {headline} ({source})", n)),
        len(watch) + len(headline) + len(source) + 5, SLACK_MAX_TEXT_CHARS)
    blocks: list[dict[str, Any]] = [
        {"type": "section",
         "text": _mrkdwn(_slack_title_link(title, alert.url, SLACK_MAX_SECTION_CHARS))},
        {"type": "section", "fields": [
            _field("Watch", f"{watch} ({alert.watch_id})"),
            _field("Source", source),
            _field("Published", format_published(alert.published)),
            _field("Matched", terms),
        ]},
    ]
    if update:
        blocks.insert(1, {"type": "section", "text": _mrkdwn(f"*{slack_escape(update)}*")})
    if alert.snippet.strip():
        blocks.append({"type": "section", "text": _mrkdwn(
            _slack_quote(alert.snippet, SLACK_MAX_SECTION_CHARS, MAX_SNIPPET_CHARS))})
    blocks.append({"type": "context", "elements": [
        _mrkdwn(_footer(alert))]})
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _slack_digest_item(alert: Alert) -> str:
    """One digest entry as mrkdwn: linked title, a details line, a short quoted snippet."""
    watch = _one_line(alert.watch_name)
    terms = TERMS_SEPARATOR.join(_terms(alert)) or "-"
    details = slack_escape(_cut(
        f"alert {alert.alert_id} \u00b7 {watch} ({alert.watch_id}) \u00b7 {_outlet(alert)} \u00b7 "
        f"{format_published(alert.published)} \u00b7 {terms}", 500))
    head = _slack_title_link(alert.title, alert.url, 1200) + "\n" + details
    if alert.snippet.strip():
        room = SLACK_MAX_SECTION_CHARS - len(head) - 1
        head += "\n" + _slack_quote(alert.snippet, room, _DIGEST_SNIPPET_CHARS)
    return head


def render_digest_slack(alerts: Sequence[Alert], title: str) -> dict[str, Any]:
    """Slack payload for a digest: a header, a count, then one section per alert.

    Alerts that do not fit in :data:`SLACK_MAX_BLOCKS` blocks or
    :data:`SLACK_MAX_BLOCKS_CHARS` characters are summarised as "... and N more".

    Returns:
        A JSON-ready dict with ``text``, ``blocks``, ``unfurl_links`` and ``unfurl_media``.
    """
    n = len(alerts)
    how_many = count(n, "alert")
    title_line = _one_line(title) or "Digest"
    header = _cut(title_line, SLACK_MAX_HEADER_CHARS)
    text = slack_escape(_cut(f"{title_line}: {how_many}", SLACK_MAX_TEXT_CHARS // 2))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
        {"type": "context", "elements": [_mrkdwn(how_many)]},
    ]
    used = len(header) + len(how_many)
    reserve = 1  # room for the "and N more" context block
    shown = 0
    for alert in alerts:
        item = _slack_digest_item(alert)
        if (len(blocks) + 1 + reserve > SLACK_MAX_BLOCKS
                or used + len(item) > SLACK_MAX_BLOCKS_CHARS - 100):
            break
        blocks.append({"type": "section", "text": _mrkdwn(item)})
        used += len(item)
        shown += 1
    if shown < n:
        rest = n - shown
        blocks.append({"type": "context", "elements": [_mrkdwn(
            f"\u2026 and {rest} more alert{'' if rest == 1 else 's'} not shown")]})
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def render_followup_slack(followup: FollowUp) -> dict[str, Any]:
    """Slack payload for a story's follow-up (a thread reply): ``+N outlets: A, B, C``
    and one link per outlet, every name escaped so article text stays inert.

    Returns:
        A JSON-ready dict with ``text``, ``blocks``, ``unfurl_links`` and ``unfurl_media``
        (no ``channel`` or ``thread_ts``: the channel adds them).
    """
    line = _cut(_one_line(followup.line), SLACK_MAX_TEXT_CHARS // 2)
    links = "\n".join(_slack_followup_link(o, u)
                      for o, u in zip(followup.outlets, followup.urls, strict=True))
    body = _cut(f"{slack_escape(line)}\n{links}", SLACK_MAX_SECTION_CHARS)
    return {"text": slack_escape(line),
            "blocks": [{"type": "section", "text": _mrkdwn(body)}],
            "unfurl_links": False, "unfurl_media": False}


def followup_digest_line_slack(followup: FollowUp) -> str:
    """One compact mrkdwn line for a follow-up carried in a Slack digest:
    ``Alert 12 “title”: +2 outlets: A, B`` (escaped, at most 300 characters)."""
    title = _cut(_one_line(followup.first.title), 120)
    return slack_escape(_cut(f"Alert {followup.first.alert_id} \u201c{title}\u201d: "
                             f"{_one_line(followup.line)}", 300))


def _slack_followup_link(outlet: str, url: str) -> str:
    label = slack_escape(_cut(_one_line(outlet), 100)).replace("|", "\u2223")
    if len(url) > _SLACK_MAX_LINK_URL_CHARS:
        return f"\u2022 {label}"
    return f"\u2022 <{_slack_url(url)}|{label}>"


def render_followup_webhook(followup: FollowUp) -> dict[str, Any]:
    """JSON body of a story's follow-up for the generic webhook.

    Returns:
        ``{"kind": "update", "event": "update", "story_id", "alert_id" (the first
        alert's), "watch_id", "title", "added" (how many outlets), "outlets" (list),
        "urls" (list), "text" ("+N outlets: ...")}``.
    """
    first = followup.first
    return {"kind": "update", "event": "update", "story_id": followup.story_id,
            "alert_id": first.alert_id, "watch_id": first.watch_id, "title": first.title,
            "added": len(followup.outlets), "outlets": list(followup.outlets),
            "urls": list(followup.urls), "text": followup.line}


# --------------------------------------------------------------------------- webhook


def render_webhook(alert: Alert) -> dict[str, Any]:
    """JSON body for the generic webhook: the alert's fields, unabridged.

    Returns:
        ``{"kind": "alert", "alert_id", "watch_id", "watch_name", "title", "url",
        "source", "outlet" (or None), "published" (ISO 8601 or None), "terms" (list, as
        written in the watch), "matched" (list, see :attr:`Alert.matched`), "snippet" (with
        ``[[...]]`` markers), "snippet_text" (markers removed)}``, and for an edited
        article (:attr:`Alert.update`) "update": "updated: now mentions ...".
    """
    body: dict[str, Any] = {
        "kind": "alert",
        "alert_id": alert.alert_id,
        "watch_id": alert.watch_id,
        "watch_name": alert.watch_name,
        "title": alert.title,
        "url": alert.url,
        "source": alert.source,
        "outlet": alert.outlet,
        "published": alert.published.isoformat() if alert.published else None,
        "terms": list(alert.terms),
        "matched": list(alert.matched),
        "snippet": alert.snippet,
        "snippet_text": snippet_text(alert.snippet),
    }
    if alert.update:
        body["update"] = alert.update
    return body


def render_digest_webhook(alerts: Sequence[Alert], title: str) -> dict[str, Any]:
    """JSON body for a digest: ``{"kind": "digest", "title", "count", "alerts": [...]}``,
    each alert as :func:`render_webhook` gives it."""
    return {
        "kind": "digest",
        "title": title,
        "count": len(alerts),
        "alerts": [render_webhook(a) for a in alerts],
    }
