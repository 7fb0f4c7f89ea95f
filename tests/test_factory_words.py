"""A channel's bad settings are counted in words as everywhere else (monitor.words)."""

from __future__ import annotations

import pytest

from monitor.alerts.factory import build_channel


@pytest.mark.parametrize(("settings", "message"), [
    ({"hots": 1}, "(console): unknown setting hots; accepted: stream"),
    ({"hots": 1, "portz": 2}, "(console): unknown settings hots, portz; accepted: stream"),
])
def test_unknown_settings_are_named_singular_or_plural(settings, message):
    with pytest.raises(ValueError) as caught:
        build_channel("console", "desk", **settings)
    assert str(caught.value) == f"channel 'desk' {message}"


def test_missing_settings_are_named_singular_or_plural():
    with pytest.raises(ValueError, match=r"\(email\): missing settings \w+, \w+"):
        build_channel("email", "mail", host="127.0.0.1")
    with pytest.raises(ValueError, match=r"\(email\): missing setting sender$"):
        build_channel("email", "mail", host="127.0.0.1", port=25, recipients=["d@x.test"])
