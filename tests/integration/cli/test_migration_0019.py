"""Migration 0019: the stamp-card rewards still open become coupons (same codes, same expiry), named by the program."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from crm_core.db import make_engine
from crm_core.migrate import upgrade

FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def test_open_rewards_become_coupons_and_used_or_expired_ones_stay_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0018")
    engine = make_engine(url)
    with engine.begin() as db:
        for n in (1, 2):
            db.execute(
                sa.text(
                    "INSERT INTO customers (id, member_number, name, locale, tier, marketing_opt_out, created_at, "
                    "updated_at) VALUES (:id, :number, :name, 'ja', 'regular', false, :now, :now)"
                ),
                {"id": n, "number": f"100000000{n}", "name": f"客{n}", "now": PAST},
            )
        rewards = [  # customer, code, redeemed, expires
            (1, "OPENAAAAAA", None, FUTURE),
            (1, "OPENBBBBBB", None, FUTURE),
            (2, "USEDCCCCCC", PAST, FUTURE),
            (2, "GONEDDDDDD", None, PAST),
        ]
        for customer_id, code, redeemed_at, expires_at in rewards:
            db.execute(
                sa.text(
                    "INSERT INTO rewards (customer_id, code, kind, title, source_key, issued_at, expires_at, "
                    "redeemed_at) VALUES (:customer, :code, 'stamp_card', 'Free drink', :key, :now, :expires, :used)"
                ),
                {"customer": customer_id, "code": code, "key": f"stamps:{code}", "now": PAST,
                 "expires": expires_at, "used": redeemed_at},
            )  # fmt: skip
        db.execute(
            sa.text("INSERT INTO shop_settings (key, value) VALUES ('loyalty.program', :value)"),
            {"value": '{"mode": "stamps", "stamp_reward_title": "ドリンク1杯無料", "stamp_reward_days": 30}'},
        )
    engine.dispose()

    upgrade(url)

    engine = make_engine(url)
    with engine.connect() as db:
        held = db.execute(
            sa.text("SELECT code, customer_id, seq, status, obtained_by, coupon_id FROM customer_coupons ORDER BY code")
        ).fetchall()
        assert [tuple(row[:5]) for row in held] == [
            ("OPENAAAAAA", 1, 1, "issued", "stamps"),
            ("OPENBBBBBB", 1, 2, "issued", "stamps"),
        ]
        coupon = db.execute(sa.text("SELECT id, title, benefit_kind, issued, obtain FROM coupons")).one()
        assert tuple(coupon) == (held[0].coupon_id, "ドリンク1杯無料", "gift", 2, "flow")
        program = db.execute(sa.text("SELECT value FROM shop_settings WHERE key = 'loyalty.program'")).scalar()
        assert json.loads(program) == {
            "mode": "stamps",
            "stamp_reward_title": "ドリンク1杯無料",
            "stamp_reward_days": 30,
            "stamp_reward_coupon_id": coupon.id,
        }
        assert (
            db.execute(sa.text("SELECT count(*) FROM rewards WHERE redeemed_at IS NULL AND code LIKE 'OPEN%'")).scalar()
            == 0
        )
        assert db.execute(sa.text("SELECT discount FROM purchases")).fetchall() == []
    engine.dispose()


def test_going_back_opens_again_the_rewards_still_held_as_coupons(tmp_path):
    from alembic import command

    from crm_core.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'back.sqlite3'}"
    upgrade(url, "0018")
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(
            sa.text(
                "INSERT INTO customers (id, member_number, name, locale, tier, marketing_opt_out, created_at, "
                "updated_at) VALUES (1, '1000000001', '客', 'ja', 'regular', false, :now, :now)"
            ),
            {"now": PAST},
        )
        db.execute(
            sa.text(
                "INSERT INTO rewards (customer_id, code, kind, title, source_key, issued_at, expires_at) "
                "VALUES (1, 'OPENAAAAAA', 'stamp_card', 'Free drink', 'stamps:1', :now, :expires)"
            ),
            {"now": PAST, "expires": FUTURE},
        )
    engine.dispose()
    upgrade(url, "0019")

    command.downgrade(alembic_config(url), "0018")

    engine = make_engine(url)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT redeemed_at FROM rewards")).scalar() is None
    engine.dispose()
