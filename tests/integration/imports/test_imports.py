"""CSV imports: encodings, bad rows by line number, idempotent re-imports, batches that land whole, points once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from bot.i18n import translations
from crm_core import customers, points, purchases
from crm_core import stores as store_service
from crm_core.imports import ImportFileError, import_customers, import_purchases
from crm_core.imports.reading import MESSAGES
from crm_core.models import Customer, PointAccount, PointEntry, Purchase, PurchaseItem, Store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imports"
TOKYO = ZoneInfo("Asia/Tokyo")

JA = translations("ja").gettext


def _write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _count(uow_factory, model) -> int:
    with uow_factory() as uow:
        return uow.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def stores(uow_factory):
    with uow_factory() as uow:
        for code, name in (("SHIBUYA", "渋谷店"), ("YOKOHAMA", "横浜店")):
            uow.session.add(Store(code=code, name=name, created_at=uow.now()))
        uow.commit()


@pytest.fixture
def members(uow_factory, stores):
    """Three customers imported from the UTF-8 fixture (C001..C003)."""
    report = import_customers(uow_factory=uow_factory, path=FIXTURES / "customers_utf8_bom.csv")
    assert report.errors == [] and report.imported == 3
    return report


def _customer(uow_factory, external_id: str) -> Customer:
    with uow_factory() as uow:
        return customers.get_by_external_id(uow=uow, external_id=external_id)


# --- customers ----------------------------------------------------------------------------------


def test_customers_from_utf8_with_bom_and_japanese_headers(uow_factory, members):
    hanako = _customer(uow_factory, "C001")
    assert hanako.name == "山田 花子" and hanako.name_kana == "ヤマダ ハナコ"
    assert hanako.birth_date.isoformat() == "1985-04-12" and hanako.phone == "09012345678"
    assert hanako.member_number == "1000000008"  # a valid card number from the old system is kept
    taro = _customer(uow_factory, "C002")
    assert customers.is_member_number(taro.member_number) and taro.locale == "en"
    assert taro.birth_date.isoformat() == "1990-01-05"  # 1990/1/5 as Excel writes it


def test_customers_from_shift_jis(uow_factory, tmp_path):
    text = "会員ID,氏名,フリガナ,生年月日\r\nS1,髙橋 﨑子,タカハシ サキコ,1979/12/31\r\nS2,渡邊 一郎,,\r\n"
    path = _write(tmp_path, text, encoding="cp932")
    report = import_customers(uow_factory=uow_factory, path=path)
    assert (report.rows, report.imported, report.errors) == (2, 2, [])
    assert _customer(uow_factory, "S1").name == "髙橋 﨑子"  # cp932 characters beyond plain Shift_JIS
    assert _customer(uow_factory, "S2").name_kana is None


def test_a_file_in_neither_encoding_or_without_the_columns_is_refused_whole(uow_factory, tmp_path):
    with pytest.raises(ImportFileError) as refused:
        import_customers(uow_factory=uow_factory, path=_write(tmp_path, "external_id,phone\r\nX1,03\r\n"))
    assert "name" in refused.value.describe()
    assert refused.value.describe(JA) == "見出し行に列 name がありません"
    with pytest.raises(ImportFileError):
        import_customers(
            uow_factory=uow_factory, path=_write(tmp_path, "external_id,name\nX\x81\xff", encoding="latin-1")
        )
    assert _count(uow_factory, Customer) == 0


def test_bad_customer_rows_are_reported_by_line_and_the_others_land(uow_factory, tmp_path):
    text = (
        "external_id,name,birth_date,email,locale\n"
        "B1,佐藤 健,1970-02-30,,\n"  # line 2: no such day
        "B2,,1970-01-01,,\n"  # line 3: name missing
        'B3,"鈴木\n葵",,suzuki@example.com,ja\n'  # lines 4-5: a quoted newline, valid
        "B4,田中 陸,,not-an-address,fr\n"  # line 6: two problems
        "B3,鈴木 葵,,,\n"  # line 7: same external_id again
        "B5,中村 凛,2001-05-06,rin@example.com,\n"
    )
    report = import_customers(uow_factory=uow_factory, path=_write(tmp_path, text))
    described = sorted(problem.describe() for problem in report.errors)
    assert described == [
        "line 2: birth_date is not a date (YYYY-MM-DD or YYYY/MM/DD)",
        "line 3: name is required",
        "line 6: email is not an e-mail address",
        "line 6: locale must be ja or en",
        "line 7: external_id B3 also appears on line 4",
    ]
    assert report.bad == 4 and report.imported == 2
    assert "佐藤" not in " ".join(described)  # the row's personal data stays out of the report
    assert _customer(uow_factory, "B5").email == "rin@example.com"
    assert _customer(uow_factory, "B1") is None


def test_customer_reimport_is_idempotent_and_updates_what_changed(uow_factory, members, tmp_path):
    again = import_customers(uow_factory=uow_factory, path=FIXTURES / "customers_utf8_bom.csv")
    assert (again.imported, again.updated, again.already, again.errors) == (0, 0, 3, [])
    number = _customer(uow_factory, "C002").member_number
    changed = _write(tmp_path, "external_id,name,phone\nC002,Taro Suzuki,080-0000-1111\nC003,,\n")
    report = import_customers(uow_factory=uow_factory, path=changed)
    assert (report.imported, report.updated, report.already) == (0, 1, 0)
    assert [p.line for p in report.errors] == [3]  # a blank name is not a way to erase one
    taro = _customer(uow_factory, "C002")
    assert (taro.name, taro.phone, taro.member_number, taro.locale) == ("Taro Suzuki", "08000001111", number, "en")
    assert _count(uow_factory, Customer) == 3


# --- purchases ----------------------------------------------------------------------------------


def _import(uow_factory, path, **options):
    return import_purchases(uow_factory=uow_factory, path=path, zone=TOKYO, **options)


def test_purchases_with_items_yen_formats_and_business_time(uow_factory, members):
    report = _import(uow_factory, FIXTURES / "purchases_sjis.csv")
    assert report.errors == [] and (report.rows, report.imported) == (4, 3)
    hanako = _customer(uow_factory, "C001")
    with uow_factory() as uow:
        first = purchases.get_by_external_id(uow=uow, external_id="R-1001")
        assert first.total == 3240 and first.source == "import" and first.points_earned == 0
        assert first.occurred_at == datetime(2026, 6, 1, 1, 30, tzinfo=UTC)  # 10:30 JST
        items = uow.session.scalars(select(PurchaseItem).where(PurchaseItem.purchase_id == first.id)).all()
        assert sorted((i.sku, i.quantity, i.unit_price) for i in items) == [("BEAN-001", 2, 1480), ("FOOD-001", 1, 280)]
        by_number = purchases.get_by_external_id(uow=uow, external_id="R-1002")
        assert by_number.customer_id == hanako.id  # found by member_number
    assert _count(uow_factory, PointEntry) == 0


def test_bad_purchase_rows_keep_their_purchase_out_and_the_others_land(uow_factory, members, tmp_path):
    text = (
        "external_id,customer_external_id,store_code,occurred_at,total,sku,name,quantity,unit_price\n"
        'P1,C001,SHIBUYA,2026-05-01 10:00,"1,000",A,Coffee,2,500\n'
        "P2,C001,NOWHERE,2026-05-01 10:00,500,,,,\n"  # line 3: unknown store
        "P3,C404,SHIBUYA,2026-05-01 10:00,500,,,,\n"  # line 4: unknown customer
        "P4,C002,SHIBUYA,2026-05-02 10:00,900,B,Cake,1,500\n"  # items add up to 900 with line 6
        "P5,C002,SHIBUYA,2026-05-03,-5,,,,\n"  # line 6: negative
        "P4,C002,SHIBUYA,2026-05-02 10:00,900,C,Tea,2,200\n"
        "P6,C003,SHIBUYA,2026-05-04 9:00,700,D,Tart,one,700\n"  # line 8: quantity
        "P6,C003,SHIBUYA,2026-05-04 9:00,800,,,,\n"  # line 9: differs from line 8
        "P7,C003,SHIBUYA,2099-01-01 00:00,700,,,,\n"  # line 10: future
    )
    report = _import(uow_factory, _write(tmp_path, text))
    described = sorted((p.line, p.describe()) for p in report.errors)
    assert described == [
        (3, "line 3: no store with the code NOWHERE"),
        (4, "line 4: no customer with this customer_external_id"),
        (6, "line 6: total must be a whole number of yen from 0"),
        (8, "line 8: quantity must be a whole number from 1 to 10,000"),
        (9, "line 9: total differs from line 8 of the same purchase"),
        (10, "line 10: occurred_at is in the future"),
    ]
    assert report.imported == 2 and report.bad == 6
    with uow_factory() as uow:
        landed = uow.session.scalars(select(Purchase.external_id).order_by(Purchase.external_id)).all()
        assert landed == ["P1", "P4"]


def test_store_codes_are_read_as_typed_and_a_closed_store_still_takes_late_purchases(uow_factory, members, tmp_path):
    with uow_factory() as uow:
        store_service.close_store(uow=uow, code="YOKOHAMA")
        uow.commit()
    text = (
        "external_id,customer_external_id,store_code,occurred_at,total\n"
        "L1,C001,shibuya,2026-05-01 10:00,500\n"  # lower case finds SHIBUYA
        "L2,C001,Yokohama,2026-05-01 11:00,600\n"  # a closed store keeps taking its POS's late uploads
        "L3,C001,渋谷,2026-05-01 12:00,700\n"  # not a store code at all
    )
    report = _import(uow_factory, _write(tmp_path, text))
    assert [p.describe() for p in report.errors] == [
        "line 4: store_code 渋谷 is not a store code (1 to 32 letters, digits, - or _)"
    ]
    assert JA(MESSAGES["bad_store_code"]) != MESSAGES["bad_store_code"]
    with uow_factory() as uow:
        landed = uow.session.execute(
            select(Purchase.external_id, Store.code).join(Store, Store.id == Purchase.store_id).order_by(Purchase.id)
        ).all()
        assert [tuple(row) for row in landed] == [("L1", "SHIBUYA"), ("L2", "YOKOHAMA")]


def test_items_that_do_not_add_up_report_every_line_of_the_purchase(uow_factory, members, tmp_path):
    text = (
        "external_id,member_number,store_code,occurred_at,total,sku,name,quantity,unit_price\n"
        "Q1,1000000008,SHIBUYA,2026/05/01 10:00,¥1,A,Coffee,1,500\n"
        "Q1,,,,,B,Cake,1,500\n"
    )
    report = _import(uow_factory, _write(tmp_path, text))
    assert [p.describe(JA) for p in sorted(report.errors, key=lambda p: p.line)] == [
        "2 行目: 商品の合計 1000 円が total の 1 円と合いません",
        "3 行目: 2 行目に誤りがあるため購入 Q1 は取り込みません",
    ]
    assert _count(uow_factory, Purchase) == 0


def test_reimport_adds_nothing_and_a_changed_purchase_is_a_conflict(uow_factory, members, tmp_path):
    first = _import(uow_factory, FIXTURES / "purchases_sjis.csv", with_points=True)
    again = _import(uow_factory, FIXTURES / "purchases_sjis.csv", with_points=True)
    assert (again.imported, again.already, again.points, again.errors) == (0, 3, 0, [])
    assert first.points == 32 + 21 + 5  # ¥3,240 + ¥2,160 + ¥550 at 1 point per ¥100
    assert _count(uow_factory, Purchase) == 3 and _count(uow_factory, PurchaseItem) == 3
    changed = _write(
        tmp_path, "external_id,customer_external_id,store_code,occurred_at,total\nR-1003,C002,SHIBUYA,2026-06-03,999\n"
    )
    report = _import(uow_factory, changed)
    assert [p.describe() for p in report.errors] == [
        "line 2: a different purchase was already recorded with external_id R-1003"
    ]


def test_points_are_granted_once_and_the_cached_balance_equals_the_ledger(uow_factory, members, stores):
    report = _import(uow_factory, FIXTURES / "purchases_sjis.csv", with_points=True)
    assert report.points == 58
    hanako = _customer(uow_factory, "C001")
    with uow_factory() as uow:
        purchase = purchases.get_by_external_id(uow=uow, external_id="R-1001")
        assert purchase.points_earned == 32
        entry = points.get_entry_by_key(uow=uow, idempotency_key=f"purchase:{purchase.id}")
        assert entry.amount == 32 and entry.purchase_id == purchase.id
        # the POS sends the same purchase later: the same answer, nothing granted twice
        answer = purchases.record_purchase(
            uow=uow, customer_id=hanako.id, store_id=purchase.store_id, total=3240, external_id="R-1001"
        )
        assert answer.created is False and answer.points_earned == 32
        uow.commit()
    with uow_factory() as uow:
        for account in uow.session.scalars(select(PointAccount)):
            assert account.balance == points.ledger_balance(uow=uow, customer_id=account.customer_id)
        assert points.balance_of(uow=uow, customer_id=hanako.id) == 32 + 21


def test_old_points_expire_and_tiers_follow_the_rolling_spend(uow_factory, members, tmp_path):
    text = (
        "external_id,customer_external_id,store_code,occurred_at,total\n"
        "OLD,C003,SHIBUYA,2025-01-10 12:00,50000\n"  # its points expired on 2026-01-10
        "NEW,C003,SHIBUYA,2026-10-01 12:00,31000\n"  # silver: ¥30,000 within 12 months
    )
    report = _import(uow_factory, _write(tmp_path, text), with_points=True)
    assert report.imported == 2 and report.points == 500 + 310
    customer = _customer(uow_factory, "C003")
    assert customer.tier == "silver"
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer.id) == 310
        assert points.ledger_balance(uow=uow, customer_id=customer.id) == 310
        kinds = uow.session.scalars(select(PointEntry.kind).where(PointEntry.customer_id == customer.id)).all()
        assert sorted(kinds) == ["expire", "grant", "grant"]


def test_a_failing_batch_rolls_back_whole_and_the_other_batches_land(uow_factory, members, tmp_path, monkeypatch):
    rows = "".join(f"F{n},C001,SHIBUYA,2026-07-0{n} 10:00,1000,S{n},Item,1,1000\n" for n in range(1, 7))
    path = _write(
        tmp_path, "external_id,customer_external_id,store_code,occurred_at,total,sku,name,quantity,unit_price\n" + rows
    )
    real, calls = points.grant_many, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(points, "grant_many", flaky)
    report = _import(uow_factory, path, with_points=True, batch_size=2)
    assert report.imported == 4 and report.points == 40
    assert sorted(p.line for p in report.errors) == [4, 5]
    assert (
        report.errors[0].describe()
        == "line 4: not imported: the batch with this row failed and was rolled back (RuntimeError)"
    )
    with uow_factory() as uow:
        landed = uow.session.scalars(select(Purchase.external_id).order_by(Purchase.external_id)).all()
        assert landed == ["F1", "F2", "F5", "F6"]
        assert sorted(uow.session.scalars(select(PurchaseItem.sku))) == ["S1", "S2", "S5", "S6"]
        assert uow.session.scalar(select(func.count()).select_from(PointEntry)) == 4
    monkeypatch.setattr(points, "grant_many", real)
    retry = _import(uow_factory, path, with_points=True, batch_size=2)
    assert (retry.imported, retry.already, retry.points, retry.errors) == (2, 4, 20, [])


def test_a_dry_run_reports_and_writes_nothing(uow_factory, members, tmp_path):
    before = [_count(uow_factory, model) for model in (Customer, Purchase, PurchaseItem, PointEntry)]
    report = _import(uow_factory, FIXTURES / "purchases_sjis.csv", with_points=True, dry_run=True)
    assert (report.imported, report.errors) == (3, [])
    customers_report = import_customers(
        uow_factory=uow_factory, path=_write(tmp_path, "external_id,name\nNEW1,新規 顧客\nC001,\n"), dry_run=True
    )
    assert (customers_report.imported, customers_report.bad) == (1, 1)
    assert [_count(uow_factory, model) for model in (Customer, Purchase, PurchaseItem, PointEntry)] == before


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env

    def invoke(*args, locale="en"):
        env = {"KIZUNA_DATABASE_URL": database_url, "KIZUNA_LOCALE": locale, "KIZUNA_TIMEZONE": "Asia/Tokyo"}
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


def test_the_command_prints_bad_lines_and_a_summary_and_fails(run, stores, tmp_path):
    result = run("import", "customers", str(FIXTURES / "customers_utf8_bom.csv"))
    assert result.exit_code == 0, result.output
    assert "rows read 3, imported 3, updated 0, already imported 0, bad 0" in result.output
    text = (
        '取引ID,顧客ID,店舗コード,日時,合計\nZ1,C001,SHIBUYA,2026/11/01 10:00,"1,200"\nZ2,C002,SHIBUYA,yesterday,500\n'
    )
    errors = tmp_path / "errors.csv"
    result = run(
        "import", "purchases", str(_write(tmp_path, text)), "--with-points", "--errors-csv", str(errors), locale="ja"
    )
    assert result.exit_code == 1
    assert "3 行目: occurred_at が日時ではありません" in result.output
    assert "読み込み 2 行、購入 新規 1 件、取り込み済み 0 件、誤り 1 行、付与ポイント 12" in result.output
    assert errors.read_text(encoding="utf-8-sig").splitlines()[:2] == [
        "line,column,reason",
        "3,occurred_at,occurred_at が日時ではありません（YYYY-MM-DD HH:MM、YYYY/MM/DD HH:MM または ISO 8601）",
    ]
    again = run("import", "purchases", str(_write(tmp_path, text)), "--with-points", "--dry-run")
    assert (
        "purchases imported 0, already imported 1, bad rows 1" in again.output and "nothing was written" in again.output
    )


def test_the_command_refuses_a_broken_file_in_one_line(run, tmp_path):
    result = run("import", "purchases", str(_write(tmp_path, "external_id,total\nX,1\n")))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the header lacks the column(s) store_code, occurred_at" in result.output
