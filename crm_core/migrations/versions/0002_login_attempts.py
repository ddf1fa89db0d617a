"""login attempts: failed console logins, for throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('occurred_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_email_occurred_at', ['email', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_email_occurred_at')
    op.drop_table('login_attempts')
