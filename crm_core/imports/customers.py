"""`kizuna import customers FILE`: create or update customers by external_id."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import bindparam, select

from crm_core import contacts
from crm_core.customers import is_member_number, luhn_digit
from crm_core.db import chunks
from crm_core.errors import InvalidInput
from crm_core.imports.reading import (
    BATCH_SIZE,
    CUSTOMER_COLUMNS,
    Bad,
    ImportReport,
    Problem,
    Progress,
    parse_date,
    parse_text,
    read_rows,
    require_columns,
    safe_error,
)
from crm_core.models import Customer, TimelineEntry
from crm_core.uow import UnitOfWork, UnitOfWorkFactory

UPDATABLE = ("name", "name_kana", "birth_date", "phone", "email", "locale")
LIMITS = {"external_id": 100, "name": 200, "name_kana": 200, "phone": 40, "email": 254}
# column -> (the one check in crm_core.contacts, the problem reported when it refuses the cell)
CONTACTS = {
    "phone": (contacts.normalize_phone, "bad_phone"),
    "email": (contacts.normalize_email, "bad_email"),
    "name_kana": (contacts.normalize_kana, "bad_kana"),
}


def _parse(line: int, cells: dict, today, report: ImportReport) -> dict | None:
    """The row's fields (blank cells left out: they keep what is stored), or None after reporting it."""
    fields: dict = {}
    problems = []
    for column, value in cells.items():
        try:
            if column in LIMITS:
                parsed = parse_text(value, LIMITS[column], required=column in ("external_id", "name"))
            elif column == "birth_date" and value:
                parsed = parse_date(value.replace(".", "/"))
                if parsed > today:
                    raise Bad("future")
            elif column == "locale" and value:
                parsed = value.lower()
                if parsed not in ("ja", "en"):
                    raise Bad("bad_locale")
            elif column == "member_number" and value:
                parsed = value.replace("-", "").replace(" ", "")
                if not is_member_number(parsed):
                    report.notices.append(Problem(line, column, "member_number_replaced"))
                    parsed = None
            else:
                parsed = None
            if column in CONTACTS and parsed:
                normalize, problem = CONTACTS[column]
                try:
                    parsed = normalize(parsed)
                except InvalidInput:
                    raise Bad(problem) from None
        except Bad as bad:
            problems.append(Problem(line, column, bad.code, bad.params))
            continue
        if parsed is not None:
            fields[column] = parsed
    report.errors.extend(problems)
    return None if problems else fields


def _existing(uow: UnitOfWork, external_ids: list[str]) -> dict[str, Customer]:
    found = {}
    for chunk in chunks(external_ids):
        for customer in uow.session.scalars(select(Customer).where(Customer.external_id.in_(chunk))):
            found[customer.external_id] = customer
    return found


def _member_number_owners(uow: UnitOfWork, numbers: list[str]) -> dict[str, str | None]:
    owners = {}
    for chunk in chunks(numbers):
        query = select(Customer.member_number, Customer.external_id).where(Customer.member_number.in_(chunk))
        owners.update(uow.session.execute(query).all())
    return owners


def new_member_numbers(uow: UnitOfWork, count: int, taken: set[str]) -> list[str]:
    """`count` fresh ten-digit Luhn member numbers, unused in the database and not in `taken`."""
    numbers: list[str] = []
    while len(numbers) < count:
        wanted = count - len(numbers)
        candidates = set()
        while len(candidates) < wanted:
            body = str(secrets.randbelow(9 * 10**8) + 10**8)
            number = body + luhn_digit(body)
            if number not in taken:
                candidates.add(number)
        used = _member_number_owners(uow, sorted(candidates))
        fresh = [number for number in sorted(candidates) if number not in used]
        taken.update(fresh)
        numbers.extend(fresh)
    return numbers


def import_customers(
    *,
    uow_factory: UnitOfWorkFactory,
    path: Path | str,
    encoding: str | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then create or update the valid ones by external_id, one transaction per batch.

    Blank cells keep what is stored. member_number is used when a customer is created (a valid,
    unused card number is kept; otherwise a new one is issued); an existing customer keeps theirs.
    """
    data = read_rows(path, CUSTOMER_COLUMNS, encoding)
    require_columns(data.columns, ["external_id", "name"])
    report = ImportReport(kind="customers", rows=len(data.rows), dry_run=dry_run)
    with uow_factory() as uow:
        today = uow.now().date()
        parsed: list[tuple[int, dict]] = []
        first_line: dict[str, int] = {}
        for line, cells in data.rows:
            fields = _parse(line, cells, today, report)
            if fields is None:
                continue
            seen = first_line.setdefault(fields["external_id"], line)
            if seen != line:
                report.errors.append(
                    Problem(line, "external_id", "duplicate", {"value": fields["external_id"], "first": seen})
                )
                continue
            parsed.append((line, fields))
        existing = _existing(uow, [fields["external_id"] for _, fields in parsed])
        wanted_numbers = [f["member_number"] for _, f in parsed if "member_number" in f]
        owners = _member_number_owners(uow, wanted_numbers)

    work: list[tuple[int, str, dict]] = []  # (line, "create" | "update", values)
    number_lines: dict[str, int] = {}
    for line, fields in parsed:
        customer = existing.get(fields["external_id"])
        if customer is not None:
            if customer.erased_at is not None:
                report.errors.append(Problem(line, "external_id", "erased"))
                continue
            changes = {key: fields[key] for key in UPDATABLE if key in fields and getattr(customer, key) != fields[key]}
            if changes.keys() & {"name", "name_kana", "phone"}:
                merged = {key: changes.get(key, getattr(customer, key)) for key in ("name", "name_kana", "phone")}
                changes["search_key"] = contacts.search_key(**merged) or None
            if "birth_date" in changes:
                changes["birth_month"], changes["birth_day"] = changes["birth_date"].month, changes["birth_date"].day
            if changes:
                work.append((line, "update", {"id": customer.id, **changes}))
            else:
                report.already += 1
            continue
        number = fields.get("member_number")
        if number is not None:
            if number in owners:
                report.errors.append(Problem(line, "member_number", "member_number_taken"))
                continue
            if number in number_lines:
                report.errors.append(
                    Problem(line, "member_number", "duplicate", {"value": number, "first": number_lines[number]})
                )
                continue
            number_lines[number] = line
        work.append((line, "create", fields))
    if dry_run:
        report.imported = sum(1 for _, kind, _ in work if kind == "create")
        report.updated = len(work) - report.imported
        return report

    taken = set(number_lines)
    for start in range(0, len(work), batch_size):
        batch = work[start : start + batch_size]
        try:
            with uow_factory() as uow:
                created, updated = _write_batch(uow, batch, taken)
                uow.commit()
        except Exception as error:  # noqa: BLE001 (any failure rolls the whole batch back; the rows are reported)
            reason = {"error": safe_error(error)}
            report.errors.extend(Problem(line, "", "batch_failed", reason) for line, _, _ in batch)
        else:
            report.imported += created
            report.updated += updated
        if progress:
            progress(len(batch), len(work))
    return report


def _write_batch(uow: UnitOfWork, batch: list[tuple[int, str, dict]], taken: set[str]) -> tuple[int, int]:
    now = uow.now()
    creates = [values for _, kind, values in batch if kind == "create"]
    updates = [values for _, kind, values in batch if kind == "update"]
    numbers = iter(new_member_numbers(uow, sum(1 for v in creates if "member_number" not in v), taken))
    table = Customer.__table__
    if creates:
        rows = [
            {
                "member_number": values.get("member_number") or next(numbers),
                "external_id": values["external_id"],
                "name": values["name"],
                "name_kana": values.get("name_kana"),
                "birth_date": values.get("birth_date"),
                "birth_month": values["birth_date"].month if values.get("birth_date") else None,
                "birth_day": values["birth_date"].day if values.get("birth_date") else None,
                "search_key": contacts.search_key(
                    name=values["name"], name_kana=values.get("name_kana"), phone=values.get("phone")
                )
                or None,
                "phone": values.get("phone"),
                "email": values.get("email"),
                "locale": values.get("locale", "ja"),
                "tier": "regular",
                "marketing_opt_out": False,
                "created_at": now,
                "updated_at": now,
            }
            for values in creates
        ]
        ids = uow.session.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows).scalars()
        uow.session.execute(
            TimelineEntry.__table__.insert(),
            [{"customer_id": i, "kind": "created", "data": {"source": "import"}, "occurred_at": now} for i in ids],
        )
    for values in updates:  # few on a re-import; each row changes its own columns
        columns = {key: bindparam(key) for key in values if key != "id"}
        statement = table.update().where(table.c.id == bindparam("b_id")).values(**columns, updated_at=now)
        uow.session.execute(statement, [{"b_id": values["id"], **{k: v for k, v in values.items() if k != "id"}}])
    return len(creates), len(updates)
