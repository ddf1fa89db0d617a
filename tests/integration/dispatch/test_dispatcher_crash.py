"""SIGKILL in the middle of a 10,000-message campaign: after a restart every customer has exactly one message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func
from sqlmodel import select

from crm_core.models import OutboxMessage
from tests.conftest import ACCESS_TOKEN
from tests.integration.dispatch.conftest import queue_campaign, text

CUSTOMERS = 10_000
SALE = text("冬のセール: 会員さまは全品15%オフ")


def _dispatcher(database_url: str, line, log_path, **env: str) -> subprocess.Popen:
    """`kizuna outbox deliver --until-done` as its own process, against the emulator over HTTP."""
    environment = {
        **os.environ,
        "KIZUNA_DATABASE_URL": database_url,
        "LINE_API_BASE_URL": line.base_url,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "KIZUNA_QUIET_HOURS": "off",  # the campaign is marketing; this test may run at any hour
        **env,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "bot.cli", "outbox", "deliver", "--until-done"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _until(check, what: str, process: subprocess.Popen, log_path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        try:
            process.wait(timeout=0.02)  # the pause between looks; also notices the dispatcher exiting
        except subprocess.TimeoutExpired:
            continue
        if check():
            return
        raise AssertionError(f"the dispatcher exited ({process.returncode}) before {what}:\n{log_path.read_text()}")
    raise AssertionError(f"no {what} within {timeout} s:\n{log_path.read_text()}")


def test_a_dispatcher_killed_mid_campaign_and_restarted_sends_everyone_exactly_one(
    database_url, uow_factory, line, audience, tmp_path
):
    people = audience(CUSTOMERS)
    # every fifth customer gets a personal note (a push each); the others the same sale (multicasts)
    queue_campaign(
        uow_factory, people, lambda index: text(f"{index}さん、ご来店ありがとう") if index % 5 == 0 else SALE
    )
    log_path = tmp_path / "dispatcher.log"

    first = _dispatcher(database_url, line, log_path, KIZUNA_LINE_PUSH_RATE="500")
    try:
        _until(lambda: line.consumed >= 3_000, "3,000 messages delivered", first, log_path, timeout=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with uow_factory() as uow:
        pending = uow.session.exec(select(func.count()).where(OutboxMessage.status == "pending")).one()
    assert 0 < pending < CUSTOMERS, "the kill did not land in the middle of the campaign"

    restarted_at = time.monotonic()
    second = _dispatcher(database_url, line, log_path)
    assert second.wait(timeout=90) == 0, log_path.read_text()
    took = time.monotonic() - restarted_at

    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)  # no one twice, no one missed
    with uow_factory() as uow:
        statuses = dict(
            uow.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
    assert statuses == {"sent": CUSTOMERS}
    # claims last 15 s (DISPATCH_CLAIM), so the killed process's rows are taken again well within a
    # minute; the rest is sending 10,000 messages through the emulator, slower on a loaded machine
    assert took < 90, f"the restarted dispatcher took {took:.0f} s"
    print(f"restart to done: {took:.1f} s; {len(line.requests)} requests; log:\n{log_path.read_text()}")
    assert sum(line.rate_limited.values()) == 0  # paced under LINE's limits throughout
