"""Console accounts: staff at the till, marketers, admins."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from crm_core import contacts, login_attempts, staff_sessions
from crm_core.errors import N_, Conflict, InvalidInput, LastAdmin, NotFound
from crm_core.models import StaffUser, Store
from crm_core.passwords import MIN_LENGTH, hash_password, verify_password
from crm_core.uow import UnitOfWork

ROLES = ("staff", "marketer", "admin")
# what each role may do: admin > marketer > staff
ROLE_RANK = {"staff": 1, "marketer": 2, "admin": 3}  # mutation-equivalent: admin 3 -> 4 keeps the order


def create_staff_user(
    *,
    uow: UnitOfWork,
    email: str,
    password: str | None,
    role: str,
    display_name: str | None = None,
    home_store_code: str | None = None,
) -> StaffUser:
    """A new console account; `password=None` leaves it without a usable one (an invitation sets it)."""
    email = _on_field("email", contacts.normalize_email, email)
    if email is None:
        raise InvalidInput(N_("Enter a valid e-mail address."), field="email")
    check_role(role)
    if password is not None:
        check_password(password)
    home_store = _store_by_code(uow=uow, code=home_store_code)
    if get_staff_user_by_email(uow=uow, email=email) is not None:
        raise Conflict(N_("An account with this e-mail already exists."), field="email")
    user = StaffUser(
        email=email,
        display_name=(display_name or "").strip()[:200] or email.split("@")[0],
        # mutation-equivalent: token_urlsafe(31 or 33), as unguessable
        password_hash=hash_password(password if password is not None else secrets.token_urlsafe(32)),
        role=role,
        home_store_id=home_store.id if home_store else None,
        created_at=uow.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    return user


def _on_field(field: str, check, value):
    """`check(value)`, with the form field it concerns added to the error (shown next to that field)."""
    try:
        return check(value)
    except InvalidInput as error:
        raise InvalidInput(error.message, **error.params, field=field) from None


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(N_("The role must be staff, marketer or admin."), field="role")


def check_password(password: str | None) -> None:
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(
            N_("The password needs at least %(length)d characters."), length=MIN_LENGTH, field="password"
        )


def set_password(*, uow: UnitOfWork, user: StaffUser, password: str) -> None:
    check_password(password)
    user.password_hash = hash_password(password)


def _store_by_code(*, uow: UnitOfWork, code: str | None) -> Store | None:
    """The store with this code, None when no code is given; InvalidInput for an unknown one."""
    if not (code or "").strip():
        return None
    code = _on_field("home_store", contacts.normalize_store_code, code)
    store = uow.session.exec(select(Store).where(Store.code == code)).first()
    if store is None:
        raise InvalidInput(N_("There is no store with the code %(code)s."), code=code, field="home_store")
    return store


def list_staff_users(*, uow: UnitOfWork) -> list[StaffUser]:
    """Every console account, by e-mail address."""
    return list(uow.session.exec(select(StaffUser).order_by(StaffUser.email)))


def check_staff_user(*, uow: UnitOfWork, staff_user_id: int) -> StaffUser:
    user = get_staff_user(uow=uow, staff_user_id=staff_user_id)
    if user is None:
        raise NotFound(N_("There is no such console account."))
    return user


def check_staff_user_by_email(*, uow: UnitOfWork, email: str) -> StaffUser:
    user = get_staff_user_by_email(uow=uow, email=email or "")
    if user is None:
        raise NotFound(N_("There is no console account with the e-mail address %(email)s."), email=email)
    return user


def _check_admin_stays(*, uow: UnitOfWork, user: StaffUser) -> None:
    """Refuse to take the last active admin away (disabled or demoted): nobody could manage the shop."""
    if user.role != "admin" or not user.active:
        return
    query = select(func.count()).select_from(StaffUser).where(StaffUser.role == "admin", StaffUser.active)
    if uow.session.exec(query).one() <= 1:
        raise LastAdmin()


def end_sessions(*, uow: UnitOfWork, user: StaffUser) -> None:
    """End every console session the account has open, and void its password links (the epoch)."""
    user.session_epoch = (user.session_epoch or 0) + 1
    staff_sessions.end_sessions(uow=uow, staff_user_id=user.id)


def disable_staff_user(*, uow: UnitOfWork, staff_user_id: int, by_staff_user_id: int | None = None) -> StaffUser:
    """Stop an account from logging in; its open sessions end at their next request."""
    user = check_staff_user(uow=uow, staff_user_id=staff_user_id)
    if user.id == by_staff_user_id:
        raise InvalidInput(N_("You cannot disable your own account."))
    _check_admin_stays(uow=uow, user=user)
    if user.active:
        user.active = False
        end_sessions(uow=uow, user=user)
    return user


def enable_staff_user(*, uow: UnitOfWork, staff_user_id: int) -> StaffUser:
    """Let a disabled account log in again (with its password as it was)."""
    user = check_staff_user(uow=uow, staff_user_id=staff_user_id)
    user.active = True
    return user


def reset_password(*, uow: UnitOfWork, staff_user_id: int, password: str | None = None) -> StaffUser:
    """Replace the password (None: an unusable one until a password link sets it); open sessions end."""
    user = check_staff_user(uow=uow, staff_user_id=staff_user_id)
    if password is not None:
        check_password(password)
    # mutation-equivalent: token_urlsafe(31 or 33), as unguessable
    user.password_hash = hash_password(password if password is not None else secrets.token_urlsafe(32))
    end_sessions(uow=uow, user=user)
    return user


def set_role(*, uow: UnitOfWork, staff_user_id: int, role: str) -> StaffUser:
    """Change what an account may do; the last active admin stays an admin."""
    check_role(role)
    user = check_staff_user(uow=uow, staff_user_id=staff_user_id)
    if role != user.role:
        _check_admin_stays(uow=uow, user=user)
        user.role = role
    return user


def set_home_store(*, uow: UnitOfWork, staff_user_id: int, store_code: str | None) -> StaffUser:
    """The store the account usually works at (the till starts there); None or empty for none."""
    user = check_staff_user(uow=uow, staff_user_id=staff_user_id)
    store = _store_by_code(uow=uow, code=store_code)
    user.home_store_id = store.id if store else None
    return user


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
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK[needed]  # mutation-equivalent: 0 -> -1, still below every role


def log_in(*, uow: UnitOfWork, email: str, password: str, address: str | None = None) -> StaffUser:
    """Authenticate a console account, throttled per account and per client `address`.

    Raises LoginFailed or LoginThrottled (see crm_core.login_attempts); the caller commits either way.
    """
    # mutation-equivalent: 254 -> 253 only (a key one character shorter, still one per account); a longer key
    # (too long for login_attempts.email) and the address not stripped or lowered are tested
    email = (email or "").strip().lower()[:254]
    return login_attempts.throttled(
        uow=uow, key=email, address=address, attempt=lambda: authenticate(uow=uow, email=email, password=password)
    )


def get_staff_user(*, uow: UnitOfWork, staff_user_id: int) -> StaffUser | None:
    return uow.session.get(StaffUser, staff_user_id)


LINK_PREFIX = "KZ-"
LINK_WINDOW = 600  # seconds: a link code works in its 10 minutes and the next
_LINK_CODE = re.compile(r"KZ-[A-Z2-7]{8}")


def line_link_code(*, user: StaffUser, secret: str, now: datetime, window: int = 0) -> str:
    """The code this staff member sends the shop's LINE account to link their own (signed; 10 to 20 minutes)."""
    slot = int(now.timestamp()) // LINK_WINDOW - window
    digest = hmac.new(secret.encode(), f"staff-line:{user.id}:{user.session_epoch}:{slot}".encode(), "sha256")
    return LINK_PREFIX + base64.b32encode(digest.digest()).decode()[:8]


def is_line_link_code(text: str) -> bool:
    return bool(_LINK_CODE.fullmatch(text.strip().upper()))


def link_line_account(*, uow: UnitOfWork, code: str, line_user_id: str, secret: str) -> StaffUser | None:
    """Link the LINE account that sent `code` to the marketer or admin whose code it is (None: no such code now).

    A LINE account belongs to one staff member: linking it elsewhere unlinks it from the one before.
    """
    code, now = code.strip().upper(), uow.now()
    for user in uow.session.exec(select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.id)):
        if not has_role(user, "marketer"):
            continue
        if any(hmac.compare_digest(code, line_link_code(user=user, secret=secret, now=now, window=w)) for w in (0, 1)):
            for other in uow.session.exec(select(StaffUser).where(StaffUser.line_user_id == line_user_id)):
                other.line_user_id = None
            uow.session.flush()
            user.line_user_id = line_user_id
            uow.session.flush()
            return user
    return None
