"""staff members' own LINE accounts, for test sends of coupon flows

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-25 01:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_user_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_unique_constraint('uq_staff_users_line_user_id', ['line_user_id'])


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_staff_users_line_user_id', type_='unique')
        batch_op.drop_column('line_user_id')
