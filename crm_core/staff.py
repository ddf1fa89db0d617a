"""Console accounts: staff at the till, marketers, admins."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import select

from crm_core.errors import N_, Conflict, InvalidInput, KizunaError
from crm_core.models import LoginAttempt, StaffUser
from crm_core.passwords import MIN_LENGTH, hash_password, verify_password
from crm_core.uow import UnitOfWork

ROLES = ("staff", "marketer", "admin")
# what each role may do: admin > marketer > staff
ROLE_RANK = {"staff": 1, "marketer": 2, "admin": 3}


def create_staff_user(
    *, uow: UnitOfWork, email: str, password: str, role: str, display_name: str | None = None
) -> StaffUser:
    email = (email or "").strip().lower()
    if "@" not in email:
        raise InvalidInput(N_("Enter a valid e-mail address."))
    if role not in ROLES:
        raise InvalidInput(N_("The role must be staff, marketer or admin."))
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(N_("The password needs at least %(length)d characters."), length=MIN_LENGTH)
    if get_staff_user_by_email(uow=uow, email=email) is not None:
        raise Conflict(N_("An account with this e-mail already exists."))
    user = StaffUser(
        email=email,
        display_name=display_name or email.split("@")[0],
        password_hash=hash_password(password),
        role=role,
        created_at=uow.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    return user


def set_password(*, uow: UnitOfWork, user: StaffUser, password: str) -> None:
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(N_("The password needs at least %(length)d characters."), length=MIN_LENGTH)
    user.password_hash = hash_password(password)


def get_staff_user_by_email(*, uow: UnitOfWork, email: str) -> StaffUser | None:
    return uow.session.exec(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()


def authenticate(*, uow: UnitOfWork, email: str, password: str) -> StaffUser | None:
    """The active account with this e-mail and password, or None (same time either way)."""
    user = get_staff_user_by_email(uow=uow, email=email or "")
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or not user.active:
        return None
    user.last_login_at = uow.now()
    return user


def has_role(user: StaffUser, needed: str) -> bool:
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK[needed]


MAX_LOGIN_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LOCK = timedelta(minutes=15)


class LoginFailed(KizunaError):
    code = "login_failed"
    message = N_("The e-mail address or password is wrong.")


class LoginLocked(KizunaError):
    code = "login_locked"
    message = N_("Too many wrong passwords for this e-mail address. Try again after %(until)s.")


def login_locked_until(*, uow: UnitOfWork, email: str) -> datetime | None:
    """The end of the lock after five wrong passwords within fifteen minutes, or None when not locked.

    Refused tries are not counted, so once the lock ends five new wrong passwords are needed to lock again.
    """
    now = uow.now()
    email = (email or "").strip().lower()
    since = now - LOGIN_WINDOW - LOGIN_LOCK
    query = (
        select(LoginAttempt.occurred_at)
        .where(LoginAttempt.email == email, LoginAttempt.occurred_at > since)
        .order_by(LoginAttempt.occurred_at)
    )
    times = list(uow.session.exec(query))
    first = MAX_LOGIN_FAILURES - 1
    for index in range(first, len(times)):
        if times[index] - times[index - first] <= LOGIN_WINDOW and times[index] + LOGIN_LOCK > now:
            return times[index] + LOGIN_LOCK
    return None


def throttled(*, uow: UnitOfWork, key: str, attempt):
    """Run a login `attempt` (returns the account or None) under the five-tries-in-fifteen-minutes lock.

    A wrong password is recorded even though this raises LoginFailed: the caller commits either way.
    """
    until = login_locked_until(uow=uow, email=key)
    if until is not None:
        raise LoginLocked(until=until)
    account = attempt()
    if account is None:
        now = uow.now()
        uow.session.execute(delete(LoginAttempt).where(LoginAttempt.occurred_at < now - LOGIN_WINDOW - LOGIN_LOCK))
        uow.session.add(LoginAttempt(email=key, occurred_at=now))
        uow.session.flush()
        until = login_locked_until(uow=uow, email=key)
        if until is not None:
            raise LoginLocked(until=until)
        raise LoginFailed()
    uow.session.execute(delete(LoginAttempt).where(LoginAttempt.email == key))
    return account


def log_in(*, uow: UnitOfWork, email: str, password: str) -> StaffUser:
    """Authenticate a console account with throttling; raises LoginLocked or LoginFailed."""
    email = (email or "").strip().lower()[:254]
    return throttled(uow=uow, key=email, attempt=lambda: authenticate(uow=uow, email=email, password=password))


def get_staff_user(*, uow: UnitOfWork, staff_user_id: int) -> StaffUser | None:
    return uow.session.get(StaffUser, staff_user_id)
