"""Typed records of the crawl side: codes that stay their strings, links and validators
that survive the queue."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from monitor.records import (
    Link,
    LinkOutcome,
    LinkReason,
    LinkStatus,
    PageStatus,
    RunResult,
    Validator,
)
from monitor.wire import WireError, decode, encode

NOW = datetime(2024, 6, 19, 8, 12, tzinfo=timezone.utc)


def test_codes_are_stored_logged_and_sent_as_their_strings():
    assert PageStatus.STORED == "stored"
    assert f"monitor/rejected/{LinkReason.PRIVATE_ADDRESS}" == "monitor/rejected/private-address"
    assert f"{PageStatus.DUPLICATE:<10}|" == "duplicate |"
    assert json.dumps({"status": LinkStatus.REJECTED}) == '{"status": "rejected"}'
    db = sqlite3.connect(":memory:")
    db.execute("create table pages (status text)")
    db.execute("insert into pages values (?)", [PageStatus.REDIRECTED])
    assert db.execute("select status from pages where status = 'redirected'").fetchone()
    # counters keyed by the plain strings (monitor replay, monitor crawl) find the codes
    assert {"stored": 1}[PageStatus.STORED] == 1


def test_a_link_outcome_comes_back_from_the_queue_with_its_codes():
    link = LinkOutcome(7, "https://b.test/x", "bbc", LinkStatus.REJECTED,
                       LinkReason.HTTP_ERROR, "HTTP 503", True)
    got = decode(encode(link))
    assert got == link
    assert got.status is LinkStatus.REJECTED and got.reason is LinkReason.HTTP_ERROR


def test_an_unknown_code_on_the_queue_is_refused_with_its_name():
    message = json.loads(encode(LinkOutcome(7, "https://b.test/x", "bbc", LinkStatus.REJECTED,
                                            LinkReason.ROBOTS)))
    message["reason"] = "gremlins"
    with pytest.raises(WireError, match="gremlins"):
        decode(json.dumps(message))


def test_validators_come_back_as_validators():
    run = RunResult(7, "bbc", "https://b.test/rss", True, None, 2, 2, True, NOW, NOW, NOW,
                    (("https://b.test/rss", '"v2"', None),))
    got = decode(encode(run))
    assert got == run
    [validator] = got.validators
    assert isinstance(validator, Validator) and validator.etag == '"v2"'


def test_links_order_by_publication_then_lastmod():
    old = datetime(2024, 1, 1, tzinfo=timezone.utc)
    links = [Link("https://a.test/1"), Link("https://a.test/2", lastmod=old),
             Link("https://a.test/3", published=NOW, lastmod=old)]
    ordered = sorted(links, key=Link.timestamp, reverse=True)
    assert [link.url for link in ordered] == ["https://a.test/3", "https://a.test/2",
                                              "https://a.test/1"]
