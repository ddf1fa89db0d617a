"""`kizuna import purchases FILE`: purchase history, one row per item, idempotent on external_id.

Rows with the same external_id are one purchase (its items); the purchase columns may be repeated
on each row or left blank after the first. With `with_points`, imported purchases earn the program's
base rate (tier multipliers are not applied retroactively) with the key `purchase:{id}`, the one
`record_purchase` uses, so a later API call for the same purchase grants nothing more. Tiers of the
customers concerned are recomputed from their rolling 12-month spend at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from crm_core import contacts, points
from crm_core.db import chunks
from crm_core.errors import InvalidInput
from crm_core.imports.reading import (
    BATCH_SIZE,
    PURCHASE_COLUMNS,
    Bad,
    ImportReport,
    Problem,
    Progress,
    parse_moment,
    parse_quantity,
    parse_text,
    parse_yen,
    read_rows,
    require_columns,
    safe_error,
)
from crm_core.loyalty import Program, get_program
from crm_core.models import Customer, Purchase, PurchaseItem, Store
from crm_core.purchases import TIER_WINDOW, refresh_tier
from crm_core.uow import UnitOfWork, UnitOfWorkFactory

FUTURE_SLACK = timedelta(minutes=10)
ANALYZE_AFTER_BATCHES = {2, 6, 20, 60, 200}
PURCHASE_FIELDS = ("customer_external_id", "member_number", "store_code", "occurred_at", "total")
ITEM_FIELDS = ("sku", "name", "category", "quantity", "unit_price")
ITEM_LIMITS = {"sku": 64, "name": 200, "category": 100}


@dataclass
class _Purchase:
    external_id: str
    first_line: int
    lines: list[int] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    field_lines: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    bad: bool = False
    customer_id: int | None = None
    store_id: int | None = None


def _parse_field(column: str, value: str, zone: ZoneInfo):
    if column == "occurred_at":
        return parse_moment(value, zone)
    if column == "total":
        return parse_yen(value)
    if column == "member_number":
        return value.replace("-", "").replace(" ", "")
    if column == "store_code":
        try:
            return contacts.normalize_store_code(value)  # as the till and the API read it: shibuya is SHIBUYA
        except InvalidInput:
            raise Bad("bad_store_code", value=value[:40]) from None
    return parse_text(value, 100 if column == "customer_external_id" else 32)


def _parse_row(purchase: _Purchase, line: int, cells: dict, zone: ZoneInfo) -> list[Problem]:
    problems = []
    for column in PURCHASE_FIELDS:
        if not cells.get(column):
            continue
        try:
            value = _parse_field(column, cells[column], zone)
        except Bad as bad:
            problems.append(Problem(line, column, bad.code, bad.params))
            continue
        if column not in purchase.fields:
            purchase.fields[column], purchase.field_lines[column] = value, line
        elif purchase.fields[column] != value:
            problems.append(Problem(line, column, "differs", {"first": purchase.field_lines[column]}))
    given = {column: cells[column] for column in ITEM_FIELDS if cells.get(column)}
    if given:
        missing = [column for column in ("sku", "name", "quantity", "unit_price") if column not in given]
        if missing:
            problems.append(Problem(line, missing[0], "item_incomplete"))
            return problems
        item = {"category": ""}
        for column, value in given.items():
            try:
                if column == "quantity":
                    item[column] = parse_quantity(value)
                elif column == "unit_price":
                    item[column] = parse_yen(value)
                else:
                    item[column] = parse_text(value, ITEM_LIMITS[column])
            except Bad as bad:
                problems.append(Problem(line, column, bad.code, bad.params))
        if not problems:
            purchase.items.append(item)
    return problems


def _check_whole(purchase: _Purchase, now: datetime) -> list[Problem]:
    """What only the purchase as a whole can get wrong (reported on its first line)."""
    line, fields = purchase.first_line, purchase.fields
    problems = [Problem(line, c, "required") for c in ("store_code", "occurred_at", "total") if c not in fields]
    if "customer_external_id" not in fields and "member_number" not in fields:
        problems.append(Problem(line, "customer_external_id", "no_customer_ref"))
    if "occurred_at" in fields and fields["occurred_at"] > now + FUTURE_SLACK:
        problems.append(Problem(purchase.field_lines["occurred_at"], "occurred_at", "future"))
    if purchase.items and "total" in fields:
        items = sum(item["quantity"] * item["unit_price"] for item in purchase.items)
        if items != fields["total"]:
            problems.append(Problem(line, "total", "items_total", {"items": items, "total": fields["total"]}))
    return problems


def _lookup(uow: UnitOfWork, column, values: set[str], *fields) -> dict:
    found = {}
    for chunk in chunks(sorted(values)):
        for row in uow.session.execute(select(column, *fields).where(column.in_(chunk))):
            found[row[0]] = row[1:]
    return found


def _resolve(uow: UnitOfWork, purchases: list[_Purchase], report: ImportReport) -> list[_Purchase]:
    """Customers, stores and already imported purchases, read in chunks; returns the purchases to write."""
    valid = [p for p in purchases if not p.bad]
    by_external = _lookup(
        uow,
        Customer.external_id,
        {p.fields["customer_external_id"] for p in valid if "customer_external_id" in p.fields},
        Customer.id,
        Customer.erased_at,
    )
    by_number = _lookup(
        uow,
        Customer.member_number,
        {p.fields["member_number"] for p in valid if "member_number" in p.fields},
        Customer.id,
        Customer.erased_at,
    )
    stores = dict(uow.session.execute(select(Store.code, Store.id)).all())
    imported = _lookup(uow, Purchase.external_id, {p.external_id for p in valid}, Purchase.customer_id, Purchase.total)
    to_write = []
    for purchase in valid:
        fields, line = purchase.fields, purchase.first_line
        found = []
        for column, table in (("customer_external_id", by_external), ("member_number", by_number)):
            if column in fields:
                match = table.get(fields[column])
                if match is None:
                    report.errors.append(Problem(purchase.field_lines[column], column, "no_customer"))
                found.append(match)
        problems = len(report.errors)
        if None not in found:
            if len({customer_id for customer_id, _ in found}) > 1:
                report.errors.append(Problem(line, "member_number", "customer_mismatch"))
            elif found[0][1] is not None:
                report.errors.append(Problem(line, "customer_external_id", "erased"))
            else:
                purchase.customer_id = found[0][0]
        purchase.store_id = stores.get(fields["store_code"])
        if purchase.store_id is None:
            code_line = purchase.field_lines["store_code"]
            report.errors.append(Problem(code_line, "store_code", "no_store", {"value": fields["store_code"]}))
        if len(report.errors) > problems or None in found:
            purchase.bad = True
            continue
        earlier = imported.get(purchase.external_id)
        if earlier is None:
            to_write.append(purchase)
        elif tuple(earlier) == (purchase.customer_id, fields["total"]):
            report.already += 1
        else:
            report.errors.append(Problem(line, "external_id", "conflict", {"value": purchase.external_id}))
            purchase.bad = True
    return to_write


def import_purchases(
    *,
    uow_factory: UnitOfWorkFactory,
    path: Path | str,
    zone: ZoneInfo,
    encoding: str | None = None,
    with_points: bool = False,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then write the valid purchases (with their items) in batches of `batch_size`."""
    data = read_rows(path, PURCHASE_COLUMNS, encoding)
    require_columns(data.columns, ["external_id", "store_code", "occurred_at", "total"])
    if "customer_external_id" not in data.columns and "member_number" not in data.columns:
        require_columns(data.columns, ["customer_external_id"])
    report = ImportReport(kind="purchases", rows=len(data.rows), dry_run=dry_run)
    groups: dict[str, _Purchase] = {}
    for line, cells in data.rows:
        try:
            external_id = parse_text(cells.get("external_id", ""), 100, required=True)
        except Bad as bad:
            report.errors.append(Problem(line, "external_id", bad.code, bad.params))
            continue
        purchase = groups.setdefault(external_id, _Purchase(external_id=external_id, first_line=line))
        purchase.lines.append(line)
        problems = _parse_row(purchase, line, cells, zone)
        if problems:
            report.errors.extend(problems)
            purchase.bad = True
    with uow_factory() as uow:
        now = uow.now()
        for purchase in groups.values():
            if not purchase.bad:
                problems = _check_whole(purchase, now)
                report.errors.extend(problems)
                purchase.bad = bool(problems)
        to_write = _resolve(uow, list(groups.values()), report)
        program = get_program(uow=uow)
    _report_other_lines(groups.values(), report)
    if dry_run:
        report.imported = len(to_write)
        return report

    # one customer's purchases together: a batch then touches few point accounts (one upsert each)
    to_write.sort(key=lambda purchase: (purchase.customer_id, purchase.first_line))
    customers: set[int] = set()
    lines_to_write = sum(len(p.lines) for p in to_write)
    for start in range(0, len(to_write), batch_size):
        batch = to_write[start : start + batch_size]
        try:
            with uow_factory() as uow:
                written, granted = _write_batch(uow, batch, program=program, zone=zone, with_points=with_points)
                uow.commit()
        except Exception as error:  # noqa: BLE001 (any failure rolls the whole batch back; its rows are reported)
            reason = {"error": safe_error(error)}
            report.errors.extend(Problem(line, "", "batch_failed", reason) for p in batch for line in p.lines)
        else:
            report.imported += len(written)
            report.already += len(batch) - len(written)
            report.points += granted
            customers.update(p.customer_id for p in written)
        if progress:
            progress(sum(len(p.lines) for p in batch), lines_to_write)
        if start // batch_size + 1 in ANALYZE_AFTER_BATCHES:
            _analyze(uow_factory, ("purchases", "purchase_items", "point_entries", "point_lots", "point_accounts"))
    refresh_tiers(uow_factory=uow_factory, customer_ids=customers, program=program)
    if report.points:
        while True:  # points for purchases older than their validity are expired right away
            with uow_factory() as uow:
                expired = points.expire_due(uow=uow)
                uow.commit()
            if not expired:
                break
    return report


def _analyze(uow_factory: UnitOfWorkFactory, tables: tuple[str, ...]) -> None:
    """PostgreSQL: refresh the planner's statistics of tables that grew fast.

    psycopg prepares a query run five times; a plan made while a table was nearly empty (a sequential
    scan) would otherwise stay for the whole import, and every IN (...) lookup would scan the table.
    ANALYZE also invalidates those cached plans.
    """
    with uow_factory() as uow:
        if uow.session.get_bind().dialect.name == "postgresql":
            for table in tables:
                uow.session.execute(text(f"ANALYZE {table}"))
            uow.commit()


def _report_other_lines(purchases, report: ImportReport) -> None:
    """A bad line keeps its whole purchase out; say so on the purchase's other lines."""
    bad_lines = {problem.line for problem in report.errors}
    for purchase in purchases:
        if purchase.bad:
            first_bad = min((line for line in purchase.lines if line in bad_lines), default=purchase.first_line)
            for line in purchase.lines:
                if line not in bad_lines:
                    params = {"value": purchase.external_id, "first": first_bad}
                    report.errors.append(Problem(line, "external_id", "other_line_bad", params))


def _write_batch(
    uow: UnitOfWork, batch: list[_Purchase], *, program: Program, zone: ZoneInfo, with_points: bool
) -> tuple[list[_Purchase], int]:
    """Insert the batch's purchases (skipping any another writer recorded meanwhile) and grant their points."""
    now = uow.now()
    taken = _lookup(uow, Purchase.external_id, {p.external_id for p in batch}, Purchase.id)
    batch = [p for p in batch if p.external_id not in taken]
    if not batch:
        return [], 0
    earn = with_points and program.mode == "points"
    earned = [program.points_for(p.fields["total"]) if earn else 0 for p in batch]
    table = Purchase.__table__
    rows = [
        {
            "external_id": p.external_id,
            "customer_id": p.customer_id,
            "store_id": p.store_id,
            "total": p.fields["total"],
            "refunded_total": 0,
            "points_earned": points_earned,
            "source": "import",
            "occurred_at": p.fields["occurred_at"],
            "created_at": now,
        }
        for p, points_earned in zip(batch, earned, strict=True)
    ]
    ids = uow.session.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    items = [{"purchase_id": i, **item} for i, p in zip(ids, batch, strict=True) for item in p.items]
    if items:
        uow.session.execute(PurchaseItem.__table__.insert(), items)
    granted = 0
    if earn:
        grants = [
            points.GrantSpec(
                customer_id=p.customer_id,
                amount=amount,
                idempotency_key=f"purchase:{i}",
                occurred_at=p.fields["occurred_at"],
                purchase_id=i,
                store_id=p.store_id,
            )
            for i, p, amount in zip(ids, batch, earned, strict=True)
        ]
        granted = points.grant_many(uow=uow, grants=grants, program=program, zone=zone)
    return batch, granted


def refresh_tiers(*, uow_factory: UnitOfWorkFactory, customer_ids: set[int], program: Program) -> int:
    """Recompute the tiers of `customer_ids` from their rolling 12-month spend; returns how many changed.

    The spend is summed for a chunk of customers at once; only those whose tier changes go through
    `purchases.refresh_tier` (which records the change on their timeline).
    """
    changed = 0
    for chunk in chunks(sorted(customer_ids)):
        with uow_factory() as uow:
            now = uow.now()
            spend = dict(
                uow.session.execute(
                    select(Purchase.customer_id, func.sum(Purchase.total - Purchase.refunded_total))
                    .where(
                        Purchase.customer_id.in_(chunk),
                        Purchase.occurred_at > now - TIER_WINDOW,
                        Purchase.occurred_at <= now,
                    )
                    .group_by(Purchase.customer_id)
                ).all()
            )
            for customer in uow.session.scalars(select(Customer).where(Customer.id.in_(chunk))):
                if program.tier_for(int(spend.get(customer.id) or 0)).name != customer.tier:
                    refresh_tier(uow=uow, customer=customer, program=program)
                    changed += 1
            uow.commit()
    return changed
