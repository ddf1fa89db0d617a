"""The demo as `kizuna demo` serves it, on a real loopback port, and a headless Debian chromium to drive it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from bot.server import build_demo_app, prepare_demo
from crm_core.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 15_000  # per step; generous for a busy 2-core CI machine


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)"))


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class _Later:
    """A WSGI app filled in after the server is bound, so the demo's URLs can name the server's own port."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@dataclass
class Demo:
    url: str
    app: object
    settings: Settings

    @property
    def services(self):
        return self.app.extensions["kizuna"]

    @property
    def line(self):
        return self.app.extensions["line_emulator"]


@pytest.fixture
def demo(database_url):
    """`kizuna demo`: seeded shop, the app and the simulator on one threaded server at its own port."""
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True, request_handler=_QuietHandler)
    try:
        port = server.server_port
        settings = Settings.from_env({}, database_url=database_url).with_demo_defaults(port=port)
        prepare_demo(settings, admin_password="demo-admin-password")  # noqa: S106
        later.app = build_demo_app(settings)
    except BaseException:
        server.server_close()
        raise
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    demo = Demo(url=f"http://127.0.0.1:{port}", app=later.app, settings=settings)
    try:
        yield demo
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        services = demo.services
        services.pump.wait_idle(timeout=10)
        services.pump.shutdown()
        services.engine.dispose()
    assert demo.line.invalid_requests == [], "the app sent LINE a request that LINE's OpenAPI refuses"


@pytest.fixture(scope="module")
def _browser():
    """One chromium per test module (a sync Playwright must be stopped before another one starts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser):
    """A fresh browser context (no cookies) and page; a phone-ish tall window like a chat app on a PC."""
    context = _browser.new_context(viewport={"width": 1100, "height": 900}, locale="ja-JP")
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a script or style the Content-Security-Policy blocked is an error too
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    page.js_errors = errors
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
