"""Console sessions kept on the server: one row per open session, so ending one takes effect at once.

The browser's signed cookie holds a random id; the row's primary key is its SHA-256, so the table
holds nothing that opens a session. A session ends on logout, when the account is disabled or its
password changes, when an admin ends it, after 30 idle minutes and 8 hours after the login.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import select

from crm_core.errors import N_, KizunaError, NotFound
from crm_core.models import StaffSession, StaffUser
from crm_core.uow import UnitOfWork

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
# the last-seen time is written at most this often: an idle timeout a minute late costs nothing,
# a write on every request would cost the till
TOUCH_EVERY = timedelta(minutes=1)


class SessionExpired(KizunaError):
    code = "session_expired"
    message = N_("Your session expired. Please log in again.")


class SessionEnded(KizunaError):
    code = "session_ended"
    message = N_("Your session was ended. Please log in again.")


@dataclass(frozen=True)
class OpenSession:
    """A session as the console lists it (no id that could open it: only its digest)."""

    digest: str
    created_at: object
    last_seen_at: object
    user_agent: str | None
    client_address: str | None


def digest(raw_id: str) -> str:
    return hashlib.sha256((raw_id or "").encode()).hexdigest()


def open_session(
    *, uow: UnitOfWork, user: StaffUser, user_agent: str | None = None, client_address: str | None = None
) -> str:
    """Record a new session for `user`; the random id to keep in the signed cookie (never stored)."""
    raw_id = secrets.token_urlsafe(32)
    now = uow.now()
    uow.session.add(
        StaffSession(
            id=digest(raw_id),
            staff_user_id=user.id,
            created_at=now,
            last_seen_at=now,
            user_agent=summarize_user_agent(user_agent),
            client_address=(client_address or None) and client_address[:45],
        )
    )
    uow.session.flush()
    return raw_id


def check_session(*, uow: UnitOfWork, raw_id: str, preloaded=None) -> tuple[StaffSession, StaffUser]:
    """The live session with this id and its active account; SessionExpired or SessionEnded otherwise.

    One primary-key read (the session joined with its account). `preloaded` is that pair when the
    caller already read it together with something else. An expired session's row is deleted.
    """
    row = preloaded
    if row is None:
        query = (
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
            .where(StaffSession.id == digest(raw_id))
        )
        row = uow.session.exec(query).first()
    if row is None:
        raise SessionEnded()
    record, user = row
    now = uow.now()
    if now - record.last_seen_at > IDLE_TIMEOUT or now - record.created_at > ABSOLUTE_TIMEOUT:
        uow.session.delete(record)
        raise SessionExpired()
    if not user.active:
        raise SessionEnded()
    return record, user


def needs_touch(*, uow: UnitOfWork, record: StaffSession) -> bool:
    """Whether the last-seen time is old enough to be written again (see TOUCH_EVERY)."""
    return uow.now() - record.last_seen_at >= TOUCH_EVERY


def touch(*, uow: UnitOfWork, record: StaffSession) -> None:
    record.last_seen_at = uow.now()


def end_session(*, uow: UnitOfWork, raw_id: str) -> None:
    """End the session with this id (logout); nothing happens when it has already ended."""
    uow.session.execute(delete(StaffSession).where(StaffSession.id == digest(raw_id)))


def end_sessions(*, uow: UnitOfWork, staff_user_id: int) -> int:
    """End every session the account has open; how many there were."""
    result = uow.session.execute(delete(StaffSession).where(StaffSession.staff_user_id == staff_user_id))
    return result.rowcount or 0


def end_session_by_digest(*, uow: UnitOfWork, staff_user_id: int, session_digest: str) -> None:
    """End one of the account's sessions, as listed by `list_sessions` (an admin's action)."""
    record = uow.session.get(StaffSession, (session_digest or "")[:64])
    if record is None or record.staff_user_id != staff_user_id:
        raise NotFound(N_("This session has already ended."))
    uow.session.delete(record)


def list_sessions(*, uow: UnitOfWork, staff_user_id: int) -> list[OpenSession]:
    """The account's open sessions, most recently used first (expired ones left out)."""
    now = uow.now()
    query = (
        select(StaffSession)
        .where(
            StaffSession.staff_user_id == staff_user_id,
            StaffSession.last_seen_at >= now - IDLE_TIMEOUT,
            StaffSession.created_at >= now - ABSOLUTE_TIMEOUT,
        )
        .order_by(StaffSession.last_seen_at.desc())
    )
    return [
        OpenSession(row.id, row.created_at, row.last_seen_at, row.user_agent, row.client_address)
        for row in uow.session.exec(query)
    ]


def delete_expired(*, uow: UnitOfWork) -> int:
    """Forget sessions that can no longer be used; how many."""
    now = uow.now()
    result = uow.session.execute(
        delete(StaffSession).where(
            (StaffSession.last_seen_at < now - IDLE_TIMEOUT) | (StaffSession.created_at < now - ABSOLUTE_TIMEOUT)
        )
    )
    return result.rowcount or 0


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def summarize_user_agent(user_agent: str | None) -> str | None:
    """ "Chrome on Android" from a browser's User-Agent header (enough to recognize a device, no more)."""
    text = re.sub(r"[\x00-\x1f\x7f]", "", user_agent or "")[:500]
    if not text:
        return None
    browser = next((name for marker, name in _BROWSERS if marker in text), None)
    system = next((name for marker, name in _SYSTEMS if marker in text), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or text[:40]
