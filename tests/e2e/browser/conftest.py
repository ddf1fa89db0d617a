"""The demo as `kizuna demo` serves it, on a real loopback port, and a headless Debian chromium to drive it."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
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


@contextmanager
def _served(database_url, prepare):
    """The app and the simulator on one threaded server at its own port; `prepare(settings, app)` fills the
    database before the first request. Yields a Demo; on the way out, checks no request LINE would refuse."""
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True, request_handler=_QuietHandler)
    try:
        settings = Settings.from_env({}, database_url=database_url).with_demo_defaults(port=server.server_port)
        later.app = prepare(settings)
    except BaseException:
        server.server_close()
        raise
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served = Demo(url=f"http://127.0.0.1:{server.server_port}", app=later.app, settings=settings)
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        services = served.services
        services.pump.wait_idle(timeout=10)
        services.pump.shutdown()
        services.engine.dispose()
    assert served.line.invalid_requests == [], "the app sent LINE a request that LINE's OpenAPI refuses"


@pytest.fixture
def demo(database_url):
    """`kizuna demo`: seeded shop, the app and the simulator on one threaded server at its own port."""

    def prepare(settings):
        prepare_demo(settings, admin_password="demo-admin-password")  # noqa: S106
        return build_demo_app(settings)

    with _served(database_url, prepare) as served:
        yield served


SHOP_ADMIN_EMAIL = "owner@cafe-mori.example"
SHOP_ADMIN_PASSWORD = "correct horse battery"  # noqa: S105  (a test account)


@pytest.fixture
def fresh_shop(database_url):
    """A shop right after `kizuna db upgrade` and `kizuna users create --role admin`: no demo data at all,
    served with the LINE simulator (which stands in for LINE, as in the demo) on its own port."""
    from crm_core import staff

    def prepare(settings):
        app = build_demo_app(settings)
        with app.extensions["kizuna"].uow_factory() as uow:
            staff.create_staff_user(uow=uow, email=SHOP_ADMIN_EMAIL, password=SHOP_ADMIN_PASSWORD, role="admin")
            uow.commit()
        return app

    with _served(database_url, prepare) as served:
        yield served


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
