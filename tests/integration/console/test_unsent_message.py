"""A message the customer unsent on LINE reads as a neutral entry on the customer screen, without its text."""

from __future__ import annotations

from crm_core import channels, membership


def test_the_customer_screen_shows_an_unsent_message_without_its_text(as_role, uow_factory, clock):
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address="U" + "b" * 32)
        channels.record_consent(uow=uow, identity=identity, notice_version="2026-11")
        customer = membership.register_new_member(uow=uow, identity=identity, name="山田 花子")
        clock.advance(minutes=1)
        channels.record_message(uow=uow, identity=identity, kind="message_in", summary="残す質問", message_id="1001")
        channels.record_message(uow=uow, identity=identity, kind="message_in", summary="消した言葉", message_id="1002")
        channels.record_unsend(uow=uow, identity=identity, message_id="1002")
        uow.commit()
        customer_id = customer.id
    page = as_role("staff").get(f"/console/customers/{customer_id}").get_data(as_text=True)
    assert "消した言葉" not in page
    assert "The customer unsent a message" in page
    assert "残す質問" in page
