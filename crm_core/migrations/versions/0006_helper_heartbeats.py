"""helper heartbeats: which helper processes are alive, for /healthz

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('helper_heartbeats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('helper', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('beat_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('host', 'pid', name='uq_helper_heartbeats_host_pid')
    )
    with op.batch_alter_table('helper_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helper_heartbeats_beat_at'), ['beat_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('helper_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helper_heartbeats_beat_at'))

    op.drop_table('helper_heartbeats')
