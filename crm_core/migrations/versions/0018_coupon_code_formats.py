"""coupon code formats: each coupon's prefix, alphabet and length of the codes it hands out

Existing coupons keep the codes they had: no prefix, 12 characters without 0/O and 1/I.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 00:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('code_prefix', sqlmodel.sql.sqltypes.AutoString(length=8), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                'code_alphabet', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='mixed', nullable=False
            )
        )
        batch_op.add_column(sa.Column('code_length', sa.Integer(), server_default='12', nullable=False))
        batch_op.create_check_constraint('ck_coupon_code_alphabet', "code_alphabet in ('mixed', 'digits')")
        batch_op.create_check_constraint(
            'ck_coupon_code_length', 'code_length >= 6 AND length(code_prefix) + code_length <= 32'
        )


def downgrade() -> None:
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_constraint('ck_coupon_code_length', type_='check')
        batch_op.drop_constraint('ck_coupon_code_alphabet', type_='check')
        batch_op.drop_column('code_length')
        batch_op.drop_column('code_alphabet')
        batch_op.drop_column('code_prefix')
