"""Rendering notices (source health, spikes: :class:`monitor.models.Notice`) for each
kind of channel.

A notice is not about one article, so it has no watch, snippet or matched words: its
title is one line that stands on its own ("source bbc-world is failing: 4 polls in a
row since 09:12 UTC"), its lines are the evidence, and its number ("notice 12") is the
same on every channel and for the start and the end of the episode. Text is flattened
to one line where it goes into a header or a Slack field, and Slack's reserved
characters are escaped, as for alerts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from monitor.alerts.render import MAX_SUBJECT_CHARS, slack_escape
from monitor.models import Notice

_SPACE = re.compile(r"\s+")
#: what each kind of notice is called in a subject line
KIND_WORDS = {"source-failing": "source failing", "source-silent": "source silent",
              "extraction-drift": "extraction drift", "source-moved": "source moved",
              "network-down": "network down", "spike": "spike"}


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text or "").strip()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "\u2026"


def notice_subject(notice: Notice) -> str:
    """The e-mail subject: ``[monitor] notice 12: <title>`` (alerts' subjects start
    ``[monitor]`` too), one line, cut at a word to ``MAX_SUBJECT_CHARS``."""
    return _cut(_one_line(f"[monitor] notice {notice.notice_id}: {notice.title}"),
                MAX_SUBJECT_CHARS)


def notice_text(notice: Notice) -> str:
    """Plain text (console and e-mail): the title, the evidence lines, the URL and a
    footer naming the notice, its kind and what it is about."""
    out = [_one_line(notice.title), ""]
    out += [_one_line(line) for line in notice.lines]
    if notice.url:
        out.append(f"link: {notice.url}")
    what = KIND_WORDS.get(notice.kind, notice.kind)
    state = "over" if notice.event == "end" else "started"
    out += ["", f"-- news-monitor notice {notice.notice_id} · {what} ({state}) · "
                f"{notice.subject}"]
    return "\n".join(out) + "\n"


def notice_html(notice: Notice) -> str:
    """The HTML part of the e-mail (the same content as :func:`notice_text`)."""
    from html import escape

    lines = "".join(f"<li>{escape(_one_line(line))}</li>" for line in notice.lines)
    link = (f'<p><a href="{escape(notice.url, quote=True)}">{escape(notice.url)}</a></p>'
            if notice.url else "")
    what = KIND_WORDS.get(notice.kind, notice.kind)
    return (f"<html><body><h2>{escape(_one_line(notice.title))}</h2>"
            f"<ul>{lines}</ul>{link}<p style=\"color:#666\">news-monitor notice "
            f"{notice.notice_id} · {escape(what)} · {escape(notice.subject)}</p>"
            f"</body></html>")


def notice_message_id(notice: Notice, domain: str) -> str:
    """A stable Message-ID per notice and event (a re-sent notice is recognisable)."""
    digest = hashlib.sha256(f"{notice.kind}\x1f{notice.subject}".encode()).hexdigest()[:10]
    return f"<notice.{notice.notice_id}.{notice.event}.{digest}@{domain}>"


def notice_key(notice: Notice) -> str:
    """The idempotency mark of a notice (Slack block ids, webhook Idempotency-Key)."""
    return f"notice-{notice.notice_id}-{notice.event}"


def notice_slack(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the title, for notifications) and
    blocks (title, evidence, footer), Slack's reserved characters escaped."""
    title = _cut(slack_escape(_one_line(notice.title)), 2900)
    body = "\n".join(f"• {slack_escape(_one_line(line))}" for line in notice.lines)
    if notice.url:
        body += ("\n" if body else "") + f"<{notice.url.replace('>', '%3E')}|link>"
    what = KIND_WORDS.get(notice.kind, notice.kind)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}}]
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _cut(body, 2900)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
        f"news-monitor notice {notice.notice_id} · {what} · "
        f"{slack_escape(notice.subject)}", 2900)}]})
    key = notice_key(notice)
    for i, block in enumerate(blocks, 1):
        block["block_id"] = f"{key}.{i}"
    return {"text": title, "blocks": blocks}


def notice_webhook(notice: Notice) -> dict[str, Any]:
    """The JSON body for a plain webhook: ``{"kind": "notice", "notice_id", "type",
    "event", "subject", "title", "lines", "url", "started_at", "ended_at"}``."""
    return {"kind": "notice", "notice_id": notice.notice_id, "type": notice.kind,
            "event": notice.event, "subject": notice.subject, "title": notice.title,
            "lines": list(notice.lines), "url": notice.url,
            "started_at": notice.started_at.isoformat() if notice.started_at else None,
            "ended_at": notice.ended_at.isoformat() if notice.ended_at else None}
