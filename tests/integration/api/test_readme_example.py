"""The README's example POS purchase works as shown (body and answer)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crm_core import customers
from crm_core.models import Store

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_purchase_is_accepted_with_the_answer_it_shows(api, uow_factory):
    text = README.read_text(encoding="utf-8")
    body = json.loads(re.search(r"-d '(\{.*?\})'", text, re.S).group(1))
    shown = re.search(r"# 201 (\{.*?\})", text).group(1)
    with uow_factory() as uow:
        uow.session.add(Store(code=body["store_code"], name="渋谷店", created_at=uow.now()))
        customer = customers.create_customer(uow=uow, name="山田 花子")
        customer.member_number = body["card_code"]
        uow.commit()

    first = api.post("/purchases", json=body)
    again = api.post("/purchases", json=body)

    assert first.status_code == 201 and again.status_code == 200
    assert set(first.json) == set(json.loads(shown))
    assert first.json["points_earned"] == json.loads(shown)["points_earned"]
    assert again.json == first.json
