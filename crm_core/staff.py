"""Console accounts: staff at the till, marketers, admins."""

from __future__ import annotations

from sqlmodel import select

from crm_core.errors import N_, Conflict, InvalidInput
from crm_core.models import StaffUser
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
