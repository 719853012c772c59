"""The moderator page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a real server.

These tests must run, not skip, on CI: the README's test command installs chromium when it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import RunningServer, add_moderator, running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real server and Chromium per test: CI runs them, the edit loop skips them
CHROMIUM = Path("/usr/bin/chromium")
XSS = '<script>document.title="pwned"</script><img src=x onerror="window.__xss=1"> you are an idiot'


@pytest.fixture
def server(tiny_model_dir: Path, db_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    add_moderator(db_url)
    with running_server(tiny_model_dir, db_url, tmp_path / "server.log") as running:
        reports = [
            {"id": "k1", "body": "you are a complete idiot", "article_title": "Trade talks", "parent_body": "Tariffs hurt farmers.", "thread_id": "t1"},
            {"id": "k2", "body": "what a moron, honestly", "article_title": "Trade talks", "thread_id": "t1"},
            {"id": "k3", "body": XSS, "article_title": "<b>Trade</b> talks", "thread_id": "t1"},
        ]
        for comment in reports:
            assert httpx.post(f"{running.base}/v1/reports", json={"comment": comment, "reason": "reader flag"}, timeout=10).status_code == 201
        yield running


@pytest.fixture
def page(server: RunningServer):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is not installed (apt-get install -y chromium); the README's test command installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.dialogs = []  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        page.goto(f"{server.base}/moderate")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", "password123")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/moderate"))
        yield page
        browser.close()


def _count(page, queue: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator(f'nav a[data-queue="{queue}"] b').inner_text())


def test_log_in_see_flagged_comment_decide_with_keys_and_undo(page, server: RunningServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/moderate?queue=reported")
    assert _count(page, "reported") == 3 and _count(page, "decided") == 0
    current = page.locator("#current")
    assert current.is_visible() and page.locator("#comment-body").inner_text()
    before = page.locator("#label-insult").is_checked()
    page.keyboard.press("2")  # toggle insult
    assert page.locator("#label-insult").is_checked() is not before
    with page.expect_navigation():
        page.keyboard.press("r")
    assert _count(page, "reported") == 2 and _count(page, "decided") == 1
    with page.expect_navigation():
        page.keyboard.press("u")
    assert "Undid your reject" in page.locator("#notice").inner_text()
    assert _count(page, "reported") == 3 and _count(page, "decided") == 0
    with page.expect_navigation():
        page.keyboard.press("a")
    assert _count(page, "decided") == 1
    shot = page.screenshot(path=str(tmp_path / "moderate.png"), full_page=True)  # docs/ screenshots: python -m bench.screenshots
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"


def test_j_and_k_move_between_items(page, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/moderate?queue=reported&sort=age")
    first = page.locator("#current").get_attribute("data-item")
    page.keyboard.press("j")
    page.wait_for_function(f"document.getElementById('current').dataset.item !== '{first}'")
    second = page.locator("#current").get_attribute("data-item")
    page.keyboard.press("k")
    page.wait_for_function(f"document.getElementById('current').dataset.item === '{first}'")
    assert first != second


def test_script_in_a_comment_does_nothing(page, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/moderate?queue=reported&sort=age")
    for _ in range(3):
        if "onerror" in page.locator("#comment-body").inner_text():
            break
        with page.expect_navigation():
            page.keyboard.press("j")
    text = page.locator("#comment-body").inner_text()
    assert "<script>" in text and "onerror" in text  # shown as text
    assert page.title() != "pwned" and page.evaluate("window.__xss") is None and page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("#comment-body script, #comment-body img").count() == 0
    assert "<b>Trade</b> talks" in page.locator(".article").inner_text()


def test_a_forged_csrf_token_is_rejected(page, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/moderate?queue=reported")
    status = page.evaluate("fetch('/moderate/undo', {method: 'POST', body: new URLSearchParams({csrf: 'forged'})}).then(r => r.status)")
    assert status == 403
    page.evaluate("document.querySelector('#decide input[name=csrf]').value = 'forged'")
    with page.expect_navigation() as navigation:
        page.keyboard.press("a")
    assert navigation.value.status == 403 and "CSRF" in page.content()
    page.goto(f"{server.base}/moderate?queue=reported")
    assert _count(page, "decided") == 0 and _count(page, "reported") == 3
