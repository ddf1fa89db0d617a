"""The points ledger: append-only entries, lots with their own expiry, and a cached balance.

- A grant is an entry plus a lot. Spending, expiry and refunds take points from lots, soonest expiry
  first, and record which lot gave how much (allocations). A reversal is a new entry that points at
  the entry it undoes (a unique column: an entry is undone at most once).
- A refund takes the points of the refunded part back from the purchase's lot first, then from any lot
  (those points stand in for the ones already used); what it cannot take at all (the customer has
  none left) stays `owed` on the purchase's lot. Points that come back later (a spend undone or
  returned) settle what is owed first, and expire again at once when their lot has expired: points of
  a refunded lot never come back to life, so undoing in any order leaves exactly what remains.
- Every entry has an idempotency key with a unique constraint: the same grant or spend twice is the
  same entry, even when two requests race.
- The balance lives in `point_accounts`, updated in the same transaction. Its row is locked first
  (SELECT ... FOR UPDATE on PostgreSQL; SQLite serializes writers), so one customer's spends run one
  after another; CHECK constraints keep the balance and every lot's remainder from going negative.
- The services do not flush their changes at the end: the caller's commit writes them (the session's
  autoflush does first, when the caller queries again). Only a new entry is flushed, for its id.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from crm_core.db import upsert_insert
from crm_core.errors import N_, AlreadyReversed, InsufficientPoints, InvalidInput, NotFound, TooLateToUndo
from crm_core.loyalty import Program, get_program
from crm_core.models import PointAccount, PointAllocation, PointEntry, PointLot
from crm_core.uow import UnitOfWork

ADDING = ("grant", "adjust")


def lock_account(uow: UnitOfWork, customer_id: int) -> PointAccount:
    """The customer's account row, created if needed and locked until the transaction ends."""
    session = uow.session
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect, PointAccount.__table__)
    session.execute(
        insert.values(customer_id=customer_id, balance=0, stamps=0, updated_at=uow.now()).on_conflict_do_nothing(
            index_elements=["customer_id"]
        )
    )
    query = select(PointAccount).where(PointAccount.customer_id == customer_id).with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).one()


def get_entry_by_key(*, uow: UnitOfWork, idempotency_key: str) -> PointEntry | None:
    return uow.session.exec(select(PointEntry).where(PointEntry.idempotency_key == idempotency_key)).first()


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput(N_("Points must be a whole number above zero."))


def _new_entry(uow: UnitOfWork, *, customer_id: int, kind: str, amount: int, key: str, **fields) -> PointEntry:
    now = uow.now()
    entry = PointEntry(
        customer_id=customer_id,
        kind=kind,
        amount=amount,
        idempotency_key=key,
        occurred_at=fields.pop("occurred_at", None) or now,
        created_at=now,
        **fields,
    )
    uow.session.add(entry)
    uow.session.flush()
    return entry


def grant(
    *,
    uow: UnitOfWork,
    customer_id: int,
    amount: int,
    idempotency_key: str,
    kind: str = "grant",
    program: Program | None = None,
    zone: ZoneInfo | None = None,
    occurred_at: datetime | None = None,
    **fields,
) -> PointEntry:
    """Add `amount` points as a new lot; the same key again returns the first entry and adds nothing."""
    _check_amount(amount)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    account = lock_account(uow, customer_id)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)  # a racer may have won meanwhile
    if existing is not None:
        return existing
    program = program or get_program(uow=uow)
    granted_at = occurred_at or uow.now()
    entry = _new_entry(
        uow, customer_id=customer_id, kind=kind, amount=amount, key=idempotency_key, occurred_at=granted_at, **fields
    )
    uow.session.add(
        PointLot(
            entry_id=entry.id,
            customer_id=customer_id,
            amount=amount,
            remaining=amount,
            available_at=program.available_from(granted_at),
            expires_at=program.expiry_for(granted_at, zone or ZoneInfo("Asia/Tokyo")),
        )
    )
    account.balance += amount
    account.updated_at = uow.now()
    return entry


def usable_lots(uow: UnitOfWork, customer_id: int, *, include_pending: bool = False) -> list[PointLot]:
    """Lots with points left that have not expired (and are usable now, unless `include_pending`)."""
    now = uow.now()
    query = select(PointLot).where(
        PointLot.customer_id == customer_id, PointLot.remaining > 0, PointLot.expires_at > now
    )
    if not include_pending:
        query = query.where(PointLot.available_at <= now)
    return list(uow.session.exec(query.order_by(PointLot.expires_at, PointLot.id)))


def _take(uow: UnitOfWork, entry: PointEntry, lots: list[PointLot], amount: int) -> None:
    """Take up to `amount` from `lots` in order, recording allocations (callers pass what the lots hold)."""
    taken = 0
    for lot in lots:
        if taken == amount:
            break
        part = min(lot.remaining, amount - taken)
        if part <= 0:  # mutation-equivalent: `< 0`, `<= -1`: lots passed here hold points, so a part is never 0
            continue
        lot.remaining -= part
        uow.session.add(PointAllocation(entry_id=entry.id, lot_id=lot.id, amount=part))
        taken += part


def spend(*, uow: UnitOfWork, customer_id: int, amount: int, idempotency_key: str, **fields) -> PointEntry:
    """Use `amount` available points, soonest-expiring first; InsufficientPoints when there are fewer."""
    _check_amount(amount)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    account = lock_account(uow, customer_id)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    lots = usable_lots(uow, customer_id)
    available = sum(lot.remaining for lot in lots)
    if available < amount:
        raise InsufficientPoints(available=available)
    kind = fields.pop("kind", "spend")
    entry = _new_entry(uow, customer_id=customer_id, kind=kind, amount=-amount, key=idempotency_key, **fields)
    _take(uow, entry, lots, amount)
    account.balance -= amount
    account.updated_at = uow.now()
    return entry


def take_back(
    *, uow: UnitOfWork, customer_id: int, amount: int, idempotency_key: str, from_entry_id: int | None, **fields
) -> PointEntry | None:
    """Remove up to `amount` points (a refund): first from the lot `from_entry_id` created, then any lot.

    Never below zero: when the customer already used the points, what is left is taken and the entry
    says how much; the rest stays owed on that lot and is settled by points that come back later
    (`_give_back`). Returns None when there was nothing to take.
    """
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    account = lock_account(uow, customer_id)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    lots = usable_lots(uow, customer_id, include_pending=True)
    if from_entry_id is not None:
        lots.sort(key=lambda lot: (lot.entry_id != from_entry_id, lot.expires_at, lot.id))
    possible = min(amount, sum(lot.remaining for lot in lots))
    # the rest is settled when used points come back; mutation-equivalent: `or`, `<=` (they only add 0 owed)
    if possible < amount and from_entry_id is not None:
        own = uow.session.exec(select(PointLot).where(PointLot.entry_id == from_entry_id)).first()
        if own is not None:
            own.owed = min(own.owed + amount - possible, own.amount)
    if possible <= 0:
        return None
    entry = _new_entry(uow, customer_id=customer_id, kind="refund", amount=-possible, key=idempotency_key, **fields)
    _take(uow, entry, lots, possible)
    account.balance -= possible
    account.updated_at = uow.now()
    return entry


def _give_back(uow: UnitOfWork, account: PointAccount, entry: PointEntry, parts: list[tuple[PointLot, int]]) -> None:
    """Put `parts` (lot, points) back into their lots for `entry`, then settle what refunds still owe.

    Points that come back while a refund of this customer still owes points (it found them used) settle
    that first, taken from the lots that owe first: points of a refunded lot never come back to life.
    What comes back to a lot that has expired meanwhile expires again at once.
    """
    # mutation-equivalent: `>= 0`, `> -1`: every caller's parts are above zero already
    parts = [(lot, amount) for lot, amount in parts if amount > 0]
    for lot, amount in parts:
        lot.remaining += amount
        uow.session.add(PointAllocation(entry_id=entry.id, lot_id=lot.id, amount=-amount))
    account.balance += sum(amount for _lot, amount in parts)
    owing = list(
        uow.session.exec(
            select(PointLot).where(PointLot.customer_id == entry.customer_id, PointLot.owed > 0).order_by(PointLot.id)
        )
    )
    back = {lot.id: amount for lot, amount in parts}
    settle = min(sum(back.values()), sum(lot.owed for lot in owing))
    if settle:
        owing.sort(key=lambda lot: lot.id not in back)  # the lots given back to settle their own debt first
        left = settle
        for lot in owing:
            part = min(lot.owed, left)
            lot.owed -= part
            left -= part
        gone = _new_entry(
            uow,
            customer_id=entry.customer_id,
            kind="refund",
            amount=-settle,
            key=f"owed:{entry.id}",
            purchase_id=entry.purchase_id,
            store_id=entry.store_id,
            reason="points of a refunded purchase",
        )
        owed_ids = {lot.id for lot in owing}
        left = settle
        for lot, _amount in sorted(parts, key=lambda part: part[0].id not in owed_ids):
            part = min(back[lot.id], left)
            if part:
                back[lot.id] -= part
                left -= part
                _take(uow, gone, [lot], part)
        account.balance -= settle
    now = uow.now()
    lapsed = [(lot, back[lot.id]) for lot, _amount in parts if lot.expires_at <= now and back[lot.id] > 0]
    if lapsed:
        total = sum(amount for _lot, amount in lapsed)
        gone = _new_entry(
            uow, customer_id=entry.customer_id, kind="expire", amount=-total, key=f"expire:reversal:{entry.id}"
        )
        for lot, amount in lapsed:
            _take(uow, gone, [lot], amount)
        account.balance -= total


def _open_parts(uow: UnitOfWork, spend: PointEntry) -> list[tuple[PointLot, int]]:
    """The points of a spend not given back yet, by lot, in the order they were taken."""
    related = [spend.id]
    if spend.purchase_id is not None:  # partial returns of a purchase's points payment point at the purchase
        related += uow.session.exec(
            select(PointEntry.id).where(PointEntry.purchase_id == spend.purchase_id, PointEntry.kind == "return")
        ).all()
    related += uow.session.exec(select(PointEntry.id).where(PointEntry.reverses_entry_id == spend.id)).all()
    allocations = uow.session.exec(
        select(PointAllocation).where(PointAllocation.entry_id.in_(related)).order_by(PointAllocation.id)
    ).all()
    open_by_lot: dict[int, int] = {}
    for allocation in allocations:
        open_by_lot[allocation.lot_id] = open_by_lot.get(allocation.lot_id, 0) + allocation.amount
    return [(uow.session.get(PointLot, lot_id), amount) for lot_id, amount in open_by_lot.items() if amount > 0]


def return_spent(
    *, uow: UnitOfWork, spend_entry_id: int, amount: int, idempotency_key: str, **fields
) -> PointEntry | None:
    """Give back up to `amount` of the points a purchase's spend used (a refund of the part paid with points).

    The points go back to the lots they came from, the last taken first; returns None when nothing of
    the spend is left to give back.
    """
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    spend_entry = uow.session.get(PointEntry, spend_entry_id)
    if spend_entry is None:
        raise NotFound(N_("No such points entry."))
    if spend_entry.purchase_id is None:  # returns are found by their purchase: without one, twice would give twice
        raise InvalidInput(N_("This kind of entry cannot be undone."))
    account = lock_account(uow, spend_entry.customer_id)
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    parts, left = [], amount
    for lot, open_points in reversed(_open_parts(uow, spend_entry)):
        if left <= 0:  # mutation-equivalent: `< 0`, `<= -1`: a 0-point part is dropped by _give_back
            break
        part = min(open_points, left)
        parts.append((lot, part))
        left -= part
    given = amount - left
    if given <= 0:
        return None
    fields.setdefault("purchase_id", spend_entry.purchase_id)
    entry = _new_entry(
        uow, customer_id=spend_entry.customer_id, kind="return", amount=given, key=idempotency_key, **fields
    )
    _give_back(uow, account, entry, parts)
    account.updated_at = uow.now()
    return entry


def _day(moment: datetime, zone: ZoneInfo):
    return moment.astimezone(zone).date()


def reverse(
    *,
    uow: UnitOfWork,
    entry_id: int,
    idempotency_key: str,
    reason: str,
    staff_user_id: int | None = None,
    same_day_in: ZoneInfo | None = None,
) -> PointEntry:
    """Undo a grant or a spend with a new entry that points at it (never by deleting anything).

    `same_day_in`: only an entry from today (in that time zone) may be undone (the till's rule).
    """
    existing = get_entry_by_key(uow=uow, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    original = uow.session.get(PointEntry, entry_id)
    if original is None:
        raise NotFound(N_("No such points entry."))
    account = lock_account(uow, original.customer_id)
    if uow.session.exec(select(PointEntry.id).where(PointEntry.reverses_entry_id == entry_id)).first():
        raise AlreadyReversed()
    if same_day_in is not None and _day(original.created_at, same_day_in) != _day(uow.now(), same_day_in):
        raise TooLateToUndo()

    def undo_entry(amount: int) -> PointEntry:
        return _new_entry(
            uow,
            customer_id=original.customer_id,
            kind="reverse",
            amount=amount,
            key=idempotency_key,
            reverses_entry_id=original.id,
            reason=reason,
            staff_user_id=staff_user_id,
            store_id=original.store_id,
            purchase_id=original.purchase_id,
        )

    # mutation-equivalent: `>= 0`, `> -1`: no grant or adjustment is of 0 points
    if original.kind in ADDING and original.amount > 0:
        lot = uow.session.exec(select(PointLot).where(PointLot.entry_id == original.id)).one()
        if lot.remaining < lot.amount:
            raise InsufficientPoints(
                N_("These points were already used (%(available)d left of them); adjust by hand instead."),
                available=lot.remaining,
            )
        entry = undo_entry(-lot.amount)
        _take(uow, entry, [lot], lot.amount)
        account.balance -= lot.amount
    # mutation-equivalent: `<= 0`, `< 1`: no adjustment is of 0 points (adjust refuses 0)
    elif original.kind in ("spend",) or (original.kind == "adjust" and original.amount < 0):
        parts = _open_parts(uow, original)  # what partial returns (refunds) have not given back yet
        if not parts:
            raise AlreadyReversed()
        entry = undo_entry(sum(amount for _lot, amount in parts))
        _give_back(uow, account, entry, parts)
    else:
        raise InvalidInput(N_("This kind of entry cannot be undone."))
    account.updated_at = uow.now()
    return entry


def adjust(
    *, uow: UnitOfWork, customer_id: int, amount: int, reason: str, idempotency_key: str, staff_user_id: int | None
) -> PointEntry:
    """A manual correction by staff; the reason is required and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("A manual adjustment needs a reason."))
    if not isinstance(amount, int) or amount == 0:
        raise InvalidInput(N_("Points must be a whole number other than zero."))
    if amount > 0:  # mutation-equivalent: `>= 0`, `> -1`: 0 is refused just above
        return grant(
            uow=uow,
            customer_id=customer_id,
            amount=amount,
            idempotency_key=idempotency_key,
            kind="adjust",
            reason=reason,
            staff_user_id=staff_user_id,
        )
    return spend(
        uow=uow,
        customer_id=customer_id,
        amount=-amount,
        idempotency_key=idempotency_key,
        kind="adjust",
        reason=reason,
        staff_user_id=staff_user_id,
    )


# mutation-equivalent: limit 999 or 1001 customers (a batch size: the nightly job asks again until none is left)
def expire_due(*, uow: UnitOfWork, limit: int = 1000) -> int:
    """Expire what is left of lots past their validity; returns the points expired. Idempotent."""
    now = uow.now()
    due = uow.session.exec(
        select(PointLot.customer_id)
        .where(PointLot.remaining > 0, PointLot.expires_at <= now)
        .group_by(PointLot.customer_id)
        .limit(limit)
    ).all()
    expired = 0
    for customer_id in due:
        account = lock_account(uow, customer_id)
        lots = uow.session.exec(
            select(PointLot)
            .where(PointLot.customer_id == customer_id, PointLot.remaining > 0, PointLot.expires_at <= now)
            .order_by(PointLot.expires_at, PointLot.id)
            # mutation-equivalent: populate_existing=False (each lot is first loaded here, in the job's own transaction)
            .execution_options(populate_existing=True)
        ).all()
        for lot in lots:
            amount = lot.remaining
            entry = _new_entry(
                uow,
                customer_id=customer_id,
                kind="expire",
                amount=-amount,
                key=f"expire:{lot.id}",  # a lot expires once: points given back to it later expire with the reversal
                occurred_at=lot.expires_at,
            )
            _take(uow, entry, [lot], amount)
            account.balance -= amount
            expired += amount
        account.updated_at = now
    return expired
