"""automation decisions and hold-outs without foreign keys: a campaign writes a million of each

The engine writes them from customers it has just read, and customers are never deleted; on
PostgreSQL each key was a lookup and a row lock per inserted row, more than a third of the time a
1,000,000-customer run spent writing. The decisions keep their customer index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 00:20:00
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('automation_decisions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_automation_decisions_customer_id_customers', type_='foreignkey')
        batch_op.drop_constraint('fk_automation_decisions_outbox_id_outbox', type_='foreignkey')
    with op.batch_alter_table('automation_holdouts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_automation_holdouts_customer_id_customers', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('automation_holdouts', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_automation_holdouts_customer_id_customers', 'customers', ['customer_id'], ['id']
        )
    with op.batch_alter_table('automation_decisions', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_automation_decisions_outbox_id_outbox', 'outbox', ['outbox_id'], ['id'])
        batch_op.create_foreign_key(
            'fk_automation_decisions_customer_id_customers', 'customers', ['customer_id'], ['id']
        )
