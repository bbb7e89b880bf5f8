"""Headless Chromium for page tests: Playwright (Python) driving Debian's /usr/bin/chromium.

Playwright's own browser download is never used (CI is offline): the Makefile installs
Debian's ``chromium`` and Playwright launches it through ``executable_path``, with a fresh
profile folder and every background network feature off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lance_spiral.errors import NotFoundError

__all__ = ["CHROMIUM", "FLAGS", "chromium_page"]

CHROMIUM = Path(os.environ.get("LANCE_SPIRAL_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_page(user_data_dir: str | Path, *, headers: dict[str, str] | None = None,
                  width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium profile at ``user_data_dir``.

    Raises:
        NotFoundError: Chromium is not installed (``make test`` installs Debian's package).
    """
    if not CHROMIUM.is_file():
        raise NotFoundError(f"{CHROMIUM} not found: apt-get install chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            extra_http_headers=headers or {}, viewport={"width": width, "height": height})
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()
