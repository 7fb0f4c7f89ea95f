"""The desk's Datasette plugin: its routes, sign-in, actions and permissions.

Registered by :func:`monitor.web.make_desk` (``pm.register``); its hooks act only on a
Datasette instance made there (:func:`monitor.web.desk_settings`), so any other
instance in the same process is left as it is.

CSRF: every POST goes through Datasette's asgi-csrf check (a ``csrftoken`` form field
matching the signed ``ds_csrftoken`` cookie); the forms carry the token.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.app import Datasette
from datasette.utils import baseconv
from datasette.utils.asgi import Forbidden, NotFound, Request, Response

from monitor.clock import iso, parse_iso, utcnow
from monitor.errors import RuleError
from monitor.store import desk as data
from monitor.web import DeskSettings, desk_settings
from monitor.web.playground import backtest, compile_target, pieces

_T = TypeVar("_T")

#: The signed-in actor.
ACTOR = {"id": "desk"}
#: Hours a sign-in lasts.
SIGNIN_HOURS = 12
#: Snooze lengths offered, in hours.
SNOOZE_HOURS = (1, 4, 24, 168)

NAV = [("hits", "/-/desk", "Latest hits"), ("playground", "/-/desk/playground",
                                             "Playground"),
       ("sources", "/-/desk/sources", "Sources"), ("alerts", "/-/desk/alerts", "Alerts")]


# ------------------------------------------------------------------------ hooks

@hookimpl
def register_routes(datasette: Datasette) -> list[tuple[str, Any]]:
    """The desk's routes (Datasette asks before its own, so ``/`` is ours); none for
    a Datasette instance that is not a desk."""
    if desk_settings(datasette) is None:
        return []
    return [
        (r"^/$", home),
        (r"^/-/desk(?P<fmt>\.json)?$", hits_page),
        (r"^/-/desk/story/(?P<story_id>\d+)(?P<fmt>\.json)?$", story_page),
        (r"^/-/desk/playground(?P<fmt>\.json)?$", playground_page),
        (r"^/-/desk/sources(?P<fmt>\.json)?$", sources_page),
        (r"^/-/desk/alerts(?P<fmt>\.json)?$", alerts_page),
        (r"^/-/desk/signin$", signin_page),
        (r"^/-/desk/action$", action),
    ]


@hookimpl
def permission_allowed(datasette: Datasette, actor: dict[str, Any] | None, action: str,
                       resource: Any) -> bool | None:
    """Datasette's SQL console (arbitrary SQL) only for a signed-in user of the desk."""
    if desk_settings(datasette) is None:
        return None
    if action == "execute-sql":
        return bool(actor and actor.get("id") == ACTOR["id"])
    return None


@hookimpl
def menu_links(datasette: Datasette, actor: dict[str, Any] | None,
               request: Request) -> list[dict[str, str]] | None:
    """The desk's pages in Datasette's menu."""
    if desk_settings(datasette) is None:
        return None
    return [{"href": path, "label": label} for _, path, label in NAV]


@hookimpl
def extra_template_vars(datasette: Datasette, request: Request | None) -> dict[str, Any]:
    """Tell templates whether this is a desk and whether its user may act."""
    settings = desk_settings(datasette)
    if settings is None:
        return {}
    return {"desk_nav": NAV, "desk_db": settings.db_name,
            "desk_has_secret": bool(settings.secret),
            "desk_can_act": _can_act(datasette, request)}


# --------------------------------------------------------------------- helpers

def _settings(datasette: Datasette) -> DeskSettings:
    settings = desk_settings(datasette)
    if settings is None:
        raise NotFound("not a monitor desk")
    return settings


def _can_act(datasette: Datasette, request: Request | None) -> bool:
    settings = desk_settings(datasette)
    actor = getattr(request, "actor", None) if request is not None else None
    return bool(settings and settings.secret and actor and actor.get("id") == ACTOR["id"])


async def _read(datasette: Datasette, fn: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``fn(conn)`` on the desk database's read-only connection."""
    await datasette.invoke_startup()
    db = datasette.get_database(_settings(datasette).db_name)
    return await db.execute_fn(fn)


async def _page(datasette: Datasette, request: Request, template: str, context: dict[str, Any],
                tab: str,
                title: str) -> Response:
    """Render a desk page, or its JSON (``.json``: the context without page chrome)."""
    if request.url_vars.get("fmt"):
        return Response.json(context, default=str)
    html = await datasette.render_template(
        template, {**context, "desk_tab": tab, "page_title": title}, request=request)
    return Response.html(html)


def _iso(dt: datetime) -> str:
    return iso(dt)


def period(args: Mapping[str, str]) -> dict[str, Any]:
    """The time range of a request: ``since`` (a duration back from now: 1h, 1d, 7d,
    30d...; empty: any time) or ``from`` / ``to`` (days, YYYY-MM-DD, UTC, both
    included).

    Returns:
        {"since": ISO text or None, "until": ISO text or None, "form": the values to show
        again, "error": a message or None}.
    """
    from monitor.config import parse_duration

    form = {k: (args.get(k) or "").strip() for k in ("since", "from", "to")}
    out: dict[str, Any] = {"since": None, "until": None, "form": form, "error": None}
    try:
        since = parse_iso(form["from"][:10]) if form["from"] else None
        if since is not None:
            out["since"] = _iso(since)
        elif form["since"]:
            out["since"] = _iso(utcnow()
                                - timedelta(seconds=parse_duration(form["since"])))
        until = parse_iso(form["to"][:10]) if form["to"] else None
        if until is not None:
            out["until"] = _iso(until + timedelta(days=1))
    except ValueError:
        out["error"] = ("the period is a duration such as 1h, 1d or 7d, or days as "
                        "YYYY-MM-DD")
        out["since"] = out["until"] = None
    return out


# ------------------------------------------------------------------------ pages

async def home(datasette: Datasette, request: Request) -> Response:
    """``/``: the desk's latest hits."""
    _settings(datasette)
    return Response.redirect("/-/desk")


async def hits_page(datasette: Datasette, request: Request) -> Response:
    """Latest hits grouped by story, filtered by watch, source and period; pages by
    cursor (``before``: the last story's newest hit id)."""
    args = request.args
    when = period(args)
    watch = args.get("watch") or None
    source = args.get("source") or None
    before = args.get("before")
    before = int(before) if before and before.isdigit() else None

    def read(conn: sqlite3.Connection) -> Any:
        return (data.latest_hits(conn, watch, source, when["since"], when["until"],
                                 before), data.filter_choices(conn),
                data.active_mutes(conn))

    page, choices, mutes = await _read(datasette, read)
    for story in page["stories"]:
        for hit in story["hits"]:
            hit["snippet_pieces"] = pieces(hit["snippet"] or "")
    keep = {k: v for k, v in {"watch": watch, "source": source, **when["form"]}.items()
            if v}
    next_url = (f"/-/desk?{urlencode({**keep, 'before': page['next']})}"
                if page["next"] else None)
    context = {"stories": page["stories"], "next": page["next"], "next_url": next_url,
               "first_url": f"/-/desk?{urlencode(keep)}" if before else None,
               "filters": {"watch": watch or "", "source": source or "", **when["form"]},
               "period_error": when["error"], "choices": choices,
               "mutes": _mute_keys(mutes), "snooze_hours": SNOOZE_HOURS,
               "here": request.full_path if hasattr(request, "full_path") else "/-/desk"}
    return await _page(datasette, request, "desk_hits.html", context, "hits",
                       "Latest hits")


def _mute_keys(mutes: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """(kind, target) -> row, as "kind:target" -> row (usable in templates and JSON)."""
    return {f"{k}:{t}": m for (k, t), m in mutes.items()}


async def story_page(datasette: Datasette, request: Request) -> Response:
    """One story: its articles, the watches it hit, its alerts."""
    story_id = int(request.url_vars["story_id"])

    def read(conn: sqlite3.Connection) -> Any:
        return data.story(conn, story_id), data.active_mutes(conn)

    story, mutes = await _read(datasette, read)
    if story is None:
        raise NotFound(f"no story {story_id}")
    for hit in story["hits"]:
        hit["snippet_pieces"] = pieces(hit["snippet"] or "")
    context = {"story": story, "mutes": _mute_keys(mutes), "snooze_hours": SNOOZE_HOURS}
    return await _page(datasette, request, "desk_story.html", context, "hits",
                       f"Story {story_id}")


async def playground_page(datasette: Datasette, request: Request) -> Response:
    """Run a query or watch over the archive for a period: matches with terms
    highlighted, the explanation of each, alerts per day."""
    settings = _settings(datasette)
    args = request.args
    query = args.get("q") or ""
    watch = args.get("watch") or ""
    form = {"q": query, "watch": watch}
    args_period = {"since": args.get("since", "7d"), "from": args.get("from"),
                   "to": args.get("to")}
    when = period(args_period)
    watches, result, error = [], None, when["error"]
    try:
        from monitor.matching.loader import load_watches

        if settings.rules_dir is not None and settings.rules_dir.is_dir():
            watches = [(w.id, w.name) for w in load_watches(settings.rules_dir).watches]
    except RuleError as exc:
        error = f"the rules do not load: {exc}"
    if (query.strip() or watch) and not when["error"]:
        try:
            target = await asyncio.to_thread(compile_target, query, watch,
                                             settings.rules_dir)
        except (RuleError, ValueError) as exc:
            error = str(exc)
        else:
            result = await _read(datasette, lambda conn: backtest(
                conn, target, when["since"], when["until"]))
            result["label"] = target.label
    context = {"form": {**form, **when["form"]}, "watches": watches, "result": result,
               "error": error}
    return await _page(datasette, request, "desk_playground.html", context,
                       "playground", "Watch playground")


async def sources_page(datasette: Datasette, request: Request) -> Response:
    """Each source's state, last success, failure streak, articles per day and
    rejections by reason."""
    context = await _read(datasette, data.sources)
    return await _page(datasette, request, "desk_sources.html", context, "sources",
                       "Sources")


async def alerts_page(datasette: Datasette, request: Request) -> Response:
    """The outbox by channel and status, the last errors, holds and mutes in force."""

    def read(conn: sqlite3.Connection) -> Any:
        found = data.alerts(conn)
        found["mutes"] = list(data.active_mutes(conn).values())
        return found

    context = await _read(datasette, read)
    return await _page(datasette, request, "desk_alerts.html", context, "alerts",
                       "Alerts")


# ------------------------------------------------------------ sign-in, actions

async def signin_page(datasette: Datasette, request: Request) -> Response:
    """GET: the sign-in form. POST (with ``secret`` and the CSRF token): sign in for
    ``SIGNIN_HOURS`` hours. Without a secret configured, says the desk is read-only."""
    settings = _settings(datasette)
    await datasette.invoke_startup()
    error = None
    if request.method == "POST":
        if "ds_csrftoken" not in request.cookies:
            # asgi-csrf lets a POST without any cookie through; a sign-in must come
            # from the form, with its token
            return Response.text("sign in from the form (cookies needed)", status=403)
        form = await request.post_vars()
        if settings.secret_matches(form.get("secret") or ""):
            response = Response.redirect("/-/desk")
            expires = int(time.time()) + SIGNIN_HOURS * 3600
            response.set_cookie("ds_actor", datasette.sign(
                {"a": ACTOR, "e": baseconv.base62.encode(expires)}, "actor"),
                httponly=True, samesite="lax", max_age=SIGNIN_HOURS * 3600)
            return response
        await asyncio.sleep(0.5)   # slows down guessing
        error = ("this desk is read-only (started without --secret-env)"
                 if not settings.secret else "wrong secret")
    html = await datasette.render_template(
        "desk_signin.html", {"error": error, "desk_tab": "signin",
                             "page_title": "Sign in"}, request=request)
    return Response.html(html, status=403 if error else 200)


async def action(datasette: Datasette, request: Request) -> Response:
    """POST a snooze, mute or unmute of a watch or story. Form fields: ``op`` (snooze,
    mute, unmute), ``kind`` (watch, story), ``target``, ``hours`` (snooze), ``reason``,
    ``next`` (a desk path to go back to). Refused (403) unless the desk has a secret
    and the user signed in with it; Datasette refuses a POST without a valid CSRF token
    before it gets here."""
    settings = _settings(datasette)
    if request.method != "POST":
        return Response.text("POST only", status=405)
    if not _can_act(datasette, request):
        raise Forbidden("actions need a desk started with --secret-env and a sign-in")
    form = await request.post_vars()
    op, kind = form.get("op"), form.get("kind")
    target = (form.get("target") or "").strip()
    reason = (form.get("reason") or "").strip()[:200] or None
    if op not in ("snooze", "mute", "unmute") or kind not in ("watch", "story") \
            or not target or (kind == "story" and not target.isdigit()):
        return Response.text("bad action", status=400)
    until = None
    if op == "snooze":
        hours = form.get("hours") or "24"
        if not hours.isdigit() or not 0 < int(hours) <= 24 * 90:
            return Response.text("hours must be a whole number from 1 to 2160", status=400)
        until = utcnow() + timedelta(hours=int(hours))

    def write() -> Any:
        from monitor.store import Store

        store = Store(settings.db_path)
        try:
            if op == "unmute":
                return store.unmute(kind, target)
            return store.mute(kind, target, until, reason=reason, by=ACTOR["id"])
        finally:
            store.close()

    await asyncio.to_thread(write)
    what = f"{kind} {target}"
    message = {"snooze": f"Snoozed {what} until {_iso(until) if until else ''}",
               "mute": f"Muted {what}: its new alerts are not sent",
               "unmute": f"Alerts of {what} are on again"}[op]
    datasette.add_message(request, message, datasette.INFO)
    back = form.get("next") or "/-/desk"
    if not back.startswith("/-/desk") or "//" in back or "\\" in back:
        back = "/-/desk"
    return Response.redirect(back, status=303)
