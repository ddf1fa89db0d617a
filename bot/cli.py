"""The `kizuna` command: a composition root like create_app(), for the terminal."""

from __future__ import annotations

import functools
import logging
import secrets
import sys

import click

from crm_core.config import Settings
from crm_core.errors import KizunaError

log = logging.getLogger("kizuna")


def _friendly(fn):
    """Turn domain and configuration errors into one clear line instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KizunaError as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def _settings(**overrides) -> Settings:
    from dotenv import load_dotenv

    load_dotenv(".env", override=False)
    return Settings.from_env(**overrides)


def _services(settings: Settings, **kwargs):
    from bot.app import build_services

    return build_services(settings, **kwargs)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "apscheduler", "werkzeug", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Kizuna: a self-hosted CRM for shops whose customers talk to them on LINE."""


# --- database -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_friendly
def db_upgrade() -> None:
    """Apply migrations to KIZUNA_DATABASE_URL (creates the database file for SQLite)."""
    from crm_core.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database is up to date")


# --- accounts -----------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Console accounts."""


@users.command("create")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option("--role", required=True, type=click.Choice(["staff", "marketer", "admin"]), help="What they may do.")
@click.option("--name", "display_name", default=None, help="Name shown in the console.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="KIZUNA_NEW_PASSWORD",
    help="Asked for when not given (or set KIZUNA_NEW_PASSWORD); at least 10 characters.",
)
@_friendly
def users_create(email: str, role: str, display_name: str | None, password: str) -> None:
    """Create a console account (staff, marketer or admin)."""
    from crm_core import staff

    services = _services(_settings())
    with services.uow_factory() as uow:
        user = staff.create_staff_user(uow=uow, email=email, password=password, role=role, display_name=display_name)
        uow.commit()
        click.echo(f"created {user.role} account {user.email}")


@main.group()
def tokens() -> None:
    """REST API tokens."""


@tokens.command("create")
@click.option("--name", required=True, help="Who uses the token, e.g. 'POS Shibuya'.")
@_friendly
def tokens_create(name: str) -> None:
    """Create an API token; the token is printed once, alone on the last line."""
    from crm_core import api_tokens

    services = _services(_settings())
    with services.uow_factory() as uow:
        token, raw = api_tokens.create_token(uow=uow, name=name)
        uow.commit()
        click.echo(f"created API token #{token.id} '{token.name}'; store it now, it is not shown again:")
        click.echo(raw)


# --- events and jobs ----------------------------------------------------------------------------


@main.group()
def events() -> None:
    """Stored LINE webhook events."""


@events.command("failed")
@_friendly
def events_failed() -> None:
    """List events whose processing failed."""
    from crm_core import events as event_store

    services = _services(_settings())
    with services.uow_factory() as uow:
        for event in event_store.failed_events(uow=uow):
            click.echo(f"{event.id}\t{event.event_type}\t{event.received_at:%Y-%m-%d %H:%M:%S}\t{event.last_error}")


@events.command("rerun")
@click.argument("event_id", type=int)
@_friendly
def events_rerun(event_id: int) -> None:
    """Process a failed event again, now."""
    from crm_core import events as event_store

    settings = _settings()
    services = _services(settings)
    with services.uow_factory() as uow:
        event = event_store.rerun(uow=uow, event_id=event_id)
        if event is None:
            raise click.ClickException(f"no event {event_id}")
        lane = event.lane
        uow.commit()
    services.pump.drain(lane)
    with services.uow_factory() as uow:
        from crm_core.models import WebhookEvent

        click.echo(f"event {event_id}: {uow.session.get(WebhookEvent, event_id).status}")


@main.group(invoke_without_command=True)
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """The scheduler's jobs and their next run; `kizuna jobs run ID` runs one now."""
    if ctx.invoked_subcommand is None:
        from apscheduler.schedulers.background import BackgroundScheduler

        from scheduler.jobs import JOBS, install

        scheduler = install(BackgroundScheduler(timezone="UTC"), services=None)
        scheduler.start(paused=True)
        for job in scheduler.get_jobs():
            click.echo(f"{job.id:<24} next {job.next_run_time:%Y-%m-%d %H:%M:%S %Z}  {JOBS[job.id].description}")
        scheduler.shutdown(wait=False)


@jobs.command("run")
@click.argument("job_id")
@_friendly
def jobs_run(job_id: str) -> None:
    """Run one job now, in the foreground, and print what it did."""
    from scheduler.jobs import JOBS

    if job_id not in JOBS:
        raise click.ClickException(f"no job {job_id!r}; known: {', '.join(JOBS)}")
    _logging()
    services = _services(_settings())
    click.echo(f"{job_id}: {JOBS[job_id].run(services)}")


@main.command("scheduler")
@_friendly
def run_scheduler() -> None:
    """Run the scheduler and the LINE event worker alone (for deployments with several web processes)."""
    from bot.server import run_scheduler as run

    _logging()
    settings = _settings()
    settings.require_production()
    run(settings)


# --- serving ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="Web processes.")
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per web process.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler beside the web processes.")
@_friendly
def serve(host: str, port: int, workers: int, threads: int, no_scheduler: bool) -> None:
    """Serve the webhook, consoles and API with gunicorn (and the scheduler, unless told not to)."""
    from bot.server import run_production

    _logging()
    settings = _settings()
    settings.require_production()
    run_production(settings, host=host, port=port, workers=workers, threads=threads, scheduler=not no_scheduler)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--no-serve", is_flag=True, help="Only fill KIZUNA_DATABASE_URL with the demo shop, then exit.")
@_friendly
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create or upgrade a local database, fill it with a demo shop, and serve it with the LINE simulator."""
    from bot.server import prepare_demo, run_demo

    _logging()
    settings = _settings().with_demo_defaults(port=port)
    password = secrets.token_urlsafe(9)
    summary = prepare_demo(settings, admin_password=password)
    click.echo(summary)
    if no_serve:
        return
    run_demo(settings, host=host, port=port, admin_password=password)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
