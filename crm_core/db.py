"""Engine and session factory; nothing connects until asked."""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` for PostgreSQL and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine tuned for the backend: WAL and a busy timeout on SQLite, a pool on PostgreSQL."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
            hide_parameters=True,  # errors and logs never show the values (names, phones, messages)
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # let SQLAlchemy issue BEGIN itself
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            dbapi_connection.create_function("kizuna_local_date", 2, sqlite_local_date, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # BEGIN IMMEDIATE: writers queue on the lock instead of failing with "database is locked"
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, hide_parameters=True)
    # No pre-ping (a round trip on every checkout, the webhook's largest cost after its INSERT): a
    # connection the server closed (restart, pg_terminate_backend) has its socket readable while idle in
    # the pool, which one poll() sees at no cost; the pool then opens a fresh one instead of failing.
    event.listen(engine, "checkout", _replace_if_closed_by_server)
    return engine


_HOUR = timedelta(hours=1)
_local_days: dict[tuple[str, str], str | None] = {}  # (UTC hour, zone) -> that hour's local date, if one


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def sqlite_local_date(stored: str | None, zone_name: str) -> str | None:
    """`kizuna_local_date(occurred_at, zone)` on SQLite: the local date (YYYY-MM-DD) of a stored UTC timestamp.

    What PostgreSQL's `CAST(timezone(zone, occurred_at) AS DATE)` gives. Most UTC hours fall on one local
    date (the offset is the same all hour and no local midnight falls in it): that date is kept per hour,
    so a history of millions of purchases costs a dictionary look-up each; other instants are converted.
    """
    if stored is None:
        return None
    key = (stored[:13], zone_name)  # "YYYY-MM-DD HH"
    try:
        day = _local_days[key]
    except KeyError:
        if len(_local_days) > 100_000:
            _local_days.clear()
        zone = _zone(zone_name)
        start = datetime.fromisoformat(stored[:13] + ":00").replace(tzinfo=UTC)
        first, last = start.astimezone(zone), (start + _HOUR - timedelta(microseconds=1)).astimezone(zone)
        same = first.utcoffset() == last.utcoffset() and first.date() == last.date()
        day = _local_days[key] = first.date().isoformat() if same else None
    if day is None:
        day = datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(_zone(zone_name)).date().isoformat()
    return day


def _replace_if_closed_by_server(dbapi_connection, _record, _proxy) -> None:
    if server_closed(dbapi_connection):
        raise exc.DisconnectionError("the database closed this pooled connection")


def server_closed(dbapi_connection) -> bool:
    """True when an idle psycopg connection was closed by the server (its socket has an EOF or an error)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))  # an idle connection has nothing to read unless the server hung up
    except (OSError, ValueError, AttributeError):
        return True


def is_transient(error: BaseException) -> bool:
    """Whether `error` is the database being away or busy for a while (worth retrying), not a bug.

    Connection lost or refused, the server shutting down, serialization failures and deadlocks on
    PostgreSQL (all psycopg OperationalErrors), "database is locked" on SQLite, a full pool.
    """
    while error is not None:
        if isinstance(error, exc.DisconnectionError | exc.TimeoutError):
            return True
        if isinstance(error, exc.DBAPIError):
            if error.connection_invalidated:
                return True
            if isinstance(error, exc.OperationalError):
                if type(error.orig).__module__.startswith("sqlite3"):
                    text = str(error.orig).lower()
                    return "locked" in text or "busy" in text
                return True
            return False
        error = error.__cause__
    return False


class DatabaseOutage:
    """Logs an outage once when it starts and once when it ends, instead of a traceback a second.

    One per process: every loop that talks to the database reports `failed(error)` or `reached()`.
    """

    def __init__(self, logger: logging.Logger, *, clock=time.monotonic):
        self._log = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = self._clock()
        cause = type(getattr(error, "orig", None) or error).__name__  # the type only: no data in the logs
        self._log.warning("database unreachable (%s); retrying quietly until it answers", cause)

    def reached(self) -> None:
        if self._since is None:
            return
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            self._log.warning("database reachable again after %.0f s", self._clock() - since)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def upsert_insert(dialect: str, table):
    """INSERT ... that can take ON CONFLICT clauses, on PostgreSQL and SQLite alike."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


IN_CHUNK = 900  # ids per IN (...) lookup, below every backend's bound-parameter limit


def chunks(values, size: int = IN_CHUNK) -> Iterator[list]:
    """`values` in lists of at most `size` (for IN (...) lookups and bulk statements)."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]
