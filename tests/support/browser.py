"""Open an HTML file in headless Chromium (Debian's package) with the network cut off, for tests.

    with chromium() as browser:
        with offline_page(browser, path) as page:
            ... page.click(...); page.screenshot(...) ...
        page.requests   # every request the page tried (the report's own file aside)
        page.errors     # console errors and uncaught exceptions

Needs Debian's chromium and Playwright's Python package. Ubuntu has no Chromium package (a snap only):
there scripts/test.sh runs `playwright install chromium` and that browser is used instead.
Missing → skipped, except under CI (GLANCETRACE_REQUIRE_TOOLS=1) where it fails.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil

import pytest

from .loopback import TOOLS_REQUIRED, need

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
                 "--disable-domain-reliability", "--no-pings", "--dns-prefetch-disable"]
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path(playwright) -> str | None:
    """Debian's chromium; else the one `playwright install` put in its cache (None: Playwright's own)."""
    if shutil.which("chromium") is None and pathlib.Path(playwright.chromium.executable_path).exists():
        return None
    need("chromium")
    return shutil.which("chromium")


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        msg = "needs Playwright's Python package (pip install playwright; the browser is Debian's chromium)"
        if TOOLS_REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)
    return sync_playwright


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright Browser object)."""
    sync_playwright = _sync_playwright()
    with sync_playwright() as p:
        path = chromium_path(p)
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class OfflinePage:
    """A page plus what it tried to fetch and what it complained about."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        self.requests: list[str] = []  # every request other than the report itself
        self.errors: list[str] = []

    def __getattr__(self, name):
        return getattr(self.page, name)


@contextlib.contextmanager
def offline_page(browser, html_path, color_scheme: str = "light", viewport=(1400, 1000)):
    """Open a local HTML file with every network request aborted and recorded."""
    url = pathlib.Path(html_path).resolve().as_uri()
    context = browser.new_context(offline=True, color_scheme=color_scheme,
                                  viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    op = OfflinePage(page, url)

    def on_request(req):
        if req.url != url:
            op.requests.append(req.url)

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page.on("request", on_request)
    page.on("console", lambda m: op.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: op.errors.append(f"page error: {e}"))
    try:
        page.goto(url, wait_until="load")
        yield op
    finally:
        context.close()


def artifact(name: str) -> pathlib.Path:
    """Where a test leaves a screenshot or report for people to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def load_timings(page) -> dict:
    """Milliseconds since navigation start: DOM parsed, report script done, load event, first paint."""
    return page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0] || {};
        const fcp = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
        const gt = window.glancetrace || {};
        return {dom_content_loaded: nav.domContentLoadedEventEnd, ready: gt.readyAt, script: gt.scriptMs,
                load: nav.loadEventEnd, first_contentful_paint: fcp ? fcp.startTime : null};
    }""")
