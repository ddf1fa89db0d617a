"""The composition root of the web process: `create_app()` wires crm_core to Flask and LINE."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Engine

from bot import security_headers, web_i18n
from bot.delivery import OutboxDelivery
from bot.event_pump import EventProcessor, EventPump
from bot.line_gateway import LineGateway
from bot.messages import MessageRenderer
from bot.sessions import KizunaSessionInterface
from crm_core.config import Settings
from crm_core.db import make_engine, make_session_factory
from crm_core.errors import ConfigurationError
from crm_core.uow import UnitOfWorkFactory


@dataclass
class Kizuna:
    """Everything the views need, in `app.extensions["kizuna"]`."""

    settings: Settings
    engine: Engine
    uow_factory: UnitOfWorkFactory
    renderer: MessageRenderer
    gateway: LineGateway
    delivery: OutboxDelivery
    pump: EventPump
    process_events: bool = True  # False in gunicorn workers: the event worker process does it

    def automation_render(self, uow):
        """The render callable crm_core.automations decides with (jobs get it here: they may not import bot)."""
        from bot.automation_messages import render_for

        return render_for(self, uow)


def build_services(settings: Settings, *, clock=None, engine: Engine | None = None, workers: int = 4) -> Kizuna:
    """The services every entry point (web, scheduler, CLI) shares."""
    engine = engine or make_engine(settings.database_url)
    uow_factory = UnitOfWorkFactory(make_session_factory(engine), clock)
    renderer = MessageRenderer(timezone=settings.timezone, public_url=settings.public_url)
    gateway = LineGateway(
        base_url=settings.line_api_base_url,
        data_base_url=settings.line_api_data_base_url,
        access_token=settings.line_channel_access_token,
    )
    delivery = OutboxDelivery(uow_factory=uow_factory, gateway=gateway, settings=settings)
    processor = EventProcessor(
        uow_factory=uow_factory, renderer=renderer, gateway=gateway, delivery=delivery, settings=settings
    )
    pump = EventPump(uow_factory=uow_factory, processor=processor, workers=workers)
    services = Kizuna(settings, engine, uow_factory, renderer, gateway, delivery, pump)
    processor.services = services  # handlers that start work beyond the reply (a new member's coupon flows)
    return services


def create_app(
    settings: Settings | None = None, *, clock=None, services: Kizuna | None = None, process_events: bool = True
) -> Flask:
    """Build the Flask app; nothing connects or starts until a request or job needs it.

    `process_events=False`: the webhook only stores events; an event worker (`kizuna scheduler`,
    which `kizuna serve` starts) processes them, so web processes spend their CPU on answering.
    """
    settings = settings or Settings.from_env()
    if not settings.secret_key:
        raise ConfigurationError("set KIZUNA_SECRET_KEY (or run `kizuna demo`)")
    if not settings.line_channel_secret:
        raise ConfigurationError("set LINE_CHANNEL_SECRET (or run `kizuna demo`)")
    services = services or build_services(settings, clock=clock)
    services.process_events = process_events

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        # the cookie is written only when the session changes: a request that merely reads it (another tab,
        # the simulator's polling) must not put back the session as it was when that request began
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.session_interface = KizunaSessionInterface()
    app.extensions["kizuna"] = services
    csrf = CSRFProtect(app)
    web_i18n.init_app(app)
    security_headers.init_app(app, public_url=settings.public_url, line_access_base_url=settings.line_access_base_url)

    from bot import health, webhook

    app.register_blueprint(health.bp)
    app.register_blueprint(webhook.bp)
    csrf.exempt(webhook.bp)
    _register_optional(app, csrf)
    logging.getLogger("linebot").setLevel(logging.WARNING)
    return app


def _register_optional(app: Flask, csrf: CSRFProtect) -> None:
    """Blueprints of the consoles, the REST API and the member pages."""
    from bot import pages

    app.register_blueprint(pages.bp)
    try:
        from bot.console import create_console_blueprint
    except ImportError:
        pass
    else:
        app.register_blueprint(create_console_blueprint(), url_prefix="/console")
    try:
        from bot.api import create_api_blueprint
    except ImportError:
        pass
    else:
        api = create_api_blueprint()
        app.register_blueprint(api, url_prefix="/api/v1")
        csrf.exempt(api)
