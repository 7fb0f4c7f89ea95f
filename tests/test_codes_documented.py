"""The README's table of status and reason codes is the code's enums, both ways."""

from __future__ import annotations

import re

import pytest

from monitor.delivery import DeliveryResult
from monitor.records import LinkReason, LinkStatus, PageStatus
from tests.conftest import REPO

ENUMS = {cls.__name__: cls for cls in (PageStatus, LinkStatus, LinkReason, DeliveryResult)}


def _documented() -> dict[str, set[str]]:
    """enum name -> the codes its rows of the README's table list."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Status and reason codes", 1)
    assert len(section) == 2, "README.md has no 'Status and reason codes' section"
    rows: dict[str, set[str]] = {}
    for name, code in re.findall(r"^\| `(\w+)` \| `([\w-]+)` \|", section[1].split("\n## ")[0],
                                 re.M):
        rows.setdefault(name, set()).add(code)
    return rows


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_every_code_is_in_the_readme_and_every_row_is_a_code(name):
    assert _documented().get(name, set()) == {m.value for m in ENUMS[name]}


def test_the_readme_lists_no_enum_the_code_lacks():
    assert set(_documented()) <= set(ENUMS)
