"""automations: switches, hold-outs, decisions, recommendations

New tables only: automations (off until switched on), their hold-out assignments and decisions,
and the nightly recommendation tables (product pairs, repurchase intervals).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 14:41:03
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product_pairs',
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('other_sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'other_sku', name='pk_product_pairs')
    )
    with op.batch_alter_table('product_pairs', schema=None) as batch_op:
        batch_op.create_index('ix_product_pairs_sku_rank', ['sku', 'rank'], unique=False)

    op.create_table('automation_holdouts',
    sa.Column('automation', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('in_holdout', sa.Boolean(), nullable=False),
    sa.Column('assigned_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_automation_holdouts_customer_id_customers'),
    sa.PrimaryKeyConstraint('automation', 'customer_id', name='pk_automation_holdouts')
    )
    op.create_table('automations',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('holdout_percent', sa.Integer(), nullable=False),
    sa.Column('templates', sa.JSON(), nullable=True),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('holdout_percent >= 0 AND holdout_percent <= 50', name='ck_automation_holdout_percent'),
    sa.ForeignKeyConstraint(['updated_by'], ['staff_users.id'], name='fk_automations_updated_by_staff_users'),
    sa.PrimaryKeyConstraint('key', name='pk_automations')
    )
    op.create_table('repurchase_intervals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('interval_days', sa.Integer(), nullable=False),
    sa.Column('purchases', sa.Integer(), nullable=False),
    sa.Column('own', sa.Boolean(), nullable=False),
    sa.Column('last_purchased_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_purchased_on', sa.Date(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_repurchase_intervals_customer_id_customers'),
    sa.PrimaryKeyConstraint('id', name='pk_repurchase_intervals')
    )
    with op.batch_alter_table('repurchase_intervals', schema=None) as batch_op:
        batch_op.create_index('ix_repurchase_intervals_customer_sku', ['customer_id', 'sku'], unique=False)
        batch_op.create_index('ix_repurchase_intervals_due_on', ['due_on'], unique=False)

    op.create_table('automation_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('automation', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('occurrence', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=True),
    sa.CheckConstraint("outcome in ('send', 'holdout', 'skipped')", name='ck_automation_decision_outcome'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_automation_decisions_customer_id_customers'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name='fk_automation_decisions_outbox_id_outbox'),
    sa.PrimaryKeyConstraint('id', name='pk_automation_decisions'),
    sa.UniqueConstraint('automation', 'customer_id', 'occurrence', name='uq_automation_decision_occurrence')
    )
    with op.batch_alter_table('automation_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_automation_decisions_automation_day', ['automation', 'business_day'], unique=False)
        batch_op.create_index(batch_op.f('ix_automation_decisions_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('automation_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_automation_decisions_customer_id'))
        batch_op.drop_index('ix_automation_decisions_automation_day')

    op.drop_table('automation_decisions')
    with op.batch_alter_table('repurchase_intervals', schema=None) as batch_op:
        batch_op.drop_index('ix_repurchase_intervals_due_on')
        batch_op.drop_index('ix_repurchase_intervals_customer_sku')

    op.drop_table('repurchase_intervals')
    op.drop_table('automations')
    op.drop_table('automation_holdouts')
    with op.batch_alter_table('product_pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_product_pairs_sku_rank')

    op.drop_table('product_pairs')
