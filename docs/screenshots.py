"""Make the web desk screenshots of the README (docs/desk-*.png).

    .venv/bin/python docs/screenshots.py [OUT_DIR]

Everything is real and local: the seed pages, the test pages (some rejected) and a
sample of the shared corpus are replayed into a fresh database with ``monitor replay``;
``monitor deliver`` sends the alerts to the console and to a webhook on a closed port of
127.0.0.1 (so the alerts page has errors); the desk is served on 127.0.0.1 and headless
Chromium (/usr/bin/chromium, driven by Playwright) opens its pages, signs in and snoozes
a watch.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus" / "pages" / "html"
SECRET = "screenshot secret, not a real one"


class _Quiet(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines on stderr
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _site(root: Path) -> tuple[str, object]:
    """A local website: an RSS feed of the seed pages, served from ``root``."""
    import functools
    import http.server
    import shutil

    for page in (REPO / "seeds").glob("*.html"):
        shutil.copy(page, root / page.name)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = "".join(f"<item><title>{p.stem}</title><link>{base}/{p.name}</link>"
                    f"<guid>{base}/{p.name}</guid></item>"
                    for p in sorted((REPO / "seeds").glob("*.html")))
    (root / "feed.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Local news</title>'
        f"<link>{base}/</link><description>seed pages</description>{items}"
        f"</channel></rss>", encoding="utf-8")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return base, server


def build(tmp: Path) -> Path:
    """Crawl a local feed, replay pages, deliver, into a new database; returns its path."""
    db = tmp / "monitor.db"
    config = tmp / "monitor.yaml"
    (tmp / "site").mkdir()
    base, server = _site(tmp / "site")
    config.write_text(
        f"database: {db}\nrules: {REPO / 'rules'}\nsources:\n"
        f"  - name: local-news\n    kind: feed\n    url: {base}/feed.xml\n"
        f"  - name: gone-feed\n    kind: feed\n    url: {base}/gone.xml\n"
        f"channels:\n  - kind: console\n    name: console\n"
        f"  - kind: webhook\n    name: newsroom-hook\n"
        f"    url: http://127.0.0.1:{_closed_port()}/alerts\n", encoding="utf-8")
    corpus = sorted(CORPUS.rglob("*.html.gz"))[::6] if CORPUS.is_dir() else []
    monitor = [sys.executable, "-m", "monitor", "-c", str(config)]
    quiet = {"cwd": REPO, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([*monitor, "crawl", "--no-deliver"], **quiet)
    server.shutdown()
    subprocess.run([*monitor, "replay", "--db", str(db),
                    *map(str, sorted((REPO / "tests" / "pages").glob("*.html"))),
                    *map(str, corpus)], check=True, **quiet)
    subprocess.run([*monitor, "deliver"], **quiet)
    return db


def main() -> int:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from monitor.web import bind, make_desk

    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="monitor-shots-") as tmp:
        db = build(Path(tmp))
        ds = make_desk(db, REPO / "rules", SECRET)
        sock = bind("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(ds.app(), lifespan="off",
                                               log_level="warning"))
        server.install_signal_handlers = lambda: None
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  daemon=True)
        thread.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=os.environ.get("DESK_CHROMIUM", "/usr/bin/chromium"),
                    args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1200, "height": 800})

                def shot(path: str, name: str) -> None:
                    page.goto(url + path)
                    page.screenshot(path=str(out / f"desk-{name}.png"), full_page=False)
                    print(out / f"desk-{name}.png")

                shot("/-/desk", "hits")
                story = page.locator("a.story-link").first.get_attribute("href")
                shot(story, "story")
                page.goto(url + "/-/desk/playground?q=%40russia+AND+%40north-korea+AND+"
                                "(%22mutual+defence%22+OR+sanction*)&since=")
                page.click("summary:has-text('Why it matched')")
                page.screenshot(path=str(out / "desk-playground.png"))
                print(out / "desk-playground.png")
                shot("/-/desk/sources", "sources")
                shot("/-/desk/alerts", "alerts")
                page.goto(url + "/-/desk/signin")
                page.fill("input[name=secret]", SECRET)
                page.click("button:has-text('Sign in')")
                page.wait_for_url("**/-/desk")
                page.locator("form.act[data-kind=watch] button:has-text('Snooze')"
                             ).first.click()
                page.wait_for_selector(".badge.muted")
                page.screenshot(path=str(out / "desk-signed-in.png"))
                print(out / "desk-signed-in.png")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
