"""The web desk in a real browser: headless Chromium (Debian's ``chromium`` package)
driven by Playwright, against desks served by uvicorn on 127.0.0.1.

Skipped, saying why, when Playwright or /usr/bin/chromium is missing (``.ci/run``
installs chromium when it can). With ``DESK_SCREENSHOTS=DIR`` in the environment the
main pages are also saved there as PNG (how docs/desk-*.png were made).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("datasette")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed "
                                  "(pip install -e '.[test]'); browser tests skipped")

from monitor.store import Store  # noqa: E402
from monitor.web import bind, make_desk  # noqa: E402
from tests.conftest import RULES  # noqa: E402
from tests.desk_fixtures import SECRET, SEED_TITLE, fill_store  # noqa: E402

CHROMIUM = os.environ.get("DESK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium); browser "
                "tests skipped", allow_module_level=True)


class LiveDesk:
    """A desk served by uvicorn in a thread on a free port of 127.0.0.1.

    Args:
        db: the database.
        secret: the sign-in secret, or None for a read-only desk.
    """

    def __init__(self, db: Path, secret: str | None = None) -> None:
        import uvicorn

        self.ds = make_desk(db, RULES, secret)
        sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.ds.app(), lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None   # not the main thread
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return fill_store(tmp_path_factory.mktemp("desk") / "monitor.db")


@pytest.fixture(scope="module")
def browser():
    try:
        pw = playwright_api.sync_playwright().start()
    except Exception as exc:  # the driver cannot start here
        pytest.skip(f"playwright cannot start: {exc}")
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
    except Exception as exc:
        pw.stop()
        pytest.skip(f"chromium at {CHROMIUM} does not start: {exc}")
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="module")
def read_only(db):
    desk = LiveDesk(db)
    yield desk
    desk.stop()


@pytest.fixture(scope="module")
def secured(db):
    desk = LiveDesk(db, SECRET)
    yield desk
    desk.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("DESK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"desk-{name}.png"), full_page=True)


def test_latest_hits_then_the_story(page, read_only):
    page.goto(read_only.url + "/")
    assert page.url.endswith("/-/desk")
    story = page.locator(".story", has_text=SEED_TITLE)
    assert story.count() == 1
    assert story.locator("mark").first.inner_text()
    _shot(page, "hits")
    story.locator("a.story-link").click()
    page.wait_for_url("**/-/desk/story/*")
    assert page.locator("h2").inner_text() == SEED_TITLE
    assert page.locator("table.desk-table").first.inner_text().count("cbc-world") == 1
    assert "russia-north-korea" in page.content()
    _shot(page, "story")
    # the page's HTML-bearing headline is text, not markup
    page.goto(read_only.url + "/-/desk?source=herald")
    assert page.locator(".story h3").inner_text().startswith('<script>alert("title")')
    assert page.evaluate("document.querySelectorAll('.story script').length") == 0


def test_playground_finds_the_seed_article_with_terms_highlighted(page, read_only):
    page.goto(read_only.url + "/-/desk/playground")
    page.fill("textarea[name=q]", '"mutual defence" NEAR/10 pact AND @north-korea')
    page.select_option("select[name=since]", "")
    page.click("button:has-text('Run')")
    page.wait_for_selector(".result")
    result = page.locator(".result")
    assert result.count() == 1
    assert SEED_TITLE in result.locator("h3").inner_text()
    title_marks = [m.lower() for m in result.locator("h3 mark").all_inner_texts()]
    assert "mutual defence" in title_marks and "pact" in title_marks
    assert "pyongyang" in [m.lower() for m in
                           result.locator(".snippet mark").all_inner_texts()]
    page.click("summary:has-text('Why it matched')")
    assert result.locator(".explain .yes").first.is_visible()
    assert "1 of 4 articles matched" in page.locator(".summary").inner_text()
    _shot(page, "playground")


def test_sources_and_alerts_pages(page, read_only):
    page.goto(read_only.url + "/-/desk/sources")
    assert page.locator("table.sources").inner_text().count("cbc-world") >= 1
    assert page.locator(".bars").count() >= 3
    _shot(page, "sources")
    page.goto(read_only.url + "/-/desk/alerts")
    assert "console" in page.locator("table.outbox").inner_text()
    _shot(page, "alerts")


def test_read_only_desk_offers_no_actions(page, read_only):
    for path in ("/-/desk", "/-/desk/story/1", "/-/desk/alerts"):
        page.goto(read_only.url + path)
        assert page.locator("form.act").count() == 0, path
        assert page.locator("button:has-text('Snooze')").count() == 0, path
        assert "read-only" in page.locator("header").inner_text()
    page.goto(read_only.url + "/-/desk/signin")
    assert page.locator("input[name=secret]").count() == 0


def test_sign_in_and_snooze_a_watch(page, secured, db):
    page.goto(secured.url + "/-/desk")
    assert page.locator("form.act").count() == 0
    page.click("text=Sign in")
    page.fill("input[name=secret]", SECRET)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/-/desk")
    assert "signed in" in page.locator("header").inner_text()
    form = page.locator("form.act[data-kind=watch][data-target=russia-north-korea]").first
    form.locator("select[name=hours]").select_option("4")
    form.locator("button:has-text('Snooze watch')").click()
    page.wait_for_selector("text=Snoozed watch russia-north-korea")
    assert page.locator(".badge.muted").first.inner_text().startswith(
        "watch snoozed until")
    _shot(page, "snoozed")
    store = Store(db)
    try:
        mutes = [dict(r) for r in store.db.query("select * from mutes")]
    finally:
        store.close()
    assert [(m["kind"], m["target"]) for m in mutes] == [("watch", "russia-north-korea")]
    # and lift it again
    page.locator("button:has-text('Unmute watch russia-north-korea')").first.click()
    page.wait_for_selector("text=Alerts of watch russia-north-korea are on again")
    assert page.locator(".badge.muted").count() == 0
