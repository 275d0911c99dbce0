"""Browser-test helpers: Debian's Chromium, driven by Playwright (never a browser Playwright downloads).

The fixtures live in ``conftest_browser.py``; a test module loads them with
``pytest_plugins = ["tests.web.conftest_browser"]`` and marks itself with ``pytestmark = BROWSER_TESTS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000  # the longest a locator waits; every step here normally takes well under a second
E2E_DIR = Path(settings.VAR_DIR) / "e2e"

BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}: run `bash scripts/ensure-browser.sh`"
    ),
]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as var/e2e/<name>.png and return its path."""
    E2E_DIR.mkdir(parents=True, exist_ok=True)
    path = E2E_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Draws each character of the element's text in the element's font on a canvas and compares it with a
# character no font has (U+10FFFD, drawn as the empty box): identical pixels mean a missing glyph.
_MISSING_GLYPHS_JS = """element => {
  const style = getComputedStyle(element);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const context = canvas.getContext("2d");
  const draw = (character) => {
    context.clearRect(0, 0, 48, 48);
    context.font = `${style.fontWeight} 32px ${style.fontFamily}`;
    context.fillText(character, 4, 38);
    return context.getImageData(0, 0, 48, 48).data.join();
  };
  const box = draw("\\u{10FFFD}");
  return [...new Set(element.textContent)].filter((c) => c.trim() && draw(c) === box);
}"""


def missing_glyphs(locator) -> list[str]:
    """The characters of the element's text that Chromium can only draw as empty boxes (no font has them)."""
    return locator.evaluate(_MISSING_GLYPHS_JS)


def has_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
