"""services: object-storage trial, service events, trial requests

Revision ID: 0008_service_trial_and_end
Revises: 0011_email_channel
Create Date: 2026-12-02 12:45:00.000000

Terms B 3: a trial's end (`services.trial_until`), the service's own append-only event log
(added, trial started, reminded, switched to paid, ended) and the clients' trial requests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.db
from crm.append_only import create_append_only_guard, drop_append_only_guard

revision: str = "0008_service_trial_and_end"
down_revision: str | None = "0011_email_channel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trial_until", crm.db.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "service_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_service_events_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_events")),
    )
    op.create_index(
        op.f("ix_service_events_service_id"), "service_events", ["service_id"], unique=False
    )
    create_append_only_guard("service_events")
    op.create_table(
        "trial_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", crm.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_trial_requests_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_trial_requests_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_trial_requests_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_requests")),
    )
    op.create_index(
        op.f("ix_trial_requests_customer_id"), "trial_requests", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_trial_requests_customer_id"), table_name="trial_requests")
    op.drop_table("trial_requests")
    drop_append_only_guard("service_events")
    op.drop_index(op.f("ix_service_events_service_id"), table_name="service_events")
    op.drop_table("service_events")
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `services` would
    # drop the table the tickets and incidents refer to, which foreign keys refuse.
    op.drop_column("services", "trial_until")
