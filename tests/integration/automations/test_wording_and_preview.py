"""The marketer's wording: checked on save, filled in a sandbox, previewed for a real customer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.automation_messages import preview
from crm_core import automations
from crm_core.errors import InvalidInput, NotFound


def _save(shop, key, **changes):
    with shop.uow_factory() as uow:
        row = automations.update_automation(uow=uow, key=key, **changes)
        uow.commit()
        return row


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{{ nme }}様", "{{ nme }}, which this message does not have"),
        ("{{ name ", "has a mistake on line 1"),
        ("{{ name.__class__.__mro__ }}", "cannot be used"),
        ("{{ points }}", "{{ points }}, which this message does not have"),
    ],
)
def test_wording_with_a_mistake_is_refused_on_save_with_the_reason(shop, text, complaint):
    with pytest.raises(InvalidInput) as refused:
        _save(shop, "first_purchase", templates={"ja": {"text": text}})
    assert complaint in refused.value.message % refused.value.params
    with shop.uow_factory() as uow:
        assert automations.get_automation(uow=uow, key="first_purchase").templates is None


def test_settings_are_checked(shop):
    for bad in (51, -1, "10", True):
        with pytest.raises(InvalidInput):
            _save(shop, "birthday", holdout_percent=bad)
    with shop.uow_factory() as uow:
        with pytest.raises(InvalidInput):
            automations.set_weekly_cap(uow, -1)
        assert automations.weekly_cap(uow) == 2
        automations.set_weekly_cap(uow, 3)
        assert automations.weekly_cap(uow) == 3
        with pytest.raises(NotFound):
            automations.update_automation(uow=uow, key="nope", enabled=True)
        listed = automations.list_automations(uow=uow)
    assert [a.key for a in listed] == list(automations.AUTOMATIONS)
    defaults = {a.key: (a.enabled, a.holdout_percent) for a in listed}
    assert defaults.pop("booking_reminder") == (True, 0)  # a reminder the customer asked for: on, no hold-out
    assert set(defaults.values()) == {(False, 10)}


def test_saved_wording_is_sent_and_the_other_language_keeps_the_built_in_words(shop, clock):
    _save(
        shop,
        "first_purchase",
        enabled=True,
        holdout_percent=0,
        templates={"ja": {"text": "{{ name }}様、{{ store }}へようこそ！"}, "en": {"text": "  "}},
    )
    hanako, john = shop.customer("花子"), shop.customer("John", language="en")
    shop.buy(hanako, clock.now(), "BEAN")
    shop.buy(john, clock.now(), "BEAN")
    shop.run()
    ja, en = (str(row.messages) for row in shop.outbox())
    assert "花子様、渋谷店へようこそ！" in ja
    assert "John, thank you for your first purchase" in en


def test_preview_shows_what_a_customer_would_get_now_in_their_language(shop, clock, services):
    john = shop.customer("John", language="en")
    shop.buy(john, clock.now() - timedelta(days=20), "BEAN")
    shop.points(john, 80, clock.now() + timedelta(days=5))
    with shop.uow_factory() as uow:
        (saved,) = preview(services, uow, "points_expiring", john)
        (custom,) = preview(
            services, uow, "replenishment", john, templates={"en": {"text": "{{ name }}, more {{ product }}?"}}
        )
        with pytest.raises(InvalidInput):
            preview(services, uow, "birthday", john, templates={"en": {"text": "{{ points }}"}})
        with pytest.raises(NotFound):
            preview(services, uow, "birthday", 9999)
        for key in automations.AUTOMATIONS:
            assert preview(services, uow, key, john)[0]["type"] == "flex"
    assert saved["type"] == "flex" and "80 pt of your points can be used until" in str(saved)
    assert "John, more ブラジル 200g?" in str(custom)
