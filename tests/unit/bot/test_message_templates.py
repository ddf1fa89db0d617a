"""Every message template renders in every locale into messages LINE's OpenAPI accepts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from bot.messages import MessageRenderer
from bot.simulator import line_openapi
from bot.simulator.limits import limit_problems

PICKER = {
    "data": "action=reservations&step=day&menu=1",
    "initial": "2026-11-23",
    "min": "2026-11-22",
    "max": "2027-01-21",
}
BOOKING = {
    "id": 5,
    "menu": "カット",
    "minutes": 60,
    "price": 5500,
    "store": "渋谷店",
    "address": "東京都渋谷区道玄坂1-2-3",
    "phone": "03-1234-5678",
    "starts_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
    "zone": "Asia/Tokyo",
}
SHOP = {"shop_name": "Kizuna Coffee", "privacy_contact": "privacy@example.com", "notice_version": "2026-11"}
CONTEXTS = {
    "welcome": {"name": "山田 花子"},
    "welcome_back": {"name": "山田 花子"},
    "registered": {
        "name": "山田 花子",
        "member_number": "1000000009",
        "profile_url": "https://kizuna.test/profile?t=abc&lang=ja",
    },
    "profile_link": {"profile_url": "https://kizuna.test/profile?t=abc&lang=ja"},
    "profile_saved": {"name": "山田 花子"},
    "link_done": {"name": "山田 花子", "member_number": "1000000009"},
    "link_failed": {"remaining": 3},
    "already_member": {"name": "山田 花子", "member_number": "1000000009", "agreed": False},
    "link_locked": {"until": datetime(2026, 11, 22, 3, 30, tzinfo=UTC)},
    "account_link": {"login_url": "https://kizuna.test/account/link?linkToken=abc"},
    "menu": {"is_member": True, "name": "山田 花子", "marketing_opt_out": False},
    "coupons": {
        "held": [
            {
                "id": 7,
                "title": "300円引き",
                "image_url": None,
                "kind": "yen_off",
                "value": 300,
                "cap": None,
                "item": "",
                "minimum": 2000,
                "last_day": datetime(2026, 11, 28, 14, 59, 59, tzinfo=UTC),
            },
        ],
        "offered": [
            {
                "id": 1,
                "title": "10%オフ",
                "image_url": "https://kizuna.test/c.png",
                "kind": "percent_off",
                "value": 10,
                "cap": 500,
                "item": "",
                "minimum": 0,
                "obtain": "claim",
                "points": 0,
            },
            {
                "id": 2,
                "title": "ドリンク無料",
                "image_url": None,
                "kind": "free_item",
                "value": 400,
                "cap": None,
                "item": "コーヒー",
                "minimum": 0,
                "obtain": "points",
                "points": 300,
            },
            {
                "id": 3,
                "title": "プレゼント",
                "image_url": None,
                "kind": "gift",
                "value": 0,
                "cap": None,
                "item": "花束",
                "minimum": 0,
                "obtain": "lottery",
                "points": 0,
            },
        ],
    },
    "coupon": {
        "id": 7,
        "title": "10%オフ",
        "image_url": None,
        "kind": "percent_off",
        "value": 10,
        "cap": 500,
        "item": "",
        "minimum": 1000,
        "won": True,
        "code": "ABCD-EFGH-JKLM",
        "qr_url": "https://kizuna.test/coupon/KZQABC.png",
        "qr_valid_until": datetime(2026, 11, 22, 3, 5, tzinfo=UTC),
        "last_day": datetime(2026, 11, 28, 14, 59, 59, tzinfo=UTC),
    },
    "coupon_refused": {"reason": "sold_out"},
    "booking_stores": {
        "stores": [
            {"name": "渋谷店", "address": "東京都渋谷区道玄坂1-2-3", "data": "action=reservations&step=store&store=1"},
            {"name": "梅田店", "address": "", "data": "action=reservations&step=store&store=2"},
        ]
    },
    "booking_menus": {
        "store": "渋谷店",
        "menus": [
            {
                "name": "カット",
                "minutes": 60,
                "price": 5500,
                "description": "シャンプー込み",
                "data": "action=reservations&step=menu&menu=1",
            },
            {
                "name": "相談",
                "minutes": 30,
                "price": 0,
                "description": "",
                "data": "action=reservations&step=menu&menu=2",
            },
        ],
    },
    "booking_day": {
        "store": "渋谷店",
        "menu": "カット",
        "changing": False,
        "note": "closed",
        "days": 60,
        "picker": PICKER,
    },
    "booking_times": {
        "store": "渋谷店",
        "menu": "カット",
        "on_day": date(2026, 11, 23),
        "zone": "Asia/Tokyo",
        "note": "taken",
        "nearest": True,
        "times": [
            {
                "starts_at": datetime(2026, 11, 23, h, m, tzinfo=UTC),
                "data": f"action=reservations&step=time&menu=1&at=20261123T{h:02}{m:02}Z",
            }
            for h in range(1, 7)
            for m in (0, 30)
        ][:11],
        "later": "action=reservations&step=day&menu=1&date=2026-11-23&from=20261123T0630Z",
        "picker": PICKER,
    },
    "booking_confirm": {
        **BOOKING,
        "held_until": datetime(2026, 11, 22, 3, 5, tzinfo=UTC),
        "changed_from": datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        "confirm": "action=reservations&step=confirm&id=5",
        "another": "action=reservations&step=day&menu=1&date=2026-11-23",
    },
    "booking_done": {**BOOKING, "created": True, "changed": False},
    "bookings": {
        "bookings": [
            {
                **BOOKING,
                "can_change": True,
                "change": "action=reservations&step=change&id=5",
                "cancel": "action=reservations&step=cancel&id=5",
            },
            {
                **BOOKING,
                "can_change": False,
                "change": "action=reservations&step=change&id=6",
                "cancel": "action=reservations&step=cancel&id=6",
            },
        ]
    },
    "booking_cancel_ask": {**BOOKING, "cancel": "action=reservations&step=cancel_do&id=5"},
    "booking_cancelled": {**BOOKING, "created": True},
    "booking_refused": {"reason": "too_late", "store": "渋谷店", "phone": "03-1234-5678"},
    "coupon_lost": {"title": "プレゼント"},
    "opt_out_done": {"reservations_enabled": False},
    "point_card": {
        "mode": "points",
        "qr_url": "https://kizuna.test/card/KZCABC.png",
        "valid_until": datetime(2026, 11, 22, 3, 5, tzinfo=UTC),
        "available": 1234,
        "pending": 10,
        "expiring": [(datetime(2026, 12, 31, 14, 59, 59, tzinfo=UTC), 120)],
        "tier": "silver",
        "next_tier": "gold",
        "next_tier_missing": 12000,
        "member_number": "1000000008",
        "stamps": 0,
        "stamp_goal": 10,
        "rewards": [],
        "more_rewards": 0,
        "exchange_from": 300,
    },
    "history": {
        "purchases": [
            {
                "occurred_at": datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
                "store": "渋谷店",
                "total": 3240,
                "refunded": 0,
                "points": 32,
                "status": "bought",
            },
            {
                "occurred_at": datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
                "store": "渋谷店",
                "total": 3240,
                "refunded": 3240,
                "points": 0,
                "status": "cancelled",
            },
            {
                "occurred_at": datetime(2026, 11, 19, 3, 0, tzinfo=UTC),
                "store": "梅田店",
                "total": 3240,
                "refunded": 1240,
                "points": 20,
                "status": "partly_refunded",
            },
        ]
    },
    "booking_changed": {
        "store": "表参道サロン",
        "phone": "0312345678",
        "menu": "カット",
        "starts_at": datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
        "moved_from": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        "zone": "Asia/Tokyo",
    },
    "booking_cancelled_by_store": {
        "store": "表参道サロン",
        "phone": None,
        "menu": "カット",
        "starts_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        "zone": "Asia/Tokyo",
    },
    "points_changed": {
        "change": "refunded",
        "store": "渋谷店",
        "occurred_at": datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        "total": 3240,
        "amount": 1240,
        "points_taken": 12,
        "points_returned": 100,
        "balance": 520,
    },
    "receipt": {
        "mode": "points",
        "store": "渋谷店",
        "occurred_at": datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        "total": 3240,
        "price": 3740,
        "discount": 500,
        "coupon_title": "500円引き",
        "points_earned": 32,
        "points_spent": 100,
        "balance": 1166,
        "stamps": 0,
        "stamp_goal": 10,
        "reward_title": None,
    },
    "automation_first_purchase": {"name": "山田 花子", "intro": None, "purchase_id": 1, "store": "渋谷店"},
    "automation_replenishment": {
        "name": "山田 花子",
        "intro": None,
        "sku": "BEAN-001",
        "product": "ブラジル サントス 200g",
        "last_purchased_on": date(2026, 10, 25),
        "interval_days": 30,
        "own_interval": True,
    },
    "automation_recommendations": {
        "name": "山田 花子",
        "intro": None,
        "purchase_id": 1,
        "items": [
            {"sku": f"FOOD-00{n}", "name": f"ケーキ {n}", "because_sku": "BEAN-001", "because": "ブラジル サントス"}
            for n in (1, 2, 3)
        ],
    },
    "automation_points_expiring": {"name": "山田", "intro": None, "points": 1200, "expires_on": date(2026, 11, 29)},
    "automation_birthday": {"name": "山田 花子", "intro": "お誕生日おめでとうございます！", "month": 11, "year": 2026},
    "staff_line_linked": {"name": "マーケ 担当"},
    "automation_booking_reminder": {
        "name": "山田 花子",
        "intro": None,
        "booking_id": 1,
        "store": "表参道サロン",
        "menu": "カット",
        "starts_at": datetime(2026, 11, 24, 6, 30, tzinfo=UTC),
        "zone": "Asia/Tokyo",
        "when": "eve",
        "remind_at": "2026-11-23T09:00:00+00:00",
    },
    "automation_flow": {
        "name": "山田 花子",
        "intro": None,
        "coupon_id": 1,
        "title": "おかえりなさいクーポン",
        "kind": "percent_off",
        "value": 10,
        "cap": 1000,
        "item": None,
        "minimum": 3000,
        "expires_on": date(2026, 12, 5),
    },
}
renderer = MessageRenderer(public_url="https://kizuna.test")


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("name", renderer.names())
def test_template_renders_valid_line_messages(name, locale):
    messages = renderer.render(name, locale=locale, **SHOP, **CONTEXTS.get(name, {}))
    assert 1 <= len(messages) <= 5
    errors = line_openapi().errors_for_request(
        "POST", "/v2/bot/message/reply", {"replyToken": "x" * 32, "messages": messages}
    )
    assert errors == []
    assert [str(problem) for problem in limit_problems({"messages": messages})] == []  # LINE's documented limits


# values templates choose by (or a time zone they format in), not show
KEYWORDS = {"points", "stamps", "coupons", "regular", "silver", "gold", "eve", "soon", "Asia/Tokyo"}
KEYWORDS |= {"closed", "too_late", "taken"}  # the booking conversation's notes and reasons


def _longest(value):
    """The longest a shown text can be (names, titles and stores hold 200 characters)."""
    if isinstance(value, str) and not value.startswith("https://") and value not in KEYWORDS:
        return "長" * 200
    return value


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("name", renderer.names())
def test_templates_with_the_longest_values_stay_within_line_limits(name, locale):
    context = {key: _longest(value) for key, value in {**SHOP, **CONTEXTS.get(name, {})}.items()}
    if name == "history":  # the flow shows the last five
        context["purchases"] = [dict(p, store="店" * 200) for p in CONTEXTS["history"]["purchases"]] * 5
    messages = renderer.render(name, locale=locale, **context)
    assert [str(problem) for problem in limit_problems({"messages": messages})] == []


def test_japanese_is_the_default_and_formats_dates_the_japanese_way():
    ja = renderer.render("link_locked", locale="ja", **SHOP, **CONTEXTS["link_locked"])
    en = renderer.render("link_locked", locale="en", **SHOP, **CONTEXTS["link_locked"])
    assert "2026年11月22日(日) 12:30" in ja[0]["text"]
    assert "Sun, Nov 22, 2026" in en[0]["text"]


def test_plural_forms():
    one = renderer.render("link_failed", locale="en", **SHOP, remaining=1)[0]["text"]
    three = renderer.render("link_failed", locale="en", **SHOP, remaining=3)[0]["text"]
    assert "1 more wrong try," in one and "3 more wrong tries" in three
    assert "あと3回" in renderer.render("link_failed", locale="ja", **SHOP, remaining=3)[0]["text"]


def test_coupons_read_well_in_japanese_and_offer_their_next_step():
    (carousel,) = renderer.render("coupons", locale="ja", **SHOP, **CONTEXTS["coupons"])
    bubbles = carousel["contents"]["contents"]
    shown = json.dumps(carousel, ensure_ascii=False)
    assert len(bubbles) == 4 and carousel["altText"] == "クーポン: 保有1枚、獲得できるもの3枚"
    assert "¥300引き" in shown and "10%オフ（上限¥500）" in shown and "無料: コーヒー" in shown
    assert "2026年11月28日(土)まで有効" in shown and "¥2,000以上のお買い上げで利用可" in shown
    assert [b["footer"]["contents"][0]["action"]["data"] for b in bubbles] == [
        "action=coupon_open&id=7", "action=coupon_get&coupon=1", "action=coupon_get&coupon=2",
        "action=coupon_get&coupon=3",
    ]  # fmt: skip
    (none,) = renderer.render("coupons", locale="en", **SHOP, held=[], offered=[])
    assert none["type"] == "text" and "no coupons" in none["text"]
    (coupon,) = renderer.render("coupon", locale="en", **SHOP, **CONTEXTS["coupon"])
    assert "10% off (up to ¥500)" in json.dumps(coupon, ensure_ascii=False) and "ABCD-EFGH-JKLM" in str(coupon)


def test_menu_for_a_visitor_offers_membership():
    messages = renderer.render("menu", locale="ja", **SHOP, is_member=False, name="", marketing_opt_out=False)
    assert "action=join" in str(messages)


def test_point_card_reads_well_in_japanese():
    (card,) = renderer.render("point_card", locale="ja", **SHOP, **CONTEXTS["point_card"])
    text = str(card)
    assert "1,234" in text and "シルバー" in text and "¥12,000" in text
    assert "2026年12月31日(木)まで" in text


def test_stamp_card_and_empty_history():
    context = dict(CONTEXTS["point_card"], mode="stamps", stamps=3, rewards=[])
    for locale in ("ja", "en"):
        messages = renderer.render("point_card", locale=locale, **SHOP, **context)
        assert "●●●○○○○○○○" in str(messages)
        assert renderer.render("history", locale=locale, **SHOP, purchases=[])


def test_a_stamp_card_with_many_rewards_stays_within_line_limits():
    """The flow shows the five soonest-expiring rewards and counts the rest; even long titles fit a bubble."""
    rewards = [
        SimpleNamespace(title="特典" + "あ" * 198, expires_at=datetime(2026, 12, 1, tzinfo=UTC)) for _ in range(5)
    ]
    context = dict(CONTEXTS["point_card"], mode="stamps", stamps=9, rewards=rewards, more_rewards=115)
    for locale, more in (("ja", "ほか115件の特典"), ("en", "and 115 more rewards")):
        messages = renderer.render("point_card", locale=locale, **SHOP, **context)
        assert more in str(messages)
        assert limit_problems({"messages": messages}) == []
    one_more = renderer.render("point_card", locale="en", **SHOP, **dict(context, more_rewards=1))
    assert "and 1 more reward" in str(one_more) and "more rewards" not in str(one_more)


def test_opt_out_promises_reservation_reminders_only_once_reservations_exist():
    for locale, reminders in (("ja", "予約のリマインド"), ("en", "reservation reminders")):
        without = renderer.render("opt_out_done", locale=locale, **SHOP, reservations_enabled=False)[0]["text"]
        with_reservations = renderer.render("opt_out_done", locale=locale, **SHOP, reservations_enabled=True)
        assert reminders not in without
        assert reminders in with_reservations[0]["text"]


def test_history_shows_a_cancelled_purchase_as_cancelled_and_a_refunded_one_with_what_remains():
    ja = renderer.render("history", locale="ja", **SHOP, **CONTEXTS["history"])[0]["text"]
    en = renderer.render("history", locale="en", **SHOP, **CONTEXTS["history"])[0]["text"]

    assert "¥0" not in ja and "+0" not in ja
    assert "2026年11月20日(金) 渋谷店 ¥3,240 取消" in ja
    assert "2026年11月19日(木) 梅田店 ¥2,000（+20 pt、¥1,240 返品）" in ja
    assert "¥3,240 cancelled" in en and "¥2,000 (+20 pt, ¥1,240 refunded)" in en


@pytest.mark.parametrize(
    ("change", "ja", "en"),
    [
        ("cancelled", "2026年11月22日(日)の渋谷店でのお買い物（¥3,240）は取り消されました。", "was cancelled"),
        ("points_returned", "お支払いに使ったポイントをお返ししました。", "were given back"),
        ("refunded", "¥1,240を返金しました。", "¥1,240 of your purchase of ¥3,240"),
    ],
)
def test_points_changed_says_what_changed_and_the_new_balance(change, ja, en):
    context = dict(CONTEXTS["points_changed"], change=change)
    ja_text = renderer.render("points_changed", locale="ja", **SHOP, **context)[0]["text"]
    en_text = renderer.render("points_changed", locale="en", **SHOP, **context)[0]["text"]

    assert ja in ja_text and "ポイント残高：520 pt" in ja_text
    assert en in en_text and "Points balance: 520 pt" in en_text
    assert "Points given back: 100 pt" in en_text and "Points taken back: 12 pt" in en_text


def test_a_booking_moved_or_cancelled_by_the_store_says_when_in_the_stores_own_zone():
    bangkok = {"zone": "Asia/Bangkok"}  # UTC+7
    moved = renderer.render("booking_changed", locale="ja", **SHOP, **{**CONTEXTS["booking_changed"], **bangkok})
    cancelled = renderer.render(
        "booking_cancelled_by_store", locale="en", **SHOP, **{**CONTEXTS["booking_cancelled_by_store"], **bangkok}
    )
    moved, cancelled = moved[0]["text"], cancelled[0]["text"]

    assert "新しい日時：2026年11月24日(火) 13:00" in moved and "変更前：2026年11月23日(月) 8:00" in moved
    assert "0312345678" in moved and "表参道サロン" in moved
    assert "表参道サロン cancelled your booking." in cancelled and "Mon, Nov 23, 2026 8:00\u202fAM" in cancelled
    assert "please contact the store" in cancelled


def test_bookings_offer_change_and_cancel_or_the_store_s_phone():
    (listed,) = renderer.render("bookings", locale="ja", **SHOP, **CONTEXTS["bookings"])
    changeable, too_late = listed["contents"]["contents"]
    assert [button["action"]["label"] for button in changeable["footer"]["contents"]] == ["変更", "キャンセル"]
    assert (
        too_late["footer"]["contents"][0]["text"] == "このご予約の変更・キャンセルはお店にお電話ください：03-1234-5678"
    )
    assert "2026年11月23日(月) 10:00" in str(listed) and "¥5,500" in str(listed)
    no_phone = dict(CONTEXTS["bookings"]["bookings"][1], phone="")
    (listed,) = renderer.render("bookings", locale="en", **SHOP, bookings=[no_phone])
    assert "please contact the store" in str(listed)
    (none,) = renderer.render("bookings", locale="ja", **SHOP, bookings=[])
    assert none["text"] == "今後のご予約はありません。"


def test_a_day_s_free_times_are_clock_times_and_the_nearest_ones_carry_their_day():
    day_view = dict(CONTEXTS["booking_times"], note=None, nearest=False)
    (times,) = renderer.render("booking_times", locale="ja", **SHOP, **day_view)
    labels = [item["action"]["label"] for item in times["quickReply"]["items"]]
    assert times["text"] == "2026年11月23日(月)の渋谷店「カット」の空き時間です。時間をお選びください："
    assert labels[0] == "10:00" and labels[-2:] == ["もっと遅い時間", "別の日"] and len(labels) == 13
    (nearest,) = renderer.render("booking_times", locale="ja", **SHOP, **CONTEXTS["booking_times"])
    assert nearest["text"].startswith("申し訳ありません。その時間は先にご予約が入りました。")
    assert nearest["quickReply"]["items"][0]["action"]["label"] == "11/23(月) 10:00"
    (none,) = renderer.render("booking_times", locale="en", **SHOP, **dict(day_view, times=[], later=None))
    assert "no free times in the next days" in none["text"]
    assert [item["action"]["type"] for item in none["quickReply"]["items"]][0] == "datetimepicker"
