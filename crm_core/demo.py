"""The demo shop: two stores, ~30 products, ~300 customers with a year of purchases and their points.

Deterministic (a seeded random generator) and idempotent: a second run adds nothing. Purchases earn
points at the program's base rate (keys `purchase:{id}`, as at the till); some regulars also have
purchases from before the last year, whose points have expired; tiers follow the rolling spend.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlmodel import select

from crm_core import automations, coupons, points, reservations, shop
from crm_core.customers import luhn_digit, write_birthday, write_search_key
from crm_core.loyalty import get_program, save_program
from crm_core.models import ChannelIdentity, Customer, Product, Purchase, PurchaseItem, Store
from crm_core.passwords import hash_password
from crm_core.purchases import refresh_tier
from crm_core.uow import UnitOfWork

SEED_KEY = "demo.seeded"
SEED_VERSION = 1
POINTS_KEY = "demo.points"  # set once the demo purchases earned their points (a version-1 shop gets them too)
DEMO_WEB_EMAIL = "hanako@example.com"
DEMO_WEB_PASSWORD = "kizuna-demo-2026"  # noqa: S105  (a published demo account on a local demo database)

STORES = [("SHIBUYA", "Kizuna Coffee 渋谷店"), ("YOKOHAMA", "Kizuna Coffee 横浜店")]
PRODUCTS = [
    ("BEAN-001", "ブラジル サントス 200g", "コーヒー豆", 1480),
    ("BEAN-002", "エチオピア イルガチェフェ 200g", "コーヒー豆", 1880),
    ("BEAN-003", "コロンビア スプレモ 200g", "コーヒー豆", 1580),
    ("BEAN-004", "グアテマラ アンティグア 200g", "コーヒー豆", 1680),
    ("BEAN-005", "深煎りブレンド 200g", "コーヒー豆", 1280),
    ("BEAN-006", "デカフェ メキシコ 200g", "コーヒー豆", 1780),
    ("BEAN-007", "季節のブレンド 200g", "コーヒー豆", 1480),
    ("DRINK-001", "ドリップコーヒー", "ドリンク", 420),
    ("DRINK-002", "カフェラテ", "ドリンク", 520),
    ("DRINK-003", "カプチーノ", "ドリンク", 520),
    ("DRINK-004", "アイスコーヒー", "ドリンク", 450),
    ("DRINK-005", "抹茶ラテ", "ドリンク", 580),
    ("DRINK-006", "ほうじ茶ラテ", "ドリンク", 560),
    ("DRINK-007", "カフェモカ", "ドリンク", 600),
    ("DRINK-008", "オレンジジュース", "ドリンク", 480),
    ("FOOD-001", "クロワッサン", "フード", 320),
    ("FOOD-002", "チーズケーキ", "フード", 480),
    ("FOOD-003", "ガトーショコラ", "フード", 500),
    ("FOOD-004", "たまごサンド", "フード", 580),
    ("FOOD-005", "スコーン", "フード", 350),
    ("FOOD-006", "バナナブレッド", "フード", 380),
    ("FOOD-007", "季節のタルト", "フード", 620),
    ("GOODS-001", "オリジナルマグカップ", "グッズ", 1800),
    ("GOODS-002", "ドリッパーセット", "グッズ", 3200),
    ("GOODS-003", "ステンレスタンブラー", "グッズ", 2800),
    ("GOODS-004", "ペーパーフィルター 100枚", "グッズ", 450),
    ("GOODS-005", "コーヒーミル", "グッズ", 5800),
    ("GIFT-001", "ギフトセット（豆2種）", "ギフト", 3600),
    ("GIFT-002", "ドリップバッグ 10個入り", "ギフト", 1500),
    ("GIFT-003", "プリペイドカード 3000円", "ギフト", 3000),
]
FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
          "山口", "松本", "井上", "木村", "林", "斎藤", "清水"]  # fmt: skip
GIVEN = ["花子", "太郎", "陽菜", "蓮", "結衣", "湊", "さくら", "大翔", "美咲", "悠真", "葵", "陸", "凛", "樹",
         "美月", "颯太", "杏", "拓海", "真央", "健"]  # fmt: skip
CUSTOMERS = 300
COUPONS_KEY = "demo.coupons"  # set once the demo coupons were defined
# title, benefit kind, value, cap or item, obtained by, points or win probability (basis points), stock
DEMO_COUPONS = (
    ("ご来店感謝 200円引き", "yen_off", 200, None, "claim", None, None),
    ("ドリンク10%オフ", "percent_off", 10, 300, "claim", None, 500),
    ("コーヒー1杯無料", "free_item", 480, "本日のコーヒー", "points", 300, None),
    ("焼き菓子プレゼント抽選", "gift", 350, "焼き菓子", "lottery", 3000, 50),
    ("おかえりなさい 300円引き", "yen_off", 300, None, "flow", None, None),  # for a win-back coupon flow
)
STAMP_REWARD_KEY = "demo.stamp_reward"  # set once the stamp card's reward coupon was defined
AUTOMATIONS_KEY = "demo.automations"  # set once the automations were switched on and their two friends seeded
RESERVATIONS_KEY = "demo.reservations"  # set once the stores' bookable menus were set up
# what a coffee shop takes bookings for, in every demo store: (code, name, places at the same time)
DEMO_RESOURCES = (("bar", "ドリップカウンター", 4), ("roaster", "焙煎機", 1))
# code, name, minutes, price, the resources it takes a place in (none: places of its own), its places, description
DEMO_MENUS = (
    (
        "drip",
        "ハンドドリップ教室",
        60,
        3300,
        ("bar",),
        None,
        "バリスタと一緒に、ご自宅で淹れる一杯のコツを。豆のお土産付き",
    ),
    ("cupping", "カッピング体験", 30, 1650, ("bar",), None, "季節の豆3種を飲み比べ"),
    ("roasting", "焙煎体験", 90, 5500, ("roaster",), None, "生豆200gをご自身で焙煎してお持ち帰り"),
    ("table", "テーブル席のご予約", 60, 0, (), 3, "4名様までのテーブル席"),
)


@dataclass(frozen=True)
class LineFriend:
    """A demo customer linked to a LINE user of the simulator (followed, consented), to watch automations arrive."""

    line_user_id: str
    name: str
    external_id: str
    story: str  # which automation their history leads to


LINE_FRIENDS = (
    LineFriend("U" + "d0c0ffee" * 4, "高橋 健", "DEMO-LINE-1", "replenishment"),  # the same beans every 30 days
    LineFriend("U" + "d0ca4e11" * 4, "伊藤 結衣", "DEMO-LINE-2", "recommendations"),  # bought a few days ago
    LineFriend("U" + "d0c1a95e" * 4, "小林 陽菜", "DEMO-LINE-3", "win_back"),  # no purchase in 65 days
)


def is_seeded(*, uow: UnitOfWork) -> bool:
    return shop.get_setting(uow=uow, key=SEED_KEY) == SEED_VERSION


def seed(*, uow: UnitOfWork, zone: ZoneInfo | None = None) -> dict[str, int]:
    """Fill an empty shop with the demo data; returns what was added (all zeros on a second run)."""
    added = {"stores": 0, "products": 0, "customers": 0, "purchases": 0, "points": 0, "automations": 0, "coupons": 0}
    added["menus"] = 0
    if not is_seeded(uow=uow):
        _seed_shop(uow=uow, added=added)
    if shop.get_setting(uow=uow, key=POINTS_KEY) is None:
        added["points"] = _earn_points(uow=uow, zone=zone or ZoneInfo("Asia/Tokyo"))
        shop.set_setting(uow=uow, key=POINTS_KEY, value=1)
    if shop.get_setting(uow=uow, key=AUTOMATIONS_KEY) is None:
        added["automations"] = _seed_automations(uow=uow)
        # whenever someone tries the demo, the automations' messages can be seen arriving (Settings turns them back on)
        shop.set_setting(uow=uow, key="shop.quiet_hours", value="off")
        shop.set_setting(uow=uow, key=AUTOMATIONS_KEY, value=1)
    if shop.get_setting(uow=uow, key=COUPONS_KEY) is None:
        added["coupons"] = _seed_coupons(uow=uow)
        shop.set_setting(uow=uow, key=COUPONS_KEY, value=1)
    if shop.get_setting(uow=uow, key=STAMP_REWARD_KEY) is None:
        added["coupons"] += _seed_stamp_reward(uow=uow)
        shop.set_setting(uow=uow, key=STAMP_REWARD_KEY, value=1)
    if shop.get_setting(uow=uow, key=RESERVATIONS_KEY) is None:
        added["menus"] = _seed_reservations(uow=uow)
        shop.set_setting(uow=uow, key=RESERVATIONS_KEY, value=1)
    return added


def _seed_reservations(*, uow: UnitOfWork) -> int:
    """Bookable menus in every demo store (lessons at the drip counter, the roaster, tables); returns menus added.

    The stores keep the shop's hours and the default booking settings (a start every 30 minutes, one
    hour's notice, 60 days ahead). A menu the owner already set up under the same code is left as it is.
    """
    added = 0
    for code, _name in STORES:
        store = uow.session.exec(select(Store).where(Store.code == code)).first()
        if store is None:
            continue
        for resource_code, name, capacity in DEMO_RESOURCES:
            if not any(r.code == resource_code for r in reservations.list_resources(uow=uow, store_id=store.id)):
                reservations.upsert_resource(
                    uow=uow, store_id=store.id, code=resource_code, name=name, capacity=capacity
                )
        for menu_code, name, minutes, price, resource_codes, places, description in DEMO_MENUS:
            if reservations.get_menu(uow=uow, store_id=store.id, code=menu_code) is not None:
                continue
            reservations.upsert_menu(
                uow=uow,
                store_id=store.id,
                code=menu_code,
                name=name,
                duration_minutes=minutes,
                price=price,
                capacity=places,
                resource_codes=list(resource_codes),
                description=description,
            )
            added += 1
    return added


def _seed_coupons(*, uow: UnitOfWork) -> int:
    """Coupons to claim, to exchange for points and to draw, valid 14 days from the day they are got."""
    for title, kind, value, extra, obtain, price, stock in DEMO_COUPONS:
        spec = coupons.CouponSpec(
            title=title,
            benefit_kind=kind,
            benefit_value=value,
            benefit_cap=extra if kind == "percent_off" else None,
            benefit_item=extra if kind in ("free_item", "gift") else None,
            valid_days=14,
            stock=stock,
            obtain=obtain,
            points_cost=price if obtain == "points" else None,
            win_basis_points=price if obtain == "lottery" else None,
            per_customer_limit=None if obtain == "flow" else 1,  # a win-back flow comes back with each lapse
        )
        coupons.define_coupon(uow=uow, spec=spec)
    return len(DEMO_COUPONS)


def _seed_stamp_reward(*, uow: UnitOfWork) -> int:
    """The coupon a full stamp card gives (a drink, 90 days), named in the program for when it uses stamps."""
    spec = coupons.CouponSpec(
        title="スタンプカード特典 ドリンク1杯無料",
        benefit_kind="free_item",
        benefit_value=480,
        benefit_item="お好きなドリンク1杯",
        valid_days=90,
        per_customer_limit=None,
        obtain="flow",
    )
    coupon = coupons.define_coupon(uow=uow, spec=spec)
    program = get_program(uow=uow)
    save_program(
        uow=uow,
        program=replace(program, stamp_reward_coupon_id=coupon.id, stamp_reward_title=spec.title, stamp_reward_days=90),
    )
    return 1


def _seed_automations(*, uow: UnitOfWork) -> int:
    """Switch every automation on and add the two LINE friends whose histories show them; returns customers added.

    高橋 健 bought the same beans every 30 days, the last time 28 days ago: his replenishment reminder
    is due. 伊藤 結衣 bought coffee and cake four days ago: she gets recommendations with reasons. 小林 陽菜
    last came 65 days ago: a win-back coupon flow (no purchase in 60 days) reaches her.
    Their purchases earn no points (no points warning muddles the story).
    """
    now = uow.now()
    session = uow.session
    for key in automations.AUTOMATIONS:
        automations.update_automation(uow=uow, key=key, enabled=True)
    store = session.exec(select(Store).where(Store.code == STORES[0][0])).first()
    products = {p.sku: p for p in session.exec(select(Product))}
    histories = {
        "replenishment": [(now - timedelta(days=28 + 30 * n, hours=2), ["BEAN-001"]) for n in range(12)],
        "recommendations": [(now - timedelta(days=4, hours=1), ["BEAN-002", "FOOD-002"])],
        "win_back": [(now - timedelta(days=65 + 21 * n, hours=3), ["FOOD-002"]) for n in range(3)],
    }
    added = 0
    for index, friend in enumerate(LINE_FRIENDS):
        if session.exec(select(Customer).where(Customer.external_id == friend.external_id)).first() is not None:
            continue
        body = f"{200000000 + index * 7919:09d}"
        customer = Customer(
            member_number=body + luhn_digit(body),
            external_id=friend.external_id,
            name=friend.name,
            locale="ja",
            consented_at=now - timedelta(days=400),
            created_at=now - timedelta(days=400),
            updated_at=now,
        )
        write_birthday(customer, date(1990, (now.month + 5) % 12 + 1, 15))  # not this month: one story each
        write_search_key(customer)
        session.add(customer)
        session.flush()
        session.add(
            ChannelIdentity(
                channel="line",
                address=friend.line_user_id,
                customer_id=customer.id,
                display_name=friend.name,
                language="ja",
                followed=True,
                consented_at=customer.consented_at,
                created_at=customer.created_at,
                updated_at=now,
            )
        )
        for visit, (when, skus) in enumerate(sorted(histories[friend.story])):
            lines = [products[sku] for sku in skus]
            purchase = Purchase(
                external_id=f"{friend.external_id}-P{visit:03d}",
                customer_id=customer.id,
                store_id=store.id,
                total=sum(p.price for p in lines),
                occurred_at=when,
                created_at=when,
            )
            session.add(purchase)
            session.flush()
            session.add_all(
                PurchaseItem(
                    purchase_id=purchase.id, sku=p.sku, name=p.name, category=p.category, quantity=1, unit_price=p.price
                )
                for p in lines
            )
        added += 1
    session.flush()
    return added


def _seed_shop(*, uow: UnitOfWork, added: dict[str, int]) -> None:
    rng = random.Random(20261122)
    now = uow.now()
    session = uow.session

    stores = []
    for code, name in STORES:
        store = session.exec(select(Store).where(Store.code == code)).first()
        if store is None:
            store = Store(code=code, name=name, created_at=now)
            session.add(store)
            added["stores"] += 1
        stores.append(store)
    for sku, name, category, price in PRODUCTS:
        if session.exec(select(Product).where(Product.sku == sku)).first() is None:
            session.add(Product(sku=sku, name=name, category=category, price=price))
            added["products"] += 1
    session.flush()

    customers = []
    for index in range(CUSTOMERS):
        body = f"{100000000 + index * 7919:09d}"
        member_number = body + luhn_digit(body)
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        customer = Customer(
            member_number=member_number,
            external_id=f"DEMO-{index + 1:04d}",
            name=f"{family} {given}",
            birth_date=date(rng.randint(1955, 2005), rng.randint(1, 12), rng.randint(1, 28)),
            phone=f"090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            email=f"demo{index + 1:04d}@example.com",
            locale="ja",
            consented_at=now - timedelta(days=rng.randint(30, 700)),
            created_at=now - timedelta(days=rng.randint(366, 900)),
            updated_at=now,
        )
        if index == 0:
            customer.name = "山田 花子"
            customer.birth_date = date(1985, 4, 12)
            customer.phone = "090-1234-5678"
            customer.web_email = DEMO_WEB_EMAIL
            customer.web_password_hash = hash_password(DEMO_WEB_PASSWORD)
        write_birthday(customer, customer.birth_date)
        write_search_key(customer)
        session.add(customer)
        customers.append(customer)
    session.flush()
    added["customers"] = len(customers)

    items = []
    for customer in customers:
        regular = rng.random() < 0.35
        visits = rng.randint(8, 40) if regular else rng.randint(0, 8)
        home = rng.choice(stores)
        for visit in range(visits):
            when = now - timedelta(days=rng.randint(0, 364), minutes=rng.randint(0, 600))
            basket = rng.sample(PRODUCTS, rng.randint(1, 4))
            lines = [(sku, name, category, price, rng.choice((1, 1, 1, 2))) for sku, name, category, price in basket]
            purchase = Purchase(
                external_id=f"DEMO-P-{customer.external_id}-{visit:03d}",
                customer_id=customer.id,
                store_id=(home if rng.random() < 0.85 else rng.choice(stores)).id,
                total=sum(price * quantity for *_, price, quantity in lines),
                occurred_at=when,
                created_at=when,
            )
            session.add(purchase)
            items.append((purchase, lines))
            added["purchases"] += 1
    older = random.Random(20251122)  # its own generator: the year above stays as it always was
    for customer in customers[::5]:
        for visit in range(older.randint(1, 4)):
            when = now - timedelta(days=older.randint(380, 700), minutes=older.randint(0, 600))
            sku, name, category, price = older.choice(PRODUCTS)
            purchase = Purchase(
                external_id=f"DEMO-P-{customer.external_id}-OLD-{visit}",
                customer_id=customer.id,
                store_id=stores[0].id,
                total=price,
                occurred_at=when,
                created_at=when,
            )
            session.add(purchase)
            items.append((purchase, [(sku, name, category, price, 1)]))
            added["purchases"] += 1
    session.flush()
    session.add_all(
        PurchaseItem(
            purchase_id=purchase.id, sku=sku, name=name, category=category, quantity=quantity, unit_price=price
        )
        for purchase, lines in items
        for sku, name, category, price, quantity in lines
    )
    shop.set_setting(uow=uow, key="shop.name", value="Kizuna Coffee")
    contact = "Kizuna Coffee お客様窓口 privacy@kizuna-coffee.example"
    shop.set_setting(uow=uow, key="shop.privacy_contact", value=contact)
    shop.set_setting(uow=uow, key=SEED_KEY, value=SEED_VERSION)


def _earn_points(*, uow: UnitOfWork, zone: ZoneInfo) -> int:
    """Points for every demo purchase (base rate), expiry of those past their validity, and tiers."""
    program = get_program(uow=uow)
    session = uow.session
    session.flush()
    rows = session.exec(
        select(Purchase.id, Purchase.customer_id, Purchase.store_id, Purchase.total, Purchase.occurred_at)
        .where(Purchase.external_id.like("DEMO-P-%"))
        .order_by(Purchase.id)
    ).all()
    if program.mode != "points" or not rows:
        return 0
    earned = {purchase_id: program.points_for(total) for purchase_id, _, _, total, _ in rows}
    grants = [
        points.GrantSpec(
            customer_id=customer_id,
            amount=earned[purchase_id],
            idempotency_key=f"purchase:{purchase_id}",
            occurred_at=occurred_at,
            purchase_id=purchase_id,
            store_id=store_id,
        )
        for purchase_id, customer_id, store_id, _, occurred_at in rows
    ]
    granted = points.grant_many(uow=uow, grants=grants, program=program, zone=zone)
    table = Purchase.__table__
    session.execute(
        table.update().where(table.c.id == bindparam("b_id")).values(points_earned=bindparam("b_points")),
        [{"b_id": purchase_id, "b_points": amount} for purchase_id, amount in earned.items() if amount],
    )
    while points.expire_due(uow=uow):
        pass
    customer_ids = {customer_id for _, customer_id, _, _, _ in rows}
    for customer in session.exec(select(Customer).where(Customer.id.in_(customer_ids)).order_by(Customer.id)):
        refresh_tier(uow=uow, customer=customer, program=program)
    session.flush()
    return granted
