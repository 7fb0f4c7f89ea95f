"""Helpers for the web desk tests: a database filled through the real pipeline, and a
cookie-keeping wrapper around Datasette's own test client."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.conftest import REPO, RULES, SEEDS

HOSTILE = REPO / "tests" / "pages" / "desk" / "hostile-title_2024-06-20.html"
REJECTED = REPO / "tests" / "pages" / "empty_body.html"
SEED_TITLE = "Russia, North Korea say they've strengthened ties, including mutual defence pact"
HOSTILE_TITLE = '<script>alert("title")</script>'
SECRET = "correct horse battery staple"
CHANNELS = ["console", "desk-slack"]


def fill_store(db_path: Path, extra: tuple[Path, ...] = (HOSTILE, REJECTED)) -> Path:
    """Replay the seeds (and the hostile-title and rejected pages) into a new database
    through :class:`monitor.pipeline.Pipeline`, alerts queued on ``CHANNELS``.

    Returns:
        The database path.
    """
    from monitor.extract import page_from_file
    from monitor.matching import load_watches
    from monitor.pipeline import Pipeline
    from monitor.rules_cli import page_files
    from monitor.store import Store

    store = Store(db_path)
    pipeline = Pipeline(store, load_watches(RULES), CHANNELS)
    for path in [*page_files([SEEDS]), *extra]:
        pipeline.process(page_from_file(path))
    store.close()
    return db_path


class Client:
    """Datasette's test client (``datasette.client``) with a cookie jar, sync.

    Args:
        ds: the desk's Datasette instance.
    """

    def __init__(self, ds) -> None:
        self.ds = ds
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs):
        """One request; Set-Cookie headers of the answer are kept for the next ones.

        Returns:
            The httpx response (redirects are not followed).
        """
        async def go():
            return await self.ds.client.request(method, path, cookies=dict(self.cookies),
                                                **kwargs)

        response = asyncio.run(go())
        for name, value in response.cookies.items():
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return response

    def get(self, path: str, **kwargs):
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict, **kwargs):
        """POST a form to ``path``."""
        return self.request("POST", path, data=data, **kwargs)

    def csrftoken(self, path: str = "/-/desk/signin") -> str:
        """The CSRF token a form of ``path`` carries (its cookie is kept)."""
        html = self.get(path).text
        match = re.search(r'name="csrftoken" value="([^"]+)"', html)
        assert match, f"no CSRF token in {path}"
        return match.group(1)

    def minted_csrftoken(self) -> str:
        """A valid CSRF token and its cookie, made with the instance's signing secret as
        Datasette's asgi-csrf makes them (for a desk whose pages carry no form)."""
        from itsdangerous import URLSafeSerializer

        token = URLSafeSerializer(self.ds._secret).dumps("desk-test", "csrftoken")
        self.cookies["ds_csrftoken"] = token
        return token

    def sign_in(self, secret: str = SECRET):
        """Sign in with the form, as a browser does."""
        token = self.csrftoken()
        return self.post("/-/desk/signin", {"csrftoken": token, "secret": secret})
