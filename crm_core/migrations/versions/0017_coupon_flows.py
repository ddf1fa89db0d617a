"""coupon flows: a trigger, a segment, a coupon and a message, decided by the push engine

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 00:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('coupon_id', sa.Integer(), nullable=False),
    sa.Column('templates', sa.JSON(), nullable=True),
    sa.Column('holdout_percent', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("trigger in ('member_joined', 'nth_purchase', 'birthday_month', 'lapsed', 'points_threshold', 'tier_reached', 'scheduled')", name='ck_coupon_flow_trigger'),
    sa.CheckConstraint('holdout_percent >= 0 AND holdout_percent <= 50', name='ck_coupon_flow_holdout'),
    sa.CheckConstraint('ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on', name='ck_coupon_flow_dates'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name='fk_coupon_flows_coupon_id_coupons'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name='fk_coupon_flows_segment_id_segments'),
    sa.ForeignKeyConstraint(['updated_by'], ['staff_users.id'], name='fk_coupon_flows_updated_by_staff_users'),
    sa.PrimaryKeyConstraint('id', name='pk_coupon_flows'),
    sa.UniqueConstraint('name', name='uq_coupon_flows_name')
    )


def downgrade() -> None:
    op.drop_table('coupon_flows')
