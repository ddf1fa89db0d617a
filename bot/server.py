"""Running Kizuna: gunicorn for production, a single threaded process with the simulator for the demo."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from crm_core.config import Settings

log = logging.getLogger("kizuna")

DEMO_ADMIN_EMAIL = "admin@kizuna.example"
DEMO_WEB_LOGIN = "hanako@example.com / kizuna-demo-2026"
DEMO_LINE_USER = "鈴木 さくら"  # a LINE user waiting in the simulator, so a newcomer can press Follow at once


DEMO_PASSWORD_KEY = "demo.admin_password"  # noqa: S105  (a settings key) the demo database's own admin password, printed at every start


def prepare_demo(settings: Settings, *, admin_password: str | None = None) -> tuple[str, str]:
    """Migrate, seed the demo shop (once), and make sure of the demo admin; returns a summary and its password.

    The password is made once per database and kept in it (a local demo database, printed at every start
    anyway), so a restarted demo keeps the password a newcomer already wrote down. Tests may set their own.
    """
    from bot.app import build_services
    from crm_core import automations, demo, shop, staff
    from crm_core.migrate import upgrade
    from crm_core.passwords import verify_password

    upgrade(settings.database_url)
    services = build_services(settings)
    with services.uow_factory() as uow:
        added = demo.seed(uow=uow)
        if added.get("automations"):  # their reminders and recommendations at once, not after tonight's refresh
            automations.refresh(uow=uow, zone=settings.zone)
        password = admin_password or shop.get_setting(uow=uow, key=DEMO_PASSWORD_KEY)
        admin = staff.get_staff_user_by_email(uow=uow, email=DEMO_ADMIN_EMAIL)
        if admin is None:
            password = password or secrets.token_urlsafe(9)
            staff.create_staff_user(
                uow=uow, email=DEMO_ADMIN_EMAIL, password=password, role="admin", display_name="Demo admin"
            )
        elif not password or not verify_password(admin.password_hash, password):
            password = secrets.token_urlsafe(9)
            staff.set_password(uow=uow, user=admin, password=password)
        shop.set_setting(uow=uow, key=DEMO_PASSWORD_KEY, value=password)
        uow.commit()
    services.engine.dispose()
    if any(added.values()):
        summary = (
            f"demo shop ready: {added['stores']} stores, {added['products']} products, "
            f"{added['customers']} customers, {added['purchases']} purchases, {added['menus']} bookable menus"
        )
    else:
        summary = "demo shop already there; nothing added"
    return summary, password


def simulator_users_file(database_url: str) -> Path:
    """Where the demo keeps its simulator's LINE users: beside the SQLite file, else in the working directory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database + ".simulator-users.json")
    return Path("kizuna-simulator-users.json")


def _keep_users_in(emulator, path: Path) -> None:
    """Load the simulator's LINE users from `path` and write them back there whenever they change."""
    try:
        emulator.import_users(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    except (ValueError, TypeError, OSError) as error:
        log.warning("the simulator's saved LINE users in %s could not be read (%s); starting afresh", path, error)

    def save(users: list[dict]) -> None:
        spare = path.with_name(path.name + ".tmp")
        spare.write_text(json.dumps(users, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(spare, path)

    emulator.on_users_changed = save


def build_demo_app(settings: Settings, *, services=None, users_file: Path | None = None):
    """The app plus the LINE simulator, which LINE_API_BASE_URL points at (its users kept in `users_file`)."""
    from bot.app import build_services, create_app
    from bot.simulator import LineEmulator, create_line_api_blueprint, create_simulator_blueprint

    services = services or build_services(settings)
    app = create_app(settings, services=services)
    emulator = LineEmulator(
        channel_secret=settings.line_channel_secret,
        channel_access_token=settings.line_channel_access_token,
        webhook_url=f"{settings.public_url}/callback",
        # LINE refuses http:// images; the local demo serves its QR codes and images over plain http.
        insecure_url_prefixes=(settings.public_url,),
    )
    if users_file is not None:
        _keep_users_in(emulator, users_file)
    if not emulator.users():
        emulator.add_user(DEMO_LINE_USER, "ja")
    _add_demo_friends(emulator)
    csrf = app.extensions["csrf"]
    for blueprint, prefix in (
        (create_line_api_blueprint(emulator), "/simulator/line"),
        (create_simulator_blueprint(emulator), "/simulator"),
    ):
        app.register_blueprint(blueprint, url_prefix=prefix)
        csrf.exempt(blueprint)
    app.extensions["line_emulator"] = emulator
    return app


def _add_demo_friends(emulator) -> None:
    """The LINE users the demo's automation customers are linked to, already friends of the shop."""
    from crm_core.demo import LINE_FRIENDS

    known = {user["line_user_id"] for user in emulator.users()}
    emulator.import_users(
        {"line_user_id": f.line_user_id, "display_name": f.name, "following": True, "ever_followed": True}
        for f in LINE_FRIENDS
        if f.line_user_id not in known
    )


def run_demo(settings: Settings, *, host: str, port: int, admin_password: str) -> None:
    from werkzeug.serving import make_server

    from bot.supervision import Heartbeat
    from crm_core.heartbeats import SCHEDULER
    from scheduler.runner import LeadingScheduler

    app = build_demo_app(settings, users_file=simulator_users_file(settings.database_url))
    services = app.extensions["kizuna"]
    scheduler = LeadingScheduler(services)  # the demo's jobs, unless a `kizuna scheduler` on its database leads
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host}:{port}"
    print(
        f"\nKizuna demo is running (Ctrl+C stops it)\n"
        f"  LINE simulator  {base}/simulator/\n"
        f"  console         {base}/console/  login {DEMO_ADMIN_EMAIL} / {admin_password}\n"
        f"  till            {base}/console/till  (type the member number shown on the LINE point card)\n"
        f"  REST API        {base}/api/v1/openapi.json\n"
        f"  health          {base}/healthz\n"
        f"\nTry it: in the simulator press 友だち追加 (Follow), agree, register, send ポイント; then credit a\n"
        f"purchase at the till in another tab and watch the receipt arrive on LINE.\n"
        f"Existing demo member: number 1000000008, birth date 19850412; web login {DEMO_WEB_LOGIN}.\n"
        f"Automations are on: in the simulator, 高橋 健 gets a reminder for the beans he buys every 30 days and\n"
        f"伊藤 結衣 gets recommendations with their reasons, within a minute (the demo shop has no quiet hours).\n"
        f"Coupon flows: in the console, Marketing -> Segments (no purchase in 60 days), then Coupon flows -> a\n"
        f"win-back with おかえりなさい 300円引き; run it, and 小林 陽菜 gets the coupon in the simulator.\n"
        f"Reservations: as a member, send 予約 in the simulator and book a lesson; staff see it at\n"
        f"{base}/console/reservations, and its reminders wait under Automations -> Booking reminder.\n",
        flush=True,
    )
    scheduler.start()
    heartbeat = Heartbeat(uow_factory=services.uow_factory, helper=SCHEDULER)  # the demo is its own helper
    heartbeat.start()
    services.pump.sweep()
    threading.Thread(target=_install_rich_menu, args=(services,), daemon=True).start()  # once serving
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        heartbeat.stop()
        scheduler.stop()
        services.pump.shutdown()


def _install_rich_menu(services) -> None:
    from bot import rich_menu
    from bot.line_gateway import SendError

    try:
        rich_menu.install(services.gateway)
    except SendError as error:
        log.warning("the demo's rich menu was not installed: %s", error)


def run_production(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    scheduler: bool,
    event_workers: int = 2,
    restart_backoff: float = 1.0,
) -> int:
    """gunicorn with threaded workers, the scheduler and the event workers, each a supervised child process.

    The scheduler process (`kizuna scheduler`) runs the jobs and processes LINE events too;
    `event_workers - 1` more processes (`kizuna events work`) share that work, so a burst drains before
    reply tokens expire. Without the scheduler, `event_workers` processes work through the events.
    `event_workers=0`: nothing processes LINE events (the scheduler runs its jobs only); the web
    server still stores them, for a worker started later.
    Returns the exit code: 1 when a child kept dying.
    """
    from bot.supervision import Child, Supervisor

    cli = [sys.executable, "-m", "bot.cli"]
    web = [
        sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
        "--threads", str(threads), "--worker-class", "gthread", "--timeout", "60", "--keep-alive", "30",
        "--no-control-socket", "bot.server:production_app()",
    ]  # fmt: skip
    children = [Child("web server", web)]
    if scheduler:
        no_events = ["--no-events"] if event_workers == 0 else []
        children.append(Child("scheduler", [*cli, "scheduler", *no_events], lower_priority=True))
    extra = max(event_workers - 1, 0) if scheduler else max(event_workers, 0)
    for number in range(1, extra + 1):
        children.append(Child(f"event worker {number}", [*cli, "events", "work"], lower_priority=True))
    log.info(
        "serving on http://%s:%d with %s", host, port, ", ".join(child.name for child in children[1:]) or "no helper"
    )
    return Supervisor(children, backoff=restart_backoff).run()


def production_app():
    """The app gunicorn serves for `kizuna serve`: the webhook stores events, the helpers process them."""
    from bot.app import create_app

    return create_app(Settings.from_env(), process_events=False)


def run_event_worker(settings: Settings) -> None:
    """Process stored LINE events, in the foreground, until stopped (`kizuna events work`)."""
    from bot.app import build_services
    from bot.event_pump import EventWorker
    from bot.supervision import Heartbeat
    from crm_core.heartbeats import EVENT_WORKER

    services = build_services(settings)
    worker = EventWorker(pump=services.pump, uow_factory=services.uow_factory, database_url=settings.database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    heartbeat = Heartbeat(uow_factory=services.uow_factory, helper=EVENT_WORKER, on_orphaned=stop.set)
    worker.start()
    heartbeat.start()
    print("event worker running; Ctrl+C stops it", flush=True)
    try:
        while not stop.wait(1.0):  # wakes every second: a signal delivered to another thread still stops it
            pass
    except KeyboardInterrupt:
        pass
    finally:
        heartbeat.stop()
        worker.stop()
        services.pump.shutdown()


def run_scheduler(settings: Settings, *, events: bool = True) -> None:
    """The scheduler's jobs plus the event worker, in the foreground (`kizuna scheduler`).

    The event worker runs unless `events=False` (`--no-events`), leader or not; the jobs run only
    while this process leads (scheduler.runner), so several schedulers on one database run every job
    once and a standby takes over when the leader dies.
    """
    from bot.app import build_services
    from bot.event_pump import EventWorker
    from bot.supervision import PREVIOUS_PID, Heartbeat
    from crm_core.heartbeats import SCHEDULER
    from scheduler.runner import LeadingScheduler

    services = build_services(settings)
    worker = None
    if events:
        worker = EventWorker(pump=services.pump, uow_factory=services.uow_factory, database_url=settings.database_url)
        worker.start()
    previous = os.environ.get(PREVIOUS_PID, "")  # restarted by `kizuna serve`: its predecessor's lease is free
    scheduler = LeadingScheduler(services, predecessor_pid=int(previous) if previous.isdigit() else None)
    stop = threading.Event()
    heartbeat = Heartbeat(uow_factory=services.uow_factory, helper=SCHEDULER, on_orphaned=stop.set)
    heartbeat.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a graceful stop: the finally below releases the lanes
    scheduler.start()
    print(f"scheduler {'and event worker ' if events else ''}running; Ctrl+C stops it", flush=True)
    try:
        while not stop.wait(1.0):  # wakes every second: a signal delivered to another thread still stops it
            pass
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()  # gives the lead up, so a standby takes over at once
        heartbeat.stop()
        if worker is not None:
            worker.stop()  # finishes the events in hand and releases their lanes
        services.pump.shutdown()
