"""Records across a queue: the crawl/writer records as self-describing JSON.

The distributed mode (:mod:`monitor.distributed`) puts Redis streams across the line
between the crawl side and the writer (:mod:`monitor.records`). Each message is one JSON
object with a ``type`` field and the record's own fields:

    {"type": "poll", "run_id": 17, "source": "bbc-world", "kind": "feed", ...}
    {"type": "page", "page": {...Page without its body...},
                     "article": {...Article...}}        (or "rejection": {...})
    {"type": "link", "run_id": 17, "url": ..., "status": "rejected", ...}
    {"type": "run", "run_id": 17, "source": ..., "ok": true, "new_links": 3, ...}

A worker extracts the page itself, so a ``page`` message carries the extracted
:class:`~monitor.models.Article` (or :class:`~monitor.models.Rejection`) and the page's
metadata, never the raw body (pages run to megabytes; an article's text to kilobytes).
Datetimes travel as ISO 8601 strings with their offset, tuples as lists.

This module imports nothing but the standard library and the core's dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import datetime
from functools import cache
from typing import Any

from monitor.models import Article, Page, Rejection
from monitor.records import LinkOutcome, PollTask, RunResult

#: A record of the queue (pages travel as a ``(Page, Article | Rejection)`` pair).
Record = PollTask | LinkOutcome | RunResult

#: Version of the message format; a reader refuses messages of another version.
VERSION = 1

_TYPES = {"poll": PollTask, "link": LinkOutcome, "run": RunResult}
_NAMES = {cls: name for name, cls in _TYPES.items()}


class WireError(ValueError):
    """A message that is not a record of this format (names what is wrong)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        raise TypeError("bytes do not travel on the queue")
    return value


@cache
def _field_kinds(cls: type) -> dict[str, str]:
    """Field name -> "datetime", "tuples" (a tuple of tuples), "tuple" or "" for cls."""
    kinds = {}
    for name, hint in typing.get_type_hints(cls).items():
        text = str(hint)
        if "datetime" in text:
            kinds[name] = "datetime"
        elif text.startswith("tuple[tuple") or "tuple[tuple" in text:
            kinds[name] = "tuples"
        elif "tuple" in text:
            kinds[name] = "tuple"
        else:
            kinds[name] = ""
    return kinds


def _fields(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.name not in skip}


def _build(cls: Any, data: dict[str, Any], **extra: Any) -> Any:
    kinds = _field_kinds(cls)
    values = {}
    for name, value in data.items():
        kind = kinds.get(name)
        if kind is None:
            raise WireError(f"{cls.__name__} has no field {name!r}")
        if value is not None:
            if kind == "datetime":
                value = datetime.fromisoformat(value)
            elif kind == "tuples":
                value = tuple(tuple(v) for v in value)
            elif kind == "tuple":
                value = tuple(value)
        values[name] = value
    try:
        return cls(**values, **extra)
    except (TypeError, ValueError) as exc:   # ValueError: an unknown status or reason code
        raise WireError(f"{cls.__name__}: {exc}") from None


def encode(record: Record | tuple[Page, Article | Rejection]) -> bytes:
    """One record as a JSON message.

    Args:
        record: a :class:`PollTask`, :class:`LinkOutcome` or :class:`RunResult`; for a
            page, a ``(Page, Article | Rejection)`` pair (the page's body is left out).

    Returns:
        UTF-8 JSON bytes.

    Raises:
        TypeError: not a record of this format.
    """
    if isinstance(record, tuple) and len(record) == 2 and isinstance(record[0], Page):
        page, result = record
        key = "article" if isinstance(result, Article) else "rejection"
        if not isinstance(result, (Article, Rejection)):
            raise TypeError(f"a page travels with an Article or a Rejection, not "
                            f"{type(result).__name__}")
        message = {"type": "page", "v": VERSION, "page": _fields(page, ("body",)),
                   key: _fields(result)}
    else:
        name = _NAMES.get(type(record))
        if name is None:
            raise TypeError(f"{type(record).__name__} is not a record of the queue")
        message = {"type": name, "v": VERSION, **_fields(record)}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def decode(data: bytes | str) -> Record | tuple[Page, Article | Rejection]:
    """The record of a message made by :func:`encode`.

    Returns:
        A :class:`PollTask`, :class:`LinkOutcome` or :class:`RunResult`, or for a
        ``page`` message a ``(Page, Article | Rejection)`` pair (the page's body empty).

    Raises:
        WireError: not JSON, another version, an unknown type or unknown fields.
    """
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not a JSON message: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    kind = message.pop("type", None)
    version = message.pop("v", None)
    if version != VERSION:
        raise WireError(f"message version {version!r}, this monitor reads {VERSION}")
    if kind == "page":
        page = _build(Page, message.get("page") or {}, body=b"")
        if "article" in message:
            return page, _build(Article, message["article"])
        if "rejection" in message:
            return page, _build(Rejection, message["rejection"])
        raise WireError("a page message needs an article or a rejection")
    cls = _TYPES.get(kind)
    if cls is None:
        raise WireError(f"unknown message type {kind!r}")
    return _build(cls, message)
