"""The unit of work: one transaction, rolled back unless `commit()` is called."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from crm_core.clock import SystemClock


class UnitOfWork:
    """Open with `with uow:`; actions registered with `after_commit` run only once the commit succeeded."""

    def __init__(self, session_factory: sessionmaker[Session], clock=None):
        self._session_factory = session_factory
        self.clock = clock or SystemClock()
        self.session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._after_commit = []
        return self

    def __exit__(self, *exc_info) -> None:
        # close() rolls back what was not committed and detaches the objects without expiring them,
        # so what a caller read stays readable after the block
        self.session.close()
        self.session = None
        self._after_commit = []

    def commit(self) -> None:
        self.session.commit()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def rollback(self) -> None:
        self.session.rollback()
        self._after_commit = []

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.append(action)

    def now(self):
        return self.clock.now()


class UnitOfWorkFactory:
    """Makes fresh units of work that share one engine and clock; handed to every entry point."""

    def __init__(self, session_factory: sessionmaker[Session], clock=None):
        self.session_factory = session_factory
        self.clock = clock or SystemClock()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A plain connection in a transaction, committed when the block ends without an error.

        For hot paths that write one statement and need no ORM (the webhook).
        """
        with self.session_factory.kw["bind"].begin() as connection:
            yield connection
