"""The `kizuna` command: a composition root like create_app(), for the terminal."""

from __future__ import annotations

import functools
import logging
import os
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


def _require_current_schema(settings: Settings) -> None:
    """Refuse, in one line naming `kizuna db upgrade`, to run on a database whose schema is not current."""
    from crm_core.db import make_engine
    from crm_core.migrate import check_schema

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        check_schema(engine)
    finally:
        engine.dispose()


def _services(settings: Settings, **kwargs):
    """The shared services for one command; their database connections close when the command ends.

    Every command that reaches the database comes through here, so each refuses a schema that is behind.
    """
    from bot.app import build_services
    from crm_core.migrate import check_schema

    services = build_services(settings, **kwargs)
    try:
        check_schema(services.engine)
    except KizunaError:
        services.engine.dispose()
        raise

    def close() -> None:
        services.pump.shutdown()
        services.engine.dispose()

    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(close)
    return services


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _logging(verbose: bool = False) -> None:
    """INFO (KIZUNA_LOG_LEVEL=DEBUG shows more, e.g. the frequent jobs' runs that found nothing to do)."""
    wanted = os.environ.get("KIZUNA_LOG_LEVEL", "").strip().upper()
    level = logging.DEBUG if verbose else getattr(logging, wanted) if wanted in LOG_LEVELS else logging.INFO
    logging.basicConfig(
        level=level,
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
@click.option("--home-store", "home_store", default=None, help="Code of the store they usually work at.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="KIZUNA_NEW_PASSWORD",
    help="Asked for when not given (or set KIZUNA_NEW_PASSWORD); at least 10 characters.",
)
@_friendly
def users_create(email: str, role: str, display_name: str | None, home_store: str | None, password: str) -> None:
    """Create a console account (staff, marketer or admin)."""
    from crm_core import staff

    services = _services(_settings())
    with services.uow_factory() as uow:
        user = staff.create_staff_user(
            uow=uow,
            email=email,
            password=password,
            role=role,
            display_name=display_name,
            home_store_code=home_store,
        )
        uow.commit()
        click.echo(f"created {user.role} account {user.email}")


def _when(moment, settings: Settings) -> str:
    """A stored time in the shop's time zone, or '-' when there is none."""
    return moment.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


@users.command("list")
@_friendly
def users_list() -> None:
    """List console accounts: e-mail, role, active or disabled, last login (shop time)."""
    from crm_core import staff

    settings = _settings()
    services = _services(settings)
    with services.uow_factory() as uow:
        for user in staff.list_staff_users(uow=uow):
            state = "active" if user.active else "disabled"
            click.echo(f"{user.email}\t{user.role}\t{state}\tlast login {_when(user.last_login_at, settings)}")


@users.command("disable")
@click.argument("email")
@_friendly
def users_disable(email: str) -> None:
    """Disable an account: it cannot log in, and its open console sessions end at once."""
    from crm_core import staff

    services = _services(_settings())
    with services.uow_factory() as uow:
        user = staff.check_staff_user_by_email(uow=uow, email=email)
        staff.disable_staff_user(uow=uow, staff_user_id=user.id)
        uow.commit()
        click.echo(f"disabled {user.email}; its open sessions have ended")


@users.command("reset-password")
@click.argument("email")
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    envvar="KIZUNA_NEW_PASSWORD",
    help="Asked for when not given (or set KIZUNA_NEW_PASSWORD); at least 10 characters.",
)
@_friendly
def users_reset_password(email: str, password: str) -> None:
    """Set a new password; the old one and every open console session of the account stop working."""
    from crm_core import staff

    services = _services(_settings())
    with services.uow_factory() as uow:
        user = staff.check_staff_user_by_email(uow=uow, email=email)
        staff.reset_password(uow=uow, staff_user_id=user.id, password=password)
        uow.commit()
        click.echo(f"new password set for {user.email}; its open sessions have ended")


@main.group()
def tokens() -> None:
    """REST API tokens."""


@tokens.command("create")
@click.option("--name", required=True, help="Who uses the token, e.g. 'POS Shibuya'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="What the token may do, repeatable: customers:read, customers:write, points:read, purchases:read, "
    "purchases:write, stores:read, stores:write, coupons:read, coupons:write, coupons:redeem. None given: all of "
    "them (with --store: the four a store's token may have).",
)
@click.option("--store", "store_code", default=None, help="Only this store's purchases and refunds, e.g. SHIBUYA.")
@_friendly
def tokens_create(name: str, scopes: tuple[str, ...], store_code: str | None) -> None:
    """Create an API token; the token is printed once, alone on the last line."""
    from crm_core import api_tokens

    services = _services(_settings())
    with services.uow_factory() as uow:
        token, raw = api_tokens.create_token(uow=uow, name=name, scopes=list(scopes), store_code=store_code)
        uow.commit()
        where = f" for store {store_code.strip().upper()}" if token.store_id else ""
        click.echo(f"created API token #{token.id} '{token.name}'{where} with scopes {token.scopes}")
        click.echo("store it now, it is not shown again:")
        click.echo(raw)


@tokens.command("list")
@_friendly
def tokens_list() -> None:
    """List API tokens: name, first characters, scopes, store, created, last use (shop time), revoked."""
    from crm_core import api_tokens, stores

    settings = _settings()
    services = _services(settings)
    with services.uow_factory() as uow:
        codes = {store.id: store.code for store in stores.list_stores(uow=uow)}
        for token in api_tokens.list_tokens(uow=uow):
            revoked = f"revoked {_when(token.revoked_at, settings)}" if token.revoked_at else "active"
            scopes = " ".join(api_tokens.scopes_of(token)) if token.scopes is not None else "all scopes"
            store = f"store {codes.get(token.store_id, '?')}" if token.store_id else "every store"
            click.echo(
                f"{token.name}\t{token.prefix}...\t{scopes}\t{store}\tcreated {_when(token.created_at, settings)}"
                f"\tlast use {_when(token.last_used_at, settings)}\t{revoked}"
            )


@tokens.command("revoke")
@click.argument("name")
@_friendly
def tokens_revoke(name: str) -> None:
    """Revoke the active token with this name; requests that carry it are refused at once."""
    from crm_core import api_tokens

    services = _services(_settings())
    with services.uow_factory() as uow:
        token = api_tokens.revoke_by_name(uow=uow, name=name)
        uow.commit()
        click.echo(f"revoked API token '{token.name}'")


# --- stores -------------------------------------------------------------------------------------


@main.group()
def stores() -> None:
    """Stores (also managed in the console at /console/stores and through the API)."""


@stores.command("create")
@click.option("--code", required=True, help="Short code the POS and imports use, e.g. SHIBUYA.")
@click.option("--name", required=True, help="Name shown to customers and on receipts.")
@click.option("--address", default=None, help="Postal address.")
@click.option("--phone", default=None, help="Phone number (dashes and spaces are fine).")
@_friendly
def stores_create(code: str, name: str, address: str | None, phone: str | None) -> None:
    """Add a store; an existing code is updated with what is given."""
    from crm_core import stores as store_service

    changes = {key: value for key, value in (("address", address), ("phone", phone)) if value is not None}
    services = _services(_settings())
    with services.uow_factory() as uow:
        store, created = store_service.upsert_store(uow=uow, code=code, name=name, **changes)
        uow.commit()
        click.echo(f"{'created' if created else 'updated'} store {store.code} ({store.name})")


@stores.command("list")
@_friendly
def stores_list() -> None:
    """Every store: code, name, open or closed, phone, address."""
    from crm_core import stores as store_service

    services = _services(_settings())
    with services.uow_factory() as uow:
        for store in store_service.list_stores(uow=uow):
            state = "open" if store.active else "closed"
            click.echo(f"{store.code}\t{store.name}\t{state}\t{store.phone or ''}\t{store.address or ''}")


def _set_store_open(code: str, *, open_: bool) -> None:
    from crm_core import stores as store_service

    services = _services(_settings())
    with services.uow_factory() as uow:
        change = store_service.reopen_store if open_ else store_service.close_store
        store = change(uow=uow, code=code)
        uow.commit()
        click.echo(f"store {store.code} is {'open' if open_ else 'closed'}")


@stores.command("close")
@click.argument("code")
@_friendly
def stores_close(code: str) -> None:
    """Stop offering a store at the till; its history stays and its POS may still send purchases."""
    _set_store_open(code, open_=False)


@stores.command("reopen")
@click.argument("code")
@_friendly
def stores_reopen(code: str) -> None:
    """Offer a closed store at the till again."""
    _set_store_open(code, open_=True)


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


@events.command("work")
@_friendly
def events_work() -> None:
    """Process stored LINE events until stopped (an extra event worker beside `kizuna scheduler`)."""
    from bot.server import run_event_worker

    _logging()
    settings = _settings()
    settings.require_production()
    _require_current_schema(settings)
    run_event_worker(settings)


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


@main.group()
def outbox() -> None:
    """Messages to customers waiting in the outbox."""


@outbox.command("failed")
@_friendly
def outbox_failed() -> None:
    """List messages that could not be sent, newest first, with LINE's answer."""
    from crm_core import outbox as outbox_service

    services = _services(_settings())
    with services.uow_factory() as uow:
        for row in outbox_service.recent_failures(uow=uow, limit=1000):
            written = f"{row.created_at:%Y-%m-%d %H:%M:%S}"
            click.echo(f"{row.id}\t{row.category}\t{written}\t{row.attempts}\t{row.last_error}")


@outbox.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every failed message, and the pushes held for LINE's quota.")
@_friendly
def outbox_retry(message_id: int | None, every: bool) -> None:
    """Send a failed message (or --all) again; it keeps its retry key, so LINE never shows it twice."""
    from crm_core import outbox as outbox_service

    if (message_id is None) == (not every):
        raise click.UsageError("give one message ID or --all")
    services = _services(_settings())
    with services.uow_factory() as uow:
        count = outbox_service.requeue(uow=uow, message_id=message_id)
        uow.commit()
    click.echo(f"{count} message(s) queued again; the outbox.deliver job sends them within a minute")


@outbox.command("deliver")
@click.option("--until-done", is_flag=True, help="Keep going until only held messages are left (retries too).")
@_friendly
def outbox_deliver(until_done: bool) -> None:
    """Deliver what may go now (what the outbox.deliver job does), at LINE's pace; print what happened."""
    import time

    from crm_core import dispatch

    _logging()
    services = _services(_settings())
    while True:
        click.echo(services.delivery.deliver_due().summary())
        with services.uow_factory() as uow:
            left = dispatch.waiting(uow=uow)
        if not until_done or not left:
            break
        time.sleep(1.0)  # retries and rows another dispatcher claimed come due within seconds
    services.delivery.close()


@main.group(invoke_without_command=True)
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """The scheduler's jobs with their next and last run, and who leads; `kizuna jobs run ID` runs one now."""
    if ctx.invoked_subcommand is None:
        from datetime import UTC, datetime
        from zoneinfo import ZoneInfo

        from crm_core import job_runs, leadership
        from scheduler.jobs import JOBS, due_now, stored_next_runs

        services = _services(_settings())
        zone = ZoneInfo(services.settings.timezone)
        with services.uow_factory() as uow:
            last_runs = job_runs.last_job_runs(uow=uow)
            leader = leadership.get_leader(uow=uow)
        stored = stored_next_runs(services)
        late = due_now(services)
        now = datetime.now(UTC)
        for job in JOBS.values():
            upcoming = stored.get(job.id) or job.trigger(zone).get_next_fire_time(None, now)
            if job.id in late and (job.id not in stored or upcoming < now):
                next_run = "at the scheduler's start"
            else:
                next_run = f"{upcoming.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"
            last = last_runs.get(job.id)
            last_run = f"{last.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if last else "never"
            click.echo(f"{job.id:<16} next {next_run:<24}  last {last_run:<23}  {JOBS[job.id].description}")
        click.echo(_leader_line(leader, zone))


def _leader_line(leader, zone) -> str:
    if leader is None:
        return "leader: none (no scheduler has run yet)"
    who = f"{leader.host}/{leader.pid}"
    if leader.current:
        return f"leader: {who} since {leader.since.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"
    return f"leader: none (the last was {who}, from {leader.since.astimezone(zone):%Y-%m-%d %H:%M:%S %Z})"


@jobs.command("run")
@click.argument("job_id")
@_friendly
def jobs_run(job_id: str) -> None:
    """Run one job now, in the foreground, and print what it did."""
    from scheduler.jobs import JOBS, run_job

    if job_id not in JOBS:
        raise click.ClickException(f"no job {job_id!r}; known: {', '.join(JOBS)}")
    _logging()
    services = _services(_settings())
    click.echo(f"{job_id}: {run_job(job_id, services)}")


@main.command("scheduler")
@click.option(
    "--no-events", is_flag=True, help="Run the scheduled jobs only; leave LINE events to `kizuna events work`."
)
@_friendly
def run_scheduler(no_events: bool) -> None:
    """Run the scheduler and the LINE event worker alone (for deployments with several web processes)."""
    from bot.server import run_scheduler as run

    _logging()
    settings = _settings()
    settings.require_production()
    _require_current_schema(settings)
    run(settings, events=not no_events)


# --- imports ------------------------------------------------------------------------------------

PROGRESS_FROM_ROWS = 2000  # smaller files import without a progress bar


@main.group("import")
def import_() -> None:
    """Import customers and purchases from CSV files (UTF-8 or Shift_JIS; columns in docs/imports.md)."""


def _import_options(command):
    options = [
        click.argument("file", type=click.Path(exists=True, dir_okay=False)),
        click.option("--encoding", default=None, help="Force the file's encoding (utf-8, cp932); detected otherwise."),
        click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing."),
        click.option("--errors-csv", type=click.Path(dir_okay=False), help="Also write the bad rows' lines here."),
        click.option(
            "--batch-size", default=1000, show_default=True, type=click.IntRange(1), help="Rows per transaction."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class _ImportProgress:
    """A progress bar on stderr, shown once the rows to write are known to be many."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and total >= PROGRESS_FROM_ROWS:
            self.bar = click.progressbar(length=total, file=sys.stderr, label="importing")
            self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _gettext(locale: str):
    from bot.i18n import translations

    return translations(locale).gettext


def _run_import(run, errors_csv: str | None) -> None:
    """Run one import, then print its notices, bad lines and summary; exit 1 when a row was bad."""
    import csv

    from crm_core.imports import ImportFileError
    from crm_core.imports.reading import describe

    settings = _settings()
    services = _services(settings)
    progress = _ImportProgress()
    try:
        report = run(services.uow_factory, settings, progress)
    except ImportFileError as error:
        raise click.ClickException(error.describe(_gettext(settings.locale))) from None
    finally:
        progress.close()
        services.engine.dispose()
    gettext = _gettext(settings.locale)
    for notice in report.notices:
        click.echo(notice.describe(gettext))
    errors = sorted(report.errors, key=lambda problem: problem.line)
    shown = 50
    for problem in errors[:shown]:
        click.echo(problem.describe(gettext), err=True)
    if len(errors) > shown:
        more = len(errors) - shown
        click.echo(
            f"... {more} more" + (f" in {errors_csv}" if errors_csv else " (--errors-csv FILE lists all)"), err=True
        )
    if errors_csv:
        with open(errors_csv, "w", newline="", encoding="utf-8-sig") as handle:  # the BOM lets Excel read it
            writer = csv.writer(handle)
            writer.writerow(["line", "column", "reason"])
            writer.writerows(
                [p.line, p.column, describe(p.code, {"column": p.column, **p.params}, gettext)] for p in errors
            )
    click.echo(report.summary(gettext))
    if errors:
        sys.exit(1)


@import_.command("customers")
@_import_options
@_friendly
def import_customers(file: str, encoding: str | None, dry_run: bool, errors_csv: str | None, batch_size: int) -> None:
    """Create or update customers by external_id from a CSV file."""
    from crm_core.imports import import_customers as run_import

    def run(uow_factory, settings, progress):
        return run_import(
            uow_factory=uow_factory,
            path=file,
            encoding=encoding,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
        )

    _run_import(run, errors_csv)


@import_.command("purchases")
@_import_options
@click.option("--with-points", is_flag=True, help="Grant points at the program's base rate for imported purchases.")
@_friendly
def import_purchases(
    file: str, encoding: str | None, dry_run: bool, errors_csv: str | None, batch_size: int, with_points: bool
) -> None:
    """Import purchase history (one row per item) from a CSV file; purchases already imported are skipped."""
    from crm_core.imports import import_purchases as run_import

    def run(uow_factory, settings, progress):
        return run_import(
            uow_factory=uow_factory,
            path=file,
            zone=settings.zone,
            encoding=encoding,
            with_points=with_points,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
        )

    _run_import(run, errors_csv)


@main.group()
def customers() -> None:
    """Customers."""


@customers.command("erase")
@click.argument("customer_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_friendly
def customers_erase(customer_id: int, yes: bool) -> None:
    """Erase a customer's personal data on their request (purchases and points stay, anonymous)."""
    from crm_core import customers as customer_service

    if not yes:
        click.confirm(f"Erase the personal data of customer {customer_id}? This cannot be undone", abort=True)
    services = _services(_settings())
    with services.uow_factory() as uow:
        customer_service.erase_customer(uow=uow, customer_id=customer_id)
        uow.commit()
    click.echo(f"customer {customer_id}: personal data erased")


@main.group()
def richmenu() -> None:
    """The LINE rich menu."""


@richmenu.command("install")
@_friendly
def richmenu_install() -> None:
    """Create the rich menu (once) and make it every friend's default."""
    from bot import rich_menu
    from bot.line_gateway import SendError

    settings = _settings()
    settings.require_production()
    services = _services(settings)
    try:
        rich_menu_id = rich_menu.install(services.gateway)
    except SendError as error:
        raise click.ClickException(f"LINE refused the rich menu: {error}") from None
    click.echo(f"rich menu {rich_menu_id} is the default")


# --- serving ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="Web processes.")
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per web process.")
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run the scheduled jobs (LINE events are still processed unless --event-workers 0).",
)
@click.option(
    "--event-workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="Processes that work through LINE events (the scheduler counts as one).",
)
@click.option("--restart-backoff", default=1.0, type=float, hidden=True, help="First pause before a restart (s).")
@_friendly
def serve(
    host: str, port: int, workers: int, threads: int, no_scheduler: bool, event_workers: int, restart_backoff: float
) -> None:
    """Serve the webhook, consoles and API with gunicorn, and supervise the scheduler and event workers."""
    from bot.server import run_production

    _logging()
    settings = _settings()
    settings.require_production()
    _require_current_schema(settings)
    code = run_production(
        settings,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        scheduler=not no_scheduler,
        event_workers=event_workers,
        restart_backoff=restart_backoff,
    )
    sys.exit(code)


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
    summary, password = prepare_demo(settings)
    click.echo(summary)
    if no_serve:
        from bot.server import DEMO_ADMIN_EMAIL

        click.echo(f"console login {DEMO_ADMIN_EMAIL} / {password}")
        return
    run_demo(settings, host=host, port=port, admin_password=password)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
