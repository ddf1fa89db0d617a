"""The marketer's coupons at /console/marketing: the list with what became of each coupon, defining and editing one
with every mistake shown next to its field, stopping one, and the preview of its bubble in LINE."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from crm_core import coupons, customers
from crm_core.errors import CouponUnavailable
from crm_core.models import Coupon, Store
from tests.integration.console.conftest import csrf_token

HOME = "/console/marketing"
LIST = "/console/marketing/coupons"
NEW = "/console/marketing/coupons/new"


@pytest.fixture
def shop(uow_factory) -> dict:
    with uow_factory() as uow:
        uow.session.add_all(
            [
                Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()),
                Store(code="SHINJUKU", name="新宿店", created_at=uow.now()),
            ]
        )
        hanako = customers.create_customer(uow=uow, name="山田 花子")
        taro = customers.create_customer(uow=uow, name="佐藤 太郎")
        uow.commit()
        return {"hanako": hanako.id, "taro": taro.id}


def form(**changes) -> dict:
    """A good form: 10% off up to ¥500 from ¥2,000, in Shibuya, 2026-12-01 to 2026-12-25, a 12.5% lottery."""
    return {
        "title": "冬の10%オフ",
        "image_url": "https://example.jp/winter.png",
        "benefit_kind": "percent_off",
        "yen_off": "",
        "percent_off": "10",
        "percent_cap": "500",
        "item": "",
        "item_value": "",
        "min_purchase": "2,000",
        "store_codes": ["SHIBUYA"],
        "validity": "dates",
        "valid_from": "2026-12-01",
        "valid_until": "2026-12-25",
        "valid_days": "",
        "stock": "100",
        "per_customer_limit": "1",
        "obtain": "lottery",
        "points_cost": "",
        "win_percent": "12.5",
        "code_prefix": "fuyu",
        "code_alphabet": "digits",
        "code_length": "8",
        "active": "on",
        **changes,
    }


def post(client, path: str, data: dict):
    return client.post(path, data={"csrf_token": csrf_token(client, NEW), **data})


def saved(uow_factory) -> list[Coupon]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(Coupon).order_by(Coupon.id)))


def next_to(page: str, field: str) -> str:
    """The message shown next to a form field."""
    match = re.search(rf'<span class="error" role="alert" data-field="{field}">([^<]*)</span>', page)
    assert match, f"no message next to {field}"
    return match.group(1)


@pytest.mark.parametrize("path", [HOME, LIST, NEW])
def test_staff_may_not_open_the_marketing_console(as_role, path):
    client = as_role("staff")
    assert client.get(path).status_code == 403
    assert f'href="{HOME}"' not in client.get("/console/till").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(HOME)
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_the_landing_page_lists_the_coupons_with_the_section_navigation(as_role, role, shop):
    page = as_role(role).get(HOME).get_data(as_text=True)
    assert f'href="{HOME}"' in page  # in the main navigation
    assert f'<a href="{LIST}" aria-current="page">Coupons</a>' in page
    assert "No coupons yet." in page and f'href="{NEW}"' in page


def test_a_marketer_defines_a_coupon_with_every_field(as_role, shop, uow_factory):
    client = as_role("marketer")
    assert client.get(NEW).status_code == 200

    response = post(client, NEW, form())

    assert response.status_code == 302, next_to(response.get_data(as_text=True), "form")
    [coupon] = saved(uow_factory)
    assert response.headers["Location"].endswith(f"/console/marketing/coupons/{coupon.id}")
    assert (coupon.title, coupon.image_url) == ("冬の10%オフ", "https://example.jp/winter.png")
    assert (coupon.benefit_kind, coupon.benefit_value, coupon.benefit_cap, coupon.min_purchase) == (
        "percent_off", 10, 500, 2000,
    )  # fmt: skip
    assert (coupon.valid_from, coupon.valid_until, coupon.valid_days) == (date(2026, 12, 1), date(2026, 12, 25), None)
    assert (coupon.stock, coupon.per_customer_limit, coupon.obtain, coupon.win_basis_points) == (
        100,
        1,
        "lottery",
        1250,
    )
    assert (coupon.code_prefix, coupon.code_alphabet, coupon.code_length, coupon.active) == ("FUYU", "digits", 8, True)
    with uow_factory() as uow:
        assert coupons.store_codes_of(uow=uow, coupon=coupon) == ["SHIBUYA"]

    listed = client.get(LIST).get_data(as_text=True)
    for text in ("冬の10%オフ", "10% off (up to ¥500)", "With a purchase of ¥2,000 or more",
                 "Tue, Dec 1, 2026 to Fri, Dec 25, 2026", "A lottery in LINE, 12.5% win"):  # fmt: skip
        assert text in listed, text


def test_other_benefits_and_ways_to_get_them(as_role, shop, uow_factory):
    client = as_role("marketer")
    free = form(benefit_kind="free_item", percent_off="", item="コーヒー 1杯", item_value="450", validity="days",
                valid_days="14", valid_from="", valid_until="", obtain="points", points_cost="300", store_codes=[],
                stock="", per_customer_limit="", code_prefix="", code_alphabet="mixed", code_length="12")  # fmt: skip
    assert post(client, NEW, free).status_code == 302
    gift = form(benefit_kind="gift", item="トートバッグ", obtain="flow", win_percent="")
    assert post(client, NEW, gift).status_code == 302
    yen = form(benefit_kind="yen_off", yen_off="¥300", obtain="claim", active="")
    assert post(client, NEW, yen).status_code == 302

    free_item, tote, yen_off = saved(uow_factory)
    assert (free_item.benefit_item, free_item.benefit_value, free_item.valid_days, free_item.points_cost) == (
        "コーヒー 1杯", 450, 14, 300,
    )  # fmt: skip
    assert (free_item.stock, free_item.per_customer_limit) == (None, None)
    assert (tote.benefit_kind, tote.benefit_item, tote.obtain, tote.win_basis_points) == (
        "gift",
        "トートバッグ",
        "flow",
        None,
    )
    assert (yen_off.benefit_value, yen_off.benefit_cap, yen_off.active) == (300, None, False)
    listed = client.get(LIST).get_data(as_text=True)
    for text in ("Free: コーヒー 1杯", "14 days from the day it is issued", "Exchanged for 300 points", "Unlimited",
                 "Gift: トートバッグ", "Issued by a coupon flow", "¥300 off", "Stopped"):  # fmt: skip
        assert text in listed, text


def test_mistakes_are_shown_next_to_their_fields_with_what_was_typed_and_nothing_is_saved(as_role, shop, uow_factory):
    client = as_role("marketer")
    response = post(
        client,
        NEW,
        form(
            title=" ",
            percent_off="150",
            percent_cap="-5",
            valid_from="2026-12-25",
            valid_until="2026-12-01",
            stock="many",
            win_percent="120",
            code_prefix="OI",
            image_url="ftp://x",
        ),  # fmt: skip
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert next_to(page, "title") == "A coupon needs a title of at most 200 characters."
    assert next_to(page, "percent_off") == "Enter a whole number from 1 to 100."
    assert next_to(page, "percent_cap") == "Enter a whole number from 1 to 10,000,000."
    assert next_to(page, "valid_until") == "The last day comes before the first day."
    assert next_to(page, "stock") == "Enter a whole number from 0 to 10,000,000."
    assert next_to(page, "win_percent") == "Enter a percentage from 0 to 100, like 12.5."
    assert next_to(page, "code_prefix").startswith("At most 8 letters and digits, without O and I")
    assert next_to(page, "image_url") == "The image needs an http(s) address of at most 500 characters."
    assert 'data-field="form"' in page
    for typed in ('value="150"', 'value="-5"', 'value="many"', 'value="120"', 'value="2026-12-25"', 'value="OI"'):
        assert typed in page, typed
    assert saved(uow_factory) == []

    negative = post(client, NEW, form(benefit_kind="yen_off", yen_off="-100"))
    assert next_to(negative.get_data(as_text=True), "yen_off") == "Enter a whole number from 1 to 10,000,000."
    no_end = post(client, NEW, form(valid_until=""))
    assert next_to(no_end.get_data(as_text=True), "valid_until") == "Give the last day the coupon is valid."
    no_item = post(client, NEW, form(benefit_kind="free_item", item=" "))
    assert next_to(no_item.get_data(as_text=True), "item") == "Say which item the customer gets."
    unknown_store = post(client, NEW, form(store_codes=["OSAKA"]))
    assert unknown_store.status_code == 400
    assert next_to(unknown_store.get_data(as_text=True), "store_codes")
    assert saved(uow_factory) == []


def _issue(uow_factory, coupon_id: int, customer_id: int, *, by: str = "api") -> str:
    with uow_factory() as uow:
        held = coupons.issue_coupon(uow=uow, coupon_id=coupon_id, customer_id=customer_id, obtained_by=by).coupon
        uow.commit()
        return held.code


def test_editing_keeps_the_stock_above_what_was_issued_and_the_list_counts_usage(as_role, shop, uow_factory):
    client = as_role("marketer")
    post(client, NEW, form(obtain="claim", valid_from="2026-11-01", per_customer_limit=""))
    [coupon] = saved(uow_factory)
    edit = f"/console/marketing/coupons/{coupon.id}"
    _issue(uow_factory, coupon.id, shop["hanako"], by="claim")
    code = _issue(uow_factory, coupon.id, shop["taro"])
    with uow_factory() as uow:
        store = uow.session.exec(select(Store).where(Store.code == "SHIBUYA")).one()
        coupons.redeem_coupon(uow=uow, code=code, store_id=store.id, total=3000)
        uow.commit()

    too_few = post(client, edit, form(obtain="claim", valid_from="2026-11-01", per_customer_limit="", stock="1"))
    assert too_few.status_code == 400
    assert next_to(too_few.get_data(as_text=True), "stock") == "2 were already issued: the stock cannot be less."
    assert saved(uow_factory)[0].stock == 100

    renamed = post(client, edit, form(title="冬の特別クーポン", obtain="claim", valid_from="2026-11-01", stock="50"))
    assert renamed.status_code == 302
    assert (saved(uow_factory)[0].title, saved(uow_factory)[0].stock) == ("冬の特別クーポン", 50)

    row = client.get(LIST).get_data(as_text=True).split(f'data-coupon="{coupon.id}"')[1].split("</tr>")[0]
    cells = re.findall(r'class="num">([^<]*)</td>', row)
    assert cells == ["48", "2", "1", "1", "50.0%"]  # stock left, issued, claimed, redeemed, rate
    page = client.get(edit).get_data(as_text=True)
    assert 'value="冬の特別クーポン"' in page and 'value="SHIBUYA" checked' in page


def test_a_stopped_coupon_is_handed_out_no_more_but_held_ones_stay_usable(as_role, shop, uow_factory):
    client = as_role("marketer")
    post(client, NEW, form(obtain="claim", valid_from="2026-11-01", store_codes=[]))
    [coupon] = saved(uow_factory)
    code = _issue(uow_factory, coupon.id, shop["hanako"], by="claim")
    edit = f"/console/marketing/coupons/{coupon.id}"

    missing_token = client.post(f"{edit}/stop")
    assert missing_token.status_code == 400 and saved(uow_factory)[0].active
    stopped = client.post(f"{edit}/stop", data={"csrf_token": csrf_token(client, edit)}, follow_redirects=True)
    assert "coupons already held stay usable until they expire" in stopped.get_data(as_text=True)

    with uow_factory() as uow:
        assert not coupons.get_coupon(uow=uow, coupon_id=coupon.id).active
        with pytest.raises(CouponUnavailable):
            coupons.claim_coupon(uow=uow, coupon_id=coupon.id, customer_id=shop["taro"])
        store = uow.session.exec(select(Store)).first()
        assert coupons.redeem_coupon(uow=uow, code=code, store_id=store.id, total=2500).discount == 250
        uow.commit()

    resumed = client.post(f"{edit}/resume", data={"csrf_token": csrf_token(client, edit)})
    assert resumed.status_code == 302 and saved(uow_factory)[0].active


def test_the_edit_page_previews_the_bubble_a_customer_sees_in_line(as_role, shop, uow_factory, client):
    marketer = as_role("marketer")
    post(marketer, NEW, form(win_percent="5"))
    [coupon] = saved(uow_factory)
    edit = f"/console/marketing/coupons/{coupon.id}"

    page = marketer.get(edit).get_data(as_text=True)
    preview = page.split('data-field="preview"')[1]
    assert 'data-state="offered"' in preview and 'data-state="held"' in preview
    for text in ("冬の10%オフ", "10% off (up to ¥500)", "With a purchase of ¥2,000 or more", "Try your luck",
                 "A lottery: you may win it", "Use", "Yours, valid until Fri, Dec 25, 2026"):  # fmt: skip
        assert text in preview, text

    with marketer.session_transaction() as session:
        session["lang"] = "ja"
    japanese = marketer.get(edit).get_data(as_text=True)
    assert '<html lang="ja">' in japanese and "{{" not in japanese and "%(" not in japanese
    preview = japanese.split('data-field="preview"')[1]
    for text in ("10%オフ（上限¥500）", "2026年12月25日(金)"):
        assert text in preview, text
    listed = marketer.get(LIST).get_data(as_text=True)
    assert "LINEで抽選（当選確率5%）" in listed and "2026年12月1日(火)〜2026年12月25日(金)" in listed
    refused = post(marketer, edit, form(percent_off="150", code_length="3")).get_data(as_text=True)
    assert "{{" not in refused and "%(" not in refused
    assert next_to(refused, "percent_off") == "1から100までの整数を入力してください。"


def test_an_unknown_coupon_is_not_found(as_role):
    assert as_role("marketer").get("/console/marketing/coupons/999").status_code == 404


@pytest.mark.parametrize(
    ("typed", "basis_points", "shown"), [("10", 1000, "10"), ("100%", 10000, "100"), ("０.05", 5, "0.05")]
)
def test_the_win_probability_reads_back_as_typed(as_role, shop, uow_factory, typed, basis_points, shown):
    client = as_role("marketer")
    assert post(client, NEW, form(win_percent=typed)).status_code == 302
    [coupon] = saved(uow_factory)
    assert coupon.win_basis_points == basis_points
    page = client.get(f"/console/marketing/coupons/{coupon.id}").get_data(as_text=True)
    assert f'name="win_percent" value="{shown}"' in page
