"""reservations: settings, resources, menus, bookings, claims

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25 03:20:37.151906
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import crm_core.db


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('booking_menus',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('duration_minutes >= 5 AND duration_minutes <= 720 AND duration_minutes % 5 = 0', name='ck_booking_menu_duration'),
    sa.CheckConstraint('price >= 0', name='ck_booking_menu_price'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('store_id', 'code', name='uq_booking_menu_code')
    )
    op.create_table('reservation_settings',
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('horizon_days', sa.Integer(), nullable=False),
    sa.Column('min_notice_minutes', sa.Integer(), nullable=False),
    sa.Column('cancel_deadline_minutes', sa.Integer(), nullable=False),
    sa.Column('hold_minutes', sa.Integer(), nullable=False),
    sa.Column('feed_version', sa.Integer(), nullable=False),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('cancel_deadline_minutes >= 0 AND cancel_deadline_minutes <= 10080', name='ck_rs_cancel'),
    sa.CheckConstraint('hold_minutes >= 1 AND hold_minutes <= 30', name='ck_rs_hold'),
    sa.CheckConstraint('horizon_days >= 1 AND horizon_days <= 365', name='ck_rs_horizon'),
    sa.CheckConstraint('min_notice_minutes >= 0 AND min_notice_minutes <= 10080', name='ck_rs_notice'),
    sa.CheckConstraint('slot_minutes >= 5 AND slot_minutes <= 240 AND slot_minutes % 5 = 0', name='ck_rs_slot'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('store_id')
    )
    op.create_table('booking_resources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('menu_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 1 AND capacity <= 1000', name='ck_booking_resource_capacity'),
    sa.ForeignKeyConstraint(['menu_id'], ['booking_menus.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('store_id', 'code', name='uq_booking_resource_code')
    )
    op.create_table('booking_menu_resources',
    sa.Column('menu_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['menu_id'], ['booking_menus.id'], ),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], ),
    sa.PrimaryKeyConstraint('menu_id', 'resource_id')
    )
    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('menu_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('hold_expires_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('remind_eve_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('remind_soon_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('changed_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name='ck_booking_hold'),
    sa.CheckConstraint("status in ('held', 'released', 'booked', 'cancelled', 'arrived', 'no_show')", name='ck_booking_status'),
    sa.CheckConstraint('ends_at > starts_at', name='ck_booking_times'),
    sa.CheckConstraint('price >= 0', name='ck_booking_price'),
    sa.ForeignKeyConstraint(['changed_by'], ['staff_users.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['staff_users.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['menu_id'], ['booking_menus.id'], ),
    sa.ForeignKeyConstraint(['replaces_id'], ['bookings.id'], ),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index('ix_bookings_customer_starts', ['customer_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_bookings_store_starts', ['store_id', 'starts_at'], unique=False)

    op.create_table('booking_claims',
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', crm_core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('place', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', crm_core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('place >= 1', name='ck_booking_claim_place'),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], ),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], ),
    sa.PrimaryKeyConstraint('resource_id', 'starts_at', 'place')
    )
    with op.batch_alter_table('booking_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_claims_booking_id'), ['booking_id'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booking_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_outbox_booking_id_bookings', 'bookings', ['booking_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_booking_id_bookings', type_='foreignkey')
        batch_op.drop_column('booking_id')

    with op.batch_alter_table('booking_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_claims_booking_id'))

    op.drop_table('booking_claims')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_bookings_store_starts')
        batch_op.drop_index('ix_bookings_customer_starts')

    op.drop_table('bookings')
    op.drop_table('booking_menu_resources')
    op.drop_table('booking_resources')
    op.drop_table('reservation_settings')
    op.drop_table('booking_menus')
