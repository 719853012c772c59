"""Screenshots of the moderator page for docs/: a real server with the default model, the seed threads enqueued.

    .venv/bin/python -m bench.screenshots [MODEL_DIR]

Needs Debian's /usr/bin/chromium (apt-get install -y chromium) and ../shared/seeds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

from bench.sections import one_line_errors
from labels.threads import parse_files
from tests.fixtures.server import add_moderator, running_server
from threadguard.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT.parent / "shared" / "seeds"
DOCS = PROJECT_ROOT / "docs"


def main(model_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="tg-shots-"))
    db_url = f"sqlite:///{work / 'shots.db'}"
    add_moderator(db_url)
    comments = parse_files(sorted(SEEDS.glob("*.txt")))
    with running_server(model_dir, db_url, work / "server.log") as server:
        payload = {"comments": [{"id": c.id, "body": c.body, "article_title": c.article_title, "article_text": c.article_text,
                                 "parent_body": c.parent_body, "thread_id": c.thread_id, "author": c.author} for c in comments], "enqueue": True}
        results = httpx.post(f"{server.base}/v1/score", json=payload, timeout=120).json()["results"]
        print(f"{sum(r['decision'] != 'allow' for r in results)} of {len(results)} seed comments queued")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{server.base}/login")
            page.fill("input[name=name]", "ann")
            page.fill("input[name=password]", "password123")
            page.click("button[type=submit]")
            page.wait_for_url("**/moderate")
            page.screenshot(path=str(DOCS / "moderate.png"))
            thread = page.locator("a", has_text="thread view").first.get_attribute("href")
            page.goto(f"{server.base}{thread}")
            page.screenshot(path=str(DOCS / "moderate-thread.png"))
            browser.close()
    print(f"wrote {DOCS / 'moderate.png'} and {DOCS / 'moderate-thread.png'}")


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT_ROOT / "models" / "current")
