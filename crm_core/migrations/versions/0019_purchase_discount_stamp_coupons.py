"""a purchase keeps the coupon discount it was given; stamp-card rewards become coupons

`purchases.discount`: the yen a coupon took off at the till (`total` stays what the customer pays,
in yen and points). The stamp-card rewards not yet used nor expired move to `customer_coupons`,
under one coupon definition (a gift, titled like the program's reward), with the same codes; the
program setting then names that definition as the stamp card's reward. The old rows stay, marked
used, so nothing is shown or redeemed twice.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25 01:00:00
"""
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

PROGRAM_KEY = 'loyalty.program'


def upgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint('ck_purchase_discount', 'discount >= 0')
    _move_rewards()


def _move_rewards() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    rewards = connection.execute(
        sa.text(
            'SELECT id, customer_id, code, title, source_key, issued_at, expires_at FROM rewards '
            'WHERE redeemed_at IS NULL AND expires_at > :now ORDER BY id'
        ),
        {'now': now},
    ).fetchall()
    if not rewards:
        return
    stored = connection.execute(
        sa.text('SELECT value FROM shop_settings WHERE key = :key'), {'key': PROGRAM_KEY}
    ).scalar()
    program = (json.loads(stored) if isinstance(stored, str) else stored) or {}
    title = str(program.get('stamp_reward_title') or rewards[0].title)[:200]
    coupon_id = connection.execute(
        sa.text(
            'INSERT INTO coupons (title, benefit_kind, benefit_value, benefit_item, min_purchase, valid_days, '
            'issued, per_customer_limit, obtain, active, created_at, updated_at) '
            "VALUES (:title, 'gift', 0, :title, 0, :days, :issued, NULL, 'flow', true, :now, :now) RETURNING id"
        ),
        {'title': title, 'days': int(program.get('stamp_reward_days') or 90), 'issued': len(rewards), 'now': now},
    ).scalar()
    seqs: dict[int, int] = {}
    for reward in rewards:
        seqs[reward.customer_id] = seqs.get(reward.customer_id, 0) + 1
        connection.execute(
            sa.text(
                'INSERT INTO customer_coupons (code, coupon_id, customer_id, seq, obtained_by, idempotency_key, '
                "issued_at, expires_at, status) VALUES (:code, :coupon_id, :customer_id, :seq, 'stamps', :key, "
                ":issued_at, :expires_at, 'issued')"
            ),
            {
                'code': reward.code,
                'coupon_id': coupon_id,
                'customer_id': reward.customer_id,
                'seq': seqs[reward.customer_id],
                'key': reward.source_key,
                'issued_at': reward.issued_at,
                'expires_at': reward.expires_at,
            },
        )
    connection.execute(
        sa.text('UPDATE rewards SET redeemed_at = :now WHERE redeemed_at IS NULL AND expires_at > :now'), {'now': now}
    )
    program['stamp_reward_coupon_id'] = coupon_id
    settings = sa.table('shop_settings', sa.column('key', sa.String), sa.column('value', sa.JSON))
    if stored is None:
        connection.execute(settings.insert().values(key=PROGRAM_KEY, value=program))
    else:
        connection.execute(settings.update().where(settings.c.key == PROGRAM_KEY).values(value=program))


def downgrade() -> None:
    # the stamp rewards still held as coupons are open rewards again (the coupons stay, unused by the old code)
    op.execute(
        "UPDATE rewards SET redeemed_at = NULL WHERE source_key IN (SELECT idempotency_key FROM customer_coupons "
        "WHERE obtained_by = 'stamps' AND status = 'issued')"
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_constraint('ck_purchase_discount', type_='check')
        batch_op.drop_column('discount')
