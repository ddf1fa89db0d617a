"""server-side console sessions, login failures by client address, API token scopes and store

Tokens made before this migration keep every scope (scopes NULL) and no store restriction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 12:46:09
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name='fk_staff_sessions_staff_user_id_staff_users', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name='pk_staff_sessions')
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_staff_user_id'), ['staff_user_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('store_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_api_tokens_store_id_stores', 'stores', ['store_id'], ['id'])

    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True))
        batch_op.create_index('ix_login_attempts_client_address_occurred_at', ['client_address', 'occurred_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_client_address_occurred_at')
        batch_op.drop_column('client_address')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('fk_api_tokens_store_id_stores', type_='foreignkey')
        batch_op.drop_column('store_id')
        batch_op.drop_column('scopes')

    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_staff_user_id'))

    op.drop_table('staff_sessions')
