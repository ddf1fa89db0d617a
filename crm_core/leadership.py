"""Which scheduler process runs the jobs: one leader; every other `kizuna scheduler` waits as a standby.

PostgreSQL decides with a session-level advisory lock (`pg_try_advisory_lock`) taken on a connection
of its own, held for the leader's life: PostgreSQL lets go of it the moment that connection ends (the
process exited or was killed; a dead network once the server's keepalives notice, about 25 s).
SQLite has no such lock, so the leader holds a lease row instead, renewed every third of the lease;
a standby takes it over once `leased_until` has passed, so a killed leader is replaced within one
lease and a third. On both, the row in `scheduler_leases` says who leads and since when, for
`kizuna jobs` and the console's system page.

A lock's `acquire()` and `renew()` answer True while this process leads and never raise: a database
that cannot be reached means "not the leader" (the caller stops its jobs at once and stands by).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, exc, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from crm_core.clock import as_utc
from crm_core.db import upsert_insert
from crm_core.models import SchedulerLease
from crm_core.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("kizuna.scheduler")

NAME = "scheduler"
ADVISORY_KEY = 0x4B495A554E41  # "KIZUNA": advisory locks are per database, so this only meets other Kizunas
DEFAULT_LEASE_SECONDS = 30
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Leader:
    """The scheduler process that runs the jobs (or last ran them: `current` is False once its lease passed)."""

    host: str
    pid: int
    since: datetime
    leased_until: datetime
    current: bool


def get_leader(*, uow: UnitOfWork) -> Leader | None:
    """Who leads the schedulers now, or who led last; None when no scheduler ever led."""
    row = uow.session.get(SchedulerLease, NAME)
    if row is None or not row.owner:
        return None
    until = as_utc(row.leased_until)
    return Leader(row.host, row.pid, as_utc(row.since), until, until >= uow.now())


def process_name() -> tuple[str, int]:
    """This process as the leader record names it: (host, pid)."""
    return socket.gethostname(), os.getpid()


class LeaseLock:
    """The lead as a lease row renewed by its holder and taken over by anyone once it has passed (SQLite).

    It works on any database; the tests use it on PostgreSQL too.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        lease: timedelta,
        host: str,
        pid: int,
        predecessor_pid: int | None = None,
    ):
        self.uow_factory = uow_factory
        self.lease = lease
        self.host, self.pid = host, pid
        self.owner = f"{host}/{pid}/{secrets.token_hex(6)}"
        self.predecessor_pid = predecessor_pid

    def acquire(self) -> bool:
        """Take the lead when nobody holds an unexpired lease (or this process does); True when it leads now.

        A lease held by `predecessor_pid` on this host is taken at once: `kizuna serve` restarting its
        scheduler saw that process die, so nobody need wait for its lease to pass.
        """
        try:
            with self.uow_factory() as uow:
                now = uow.now()
                dialect = uow.session.get_bind().dialect.name
                uow.session.execute(
                    upsert_insert(dialect, SchedulerLease.__table__)
                    .values(name=NAME, owner="", host="", pid=0, since=_NEVER, leased_until=_NEVER)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                free = (SchedulerLease.leased_until < now) | (SchedulerLease.owner == self.owner)
                if self.predecessor_pid is not None:
                    free |= (SchedulerLease.host == self.host) & (SchedulerLease.pid == self.predecessor_pid)
                result = uow.session.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == NAME)
                    .where(free)
                    .values(owner=self.owner, host=self.host, pid=self.pid, since=now, leased_until=now + self.lease)
                )
                uow.commit()
                return result.rowcount == 1
        except exc.SQLAlchemyError as error:
            log.debug("the lease could not be taken: %s", type(error).__name__)
            return False

    def renew(self) -> bool:
        """Extend this process's lease; False when it is no longer this process's (taken over, or unreachable)."""
        try:
            with self.uow_factory() as uow:
                now = uow.now()
                result = uow.session.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == NAME, SchedulerLease.owner == self.owner)
                    .where(SchedulerLease.leased_until >= now)
                    .values(leased_until=now + self.lease)
                )
                uow.commit()
                return result.rowcount == 1
        except exc.SQLAlchemyError as error:
            log.debug("the lease could not be renewed: %s", type(error).__name__)
            return False

    def release(self) -> None:
        """Give the lead up at once (a clean stop), so a standby need not wait for the lease to pass."""
        _end_record(self.uow_factory, self.owner)


class AdvisoryLock:
    """The lead as PostgreSQL's session-level advisory lock, on a connection of its own (PostgreSQL)."""

    def __init__(self, *, engine: Engine, uow_factory: UnitOfWorkFactory, lease: timedelta, host: str, pid: int):
        self.uow_factory = uow_factory
        self.lease = lease
        self.host, self.pid = host, pid
        self.owner = f"{host}/{pid}/{secrets.token_hex(6)}"
        timeout = max(int(lease.total_seconds()), 3)
        # A connection outside the pool, in autocommit (never "idle in transaction"), whose death either
        # side notices within seconds: client and server keepalives, and a send timeout on the client.
        self._engine = create_engine(
            engine.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
            connect_args={
                "connect_timeout": timeout,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": timeout * 1000,
                "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
                "application_name": "kizuna scheduler",
            },
        )
        self._connection: Connection | None = None
        self._held = False

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend holding (or asking for) the lock; for tests and diagnostics."""
        if self._connection is None:
            return None
        return self._connection.execute(text("SELECT pg_backend_pid()")).scalar()

    def acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            self._held = bool(
                self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
            )
        except exc.SQLAlchemyError as error:
            log.debug("the advisory lock could not be asked for: %s", type(error).__name__)
            self._drop_connection()
            return False
        if self._held:
            self._record(taken=True)
        return self._held

    def renew(self) -> bool:
        """True while the lock's connection is alive (PostgreSQL keeps the lock exactly as long)."""
        if not self._held or self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except exc.SQLAlchemyError as error:
            log.debug("the advisory lock's connection is gone: %s", type(error).__name__)
            self._drop_connection()
            return False
        self._record(taken=False)
        return True

    def release(self) -> None:
        if self._held and self._connection is not None:
            with contextlib.suppress(exc.SQLAlchemyError):  # closing the connection lets go of it all the same
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        self._drop_connection()
        self._engine.dispose()
        _end_record(self.uow_factory, self.owner)

    def _drop_connection(self) -> None:
        self._held = False
        if self._connection is not None:
            with contextlib.suppress(exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None

    def _record(self, *, taken: bool) -> None:
        """Write who leads (the lock decides; the row only tells); a failed write costs nothing but the record."""
        try:
            with self.uow_factory() as uow:
                now = uow.now()
                if taken:
                    dialect = uow.session.get_bind().dialect.name
                    values = {
                        "owner": self.owner,
                        "host": self.host,
                        "pid": self.pid,
                        "since": now,
                        "leased_until": now + self.lease,
                    }
                    uow.session.execute(
                        upsert_insert(dialect, SchedulerLease.__table__)
                        .values(name=NAME, **values)
                        .on_conflict_do_update(index_elements=["name"], set_=values)
                    )
                else:
                    uow.session.execute(
                        update(SchedulerLease)
                        .where(SchedulerLease.name == NAME, SchedulerLease.owner == self.owner)
                        .values(leased_until=now + self.lease)
                    )
                uow.commit()
        except exc.SQLAlchemyError as error:
            log.debug("the leader record could not be written: %s", type(error).__name__)


def _end_record(uow_factory: UnitOfWorkFactory, owner: str) -> None:
    try:
        with uow_factory() as uow:
            uow.session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == NAME, SchedulerLease.owner == owner)
                .values(leased_until=_NEVER)
            )
            uow.commit()
    except exc.SQLAlchemyError as error:
        log.debug("the lead could not be given up in the database: %s", type(error).__name__)


def leader_lock(
    *,
    engine: Engine,
    uow_factory: UnitOfWorkFactory,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    predecessor_pid: int | None = None,
) -> LeaseLock | AdvisoryLock:
    """The lock that suits the database: an advisory lock on PostgreSQL, a lease elsewhere.

    `predecessor_pid`: the process on this host this one replaces, known dead (PostgreSQL needs no such hint).
    """
    host, pid = process_name()
    lease = timedelta(seconds=lease_seconds)
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine=engine, uow_factory=uow_factory, lease=lease, host=host, pid=pid)
    return LeaseLock(uow_factory=uow_factory, lease=lease, host=host, pid=pid, predecessor_pid=predecessor_pid)
