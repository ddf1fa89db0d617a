"""Loyalty program settings: marketers and admins change them, staff may not, invalid values change nothing."""

from __future__ import annotations

import pytest

from crm_core import coupons, loyalty
from tests.integration.console.conftest import csrf_token

PAGE = "/console/program"


def form(client, **changes) -> dict:
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "mode": "points",
        "yen_per_point": "200",
        "points_per_unit": "1",
        "validity_kind": "end_of_next_year",
        "validity_days": "365",
        "pending_days": "7",
        "tier_name": ["regular", "silver", "gold", "platinum", ""],
        "tier_min_spend": ["0", "30,000", "100000", "300000", ""],
        "tier_multiplier": ["100", "150", "200", "300%", ""],
        "stamp_goal": "10",
        "stamp_reward_title": "Free drink",
        "stamp_reward_days": "90",
    }
    data.update(changes)
    return data


def program(uow_factory) -> loyalty.Program:
    with uow_factory() as uow:
        return loyalty.get_program(uow=uow)


@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_a_marketer_or_admin_saves_the_program(as_role, uow_factory, role):
    client = as_role(role)
    page = client.get(PAGE).get_data(as_text=True)
    assert 'name="yen_per_point" inputmode="numeric" value="100"' in page
    assert 'href="/console/program"' in page  # in the navigation

    response = client.post(PAGE, data=form(client))

    assert response.status_code == 302
    saved = program(uow_factory)
    assert (saved.yen_per_point, saved.validity_kind, saved.pending_days) == (200, "end_of_next_year", 7)
    assert [(t.name, t.min_spend, t.multiplier_pct) for t in saved.tiers][-1] == ("platinum", 300_000, 300)
    page = client.get(PAGE).get_data(as_text=True)
    assert "The loyalty program was saved." in page and 'value="platinum"' in page


def test_staff_gets_403_and_no_link(as_role, uow_factory):
    client = as_role("staff")
    assert 'href="/console/program"' not in client.get("/console/till").get_data(as_text=True)
    token = csrf_token(client, "/console/till")

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"csrf_token": token, "yen_per_point": "1"}).status_code == 403
    assert program(uow_factory) == loyalty.Program()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"yen_per_point": "0"}, "Yen per point unit must be a whole number above zero."),
        ({"yen_per_point": "-100"}, "Yen per point unit must be a whole number above zero."),
        ({"pending_days": "abc"}, "Days before points can be used must be a whole number above zero."),
        ({"mode": "cash"}, "The card type must be points or stamps."),
        ({"validity_kind": "forever"}, "Point validity must be a number of days or the end of the following year."),
        (
            {"tier_min_spend": ["1000", "30000", "100000", "300000", ""]},
            "There must be a first tier that starts at ¥0.",
        ),
        ({"tier_name": ["regular", "gold", "gold", "platinum", ""]}, "Every tier needs its own name."),
        ({"tier_multiplier": ["100", "150", "0", "300", ""]}, "Multiplier must be a whole number above zero."),
        ({"stamp_reward_title": " "}, "The stamp card reward needs a title."),
    ],
)
def test_invalid_values_are_refused_and_change_nothing(as_role, uow_factory, changes, message):
    client = as_role("marketer")
    response = client.post(PAGE, data=form(client, **changes))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert program(uow_factory) == loyalty.Program()


def test_a_saved_program_earns_at_the_till(as_role, uow_factory):
    client = as_role("admin")
    client.post(PAGE, data=form(client, tier_name=["regular"], tier_min_spend=["0"], tier_multiplier=["100"]))

    saved = program(uow_factory)
    assert [tier.name for tier in saved.tiers] == ["regular"]
    assert saved.points_for(3240) == 16  # ¥200 per point, rounding down


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_program_and_till_pages_render_in_both_languages(as_role, lang):
    client = as_role("admin")
    with client.session_transaction() as session:
        session["lang"] = lang
    for path in (PAGE, "/console/till"):
        page = client.get(path).get_data(as_text=True)
        assert f'<html lang="{lang}">' in page
        assert "{{" not in page and "%(" not in page


def test_the_program_says_what_points_are_earned_on(as_role, uow_factory):
    client = as_role("marketer")
    page = client.get(PAGE).get_data(as_text=True)
    assert 'name="earn_on" value="paid" checked' in page

    assert client.post(PAGE, data=form(client, earn_on="gross")).status_code == 302
    assert program(uow_factory).earn_on == "gross"
    assert 'name="earn_on" value="gross" checked' in client.get(PAGE).get_data(as_text=True)

    refused = client.post(PAGE, data=form(client, earn_on="cash", yen_per_point="300"))
    assert refused.status_code == 400
    assert "Points must be earned on the amount paid in yen or on the whole total." in refused.get_data(as_text=True)
    assert (program(uow_factory).earn_on, program(uow_factory).yen_per_point) == ("gross", 200)


def test_the_stamp_card_reward_is_a_coupon_the_marketer_picks(as_role, uow_factory):
    with uow_factory() as uow:
        spec = coupons.CouponSpec(title="ケーキ1個無料", benefit_kind="free_item", benefit_item="ケーキ", valid_days=60)
        coupon_id = coupons.define_coupon(uow=uow, spec=spec).id
        uow.commit()
    client = as_role("marketer")
    assert "ケーキ1個無料" in client.get(PAGE).get_data(as_text=True)

    assert client.post(PAGE, data=form(client, stamp_reward_coupon_id=str(coupon_id))).status_code == 302
    assert program(uow_factory).stamp_reward_coupon_id == coupon_id
    page = client.get(PAGE).get_data(as_text=True)
    assert f'<option value="{coupon_id}" selected>ケーキ1個無料</option>' in page

    refused = client.post(PAGE, data=form(client, stamp_reward_coupon_id="99999"))
    assert refused.status_code == 400 and "No coupon with this id." in refused.get_data(as_text=True)
    assert client.post(PAGE, data=form(client, stamp_reward_coupon_id="")).status_code == 302
    assert program(uow_factory).stamp_reward_coupon_id is None
