"""pytest fixtures for browser tests: Playwright (Python) driving Debian's Chromium, headless.

Never a downloaded browser build: without /usr/bin/chromium the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE_JS = Path(__file__).resolve().parents[2] / "tests" / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: while it is open, Playwright keeps an event loop running in this
    thread, and code that starts its own loop (pyHanko's PDF signing, `asyncio.run`) fails beside it."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); run scripts/ensure-chromium.sh")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself are still synchronous, so Django's async-safety guard is lifted for these tests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _context(browser: Any, live_server: Any, **options: Any) -> Any:
    context = browser.new_context(base_url=live_server.url, locale="it-IT", **options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A desktop-sized page; relative URLs go to the live server."""
    context = _context(browser, live_server)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A phone-sized touch page (390×844), as a first-time donor from a message link."""
    context = _context(browser, live_server, **PHONE)
    yield context.new_page()
    context.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("critical", "serious")) -> list[dict[str, Any]]:
    """Run axe-core (vendored, `make vendor`) on the page as it is now, WCAG 2.1 A/AA rules only;
    return the violations of the given impacts, each with the nodes it names."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: our CSP (script-src 'self') would refuse the
        # inline <script> that page.add_script_tag writes, and the CSP stays on in these tests.
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def assert_accessible(page: Any) -> None:
    """Issue 11 item 19: no critical or serious WCAG 2.1 A/AA violation on the page as shown
    (call it on error states too: they are where pages used to fail)."""
    found = axe_violations(page)
    assert found == [], f"{page.url}: " + json.dumps(found, ensure_ascii=False, indent=1)
