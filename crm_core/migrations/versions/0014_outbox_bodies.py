"""outbox bodies: a campaign's identical messages stored once, each row with its own fill (the name)

`outbox.messages` may now be empty when the row points at a body; a check keeps one of the two.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 21:55:00
"""
from alembic import op
import sqlalchemy as sa
import crm_core.db


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_bodies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('messages', sa.Text(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('fill', sa.Text(), nullable=True))
        batch_op.alter_column('messages', existing_type=sa.JSON(), nullable=True)
        batch_op.create_foreign_key('fk_outbox_body_id_outbox_bodies', 'outbox_bodies', ['body_id'], ['id'])
        batch_op.create_check_constraint('ck_outbox_has_messages', 'messages IS NOT NULL OR body_id IS NOT NULL')


def downgrade() -> None:
    op.execute(
        "UPDATE outbox SET messages = (SELECT CAST(replace(b.messages, '@@kizuna-fill@@', COALESCE(outbox.fill, ''))"
        f" AS {'JSON' if op.get_bind().dialect.name == 'postgresql' else 'TEXT'})"
        " FROM outbox_bodies b WHERE b.id = outbox.body_id) WHERE body_id IS NOT NULL"
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('ck_outbox_has_messages', type_='check')
        batch_op.drop_constraint('fk_outbox_body_id_outbox_bodies', type_='foreignkey')
        batch_op.alter_column('messages', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('fill')
        batch_op.drop_column('body_id')
    op.drop_table('outbox_bodies')
