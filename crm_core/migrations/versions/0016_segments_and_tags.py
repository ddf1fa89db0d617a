"""segments (saved audiences of rules) and customer tags

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 00:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_tags',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_customer_tags_customer_id_customers'),
    sa.PrimaryKeyConstraint('customer_id', 'tag', name='pk_customer_tags')
    )
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.create_index('ix_customer_tags_tag', ['tag'], unique=False)
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['staff_users.id'], name='fk_segments_updated_by_staff_users'),
    sa.PrimaryKeyConstraint('id', name='pk_segments'),
    sa.UniqueConstraint('name', name='uq_segments_name')
    )


def downgrade() -> None:
    op.drop_table('segments')
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_tags_tag')
    op.drop_table('customer_tags')
