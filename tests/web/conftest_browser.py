"""Browser-test fixtures, loaded by a test module with ``pytest_plugins = ["tests.web.conftest_browser"]``.

- ``browser``: one headless Chromium per test module.
- ``new_context``: a factory of fresh, isolated contexts (zh-CN, Asia/Shanghai, base URL = the live
  server), one per person in a story; all closed after the test, each open page saved to var/e2e/ on failure.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from .browser import CHROMIUM, CHROMIUM_ARGS, E2E_DIR, TIMEOUT_MS, screenshot

_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses ORM calls
    # from a thread with a running loop. The ORM calls here (fixtures, assertions, the database flush)
    # are plain blocking calls between browser steps, so allow them while this browser lives, and only then.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def new_context(browser, live_server, transactional_db, request):
    """Make fresh browser contexts on demand; all are closed after the test."""
    cache.clear()  # rate limits count per address, and every visitor here comes from 127.0.0.1
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for stale in E2E_DIR.glob(f"FAILED-{name}-*.png"):
        stale.unlink()  # from an earlier failed run of this test
    opened = []

    def make(**options):
        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "base_url": live_server.url, **options}
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    yield make
    if request.node.stash.get(_CALL_FAILED, False):
        for i, context in enumerate(opened):
            for j, page in enumerate(context.pages):
                try:
                    print(f"screenshot of {page.url}: {screenshot(page, f'FAILED-{name}-{i}-{j}')}")
                except Exception as e:  # a crashed page must not hide the test's own failure
                    print(f"no screenshot of {page.url}: {e}")
    for context in opened:
        context.close()
