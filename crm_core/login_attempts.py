"""Login throttling, shared by the console and the web-member login: per account and per client address.

Wrong passwords for one account make the next try wait: none for the first three, then 2 seconds,
doubling with each further failure up to 5 minutes, so a stranger who knows a staff e-mail address
cannot lock its owner out for longer than a short wait. One client address may get 20 passwords wrong
in 15 minutes, whichever accounts they were for; then it waits until the oldest of them is 15 minutes old.
Only wrong passwords count (refused tries do not); a successful login clears its account's failures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, func
from sqlmodel import select

from crm_core.errors import N_, KizunaError
from crm_core.models import LoginAttempt
from crm_core.uow import UnitOfWork

WINDOW = timedelta(minutes=15)
FREE_FAILURES = 3
FIRST_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=5)
ADDRESS_LIMIT = 20

Account = TypeVar("Account")


class LoginFailed(KizunaError):
    code = "login_failed"
    message = N_("The e-mail address or password is wrong.")


class LoginThrottled(KizunaError):
    """Too many wrong passwords: the try was refused without looking at the password."""

    code = "login_throttled"


class LoginDelayed(LoginThrottled):
    message = N_("Too many wrong passwords for this e-mail address. Try again in %(seconds)d seconds.")


class AddressThrottled(LoginThrottled):
    message = N_("Too many wrong passwords from your network. Try again after %(until)s.")


def delay_after(failures: int) -> timedelta:
    """How long an account waits after `failures` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 30), MAX_DELAY)


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def check_allowed(*, uow: UnitOfWork, key: str, address: str | None) -> None:
    """Raise LoginDelayed or AddressThrottled when a login for `key` from `address` must wait."""
    now = uow.now()
    since = now - WINDOW
    failures = select(func.count(), func.max(LoginAttempt.occurred_at)).where(
        LoginAttempt.email == key, LoginAttempt.occurred_at > since
    )
    count, last = uow.session.exec(failures).one()
    if count:
        ready = last + delay_after(count)
        if ready > now:
            raise LoginDelayed(seconds=_seconds(ready - now))
    if address:
        until = _address_free_at(uow=uow, address=address, since=since)
        if until is not None and until > now:
            raise AddressThrottled(until=until)


def _address_free_at(*, uow: UnitOfWork, address: str, since: datetime) -> datetime | None:
    """When the address may try again: the ADDRESS_LIMIT-th newest failure leaves the window."""
    query = (
        select(LoginAttempt.occurred_at)
        .where(LoginAttempt.client_address == address, LoginAttempt.occurred_at > since)
        .order_by(LoginAttempt.occurred_at.desc())
        .limit(ADDRESS_LIMIT)
    )
    times = list(uow.session.exec(query))
    return times[-1] + WINDOW if len(times) >= ADDRESS_LIMIT else None


def throttled(*, uow: UnitOfWork, key: str, address: str | None, attempt: Callable[[], Account | None]) -> Account:
    """Run a login `attempt` (the account, or None for a wrong password) unless it must wait.

    Raises LoginDelayed or AddressThrottled before trying, LoginFailed (or LoginDelayed, saying how
    long the next try waits) after a wrong password, which is recorded: the caller commits either way.
    """
    check_allowed(uow=uow, key=key, address=address)
    account = attempt()
    now = uow.now()
    if account is None:
        uow.session.execute(delete(LoginAttempt).where(LoginAttempt.occurred_at < now - WINDOW))
        uow.session.add(LoginAttempt(email=key, occurred_at=now, client_address=address))
        uow.session.flush()
        count = uow.session.exec(
            select(func.count()).where(LoginAttempt.email == key, LoginAttempt.occurred_at > now - WINDOW)
        ).one()
        wait = delay_after(count)
        if wait:
            raise LoginDelayed(seconds=_seconds(wait))
        raise LoginFailed()
    uow.session.execute(delete(LoginAttempt).where(LoginAttempt.email == key))
    return account
