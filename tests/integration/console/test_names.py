"""The console names things as the shop owner knows them: tier names, timeline entries in words, no internal ids."""

from __future__ import annotations

import re

import pytest

from crm_core import channels, membership, timeline


@pytest.fixture
def member(uow_factory, clock) -> int:
    """A silver member who tapped buttons on LINE, one of them from a release this console does not know."""
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address="U" + "b" * 32)
        channels.record_consent(uow=uow, identity=identity, notice_version="2026-11")
        customer = membership.register_new_member(uow=uow, identity=identity, name="山田 花子")
        customer.tier = "silver"
        for action in ("link_member", "points", "launch_rockets"):
            clock.advance(minutes=1)
            channels.record_message(uow=uow, identity=identity, kind="postback", summary=action)
        timeline.record(uow=uow, kind="tier_changed", customer_id=customer.id, data={"from": "regular", "to": "silver"})
        uow.commit()
        return customer.id


def _visible(page: str) -> str:
    """What a person reads: the page without its tags and attributes."""
    return re.sub(r"<[^>]+>", " ", page)


@pytest.fixture
def japanese(client):
    with client.session_transaction() as session:
        session["lang"] = "ja"
    return client


def test_the_customer_page_shows_the_tier_and_the_timeline_in_words(japanese, as_role, member):
    page = _visible(as_role("staff").get(f"/console/customers/{member}").get_data(as_text=True))
    assert "シルバー" in page and "silver" not in page
    assert "会員番号で連携しました" in page
    assert "ポイントカードを開きました" in page
    assert "LINEでボタンをタップ" in page  # an action this console has no words for
    assert "レギュラー" in page  # the tier change, from and to by name
    for raw in ("link_member", "launch_rockets", "regular"):
        assert raw not in page


def test_the_customer_page_in_english(as_role, member):
    page = _visible(as_role("staff").get(f"/console/customers/{member}").get_data(as_text=True))
    assert "Chose to link a membership by member number" in page
    assert "Tier changed from Regular to Silver" in page
    assert "link_member" not in page and "launch_rockets" not in page


def test_search_results_show_the_tier_name(japanese, as_role, member):
    page = _visible(as_role("staff").get("/console/customers", query_string={"q": "山田"}).get_data(as_text=True))
    assert "山田 花子" in page and "シルバー" in page and "silver" not in page
