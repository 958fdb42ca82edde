"""incidents gather notices and have rooms

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:00:00.000000

An incident is a provider event: `incident_notices` holds every report of it (client
messages from any ticket, phone notices, monitoring records), append-only. Existing data
moves over as it was read before: an incident's ticket becomes its first notice, at the
recorded client notice time, and its monitoring start and end become monitoring notices.
Tickets learn the kind of service they are about when the customer has only one kind.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import crm.db
from crm.append_only import create_append_only_guard, drop_append_only_guard

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    notices = op.create_table(
        "incident_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("noticed_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", crm.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("monitoring_ref", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("actor_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_name", sa.String(length=300), nullable=True),
        sa.Column("recorded_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.create_index("ix_incident_notices_incident_id", ["incident_id"], unique=False)
        batch_op.create_index("ix_incident_notices_ticket_id", ["ticket_id"], unique=False)
        batch_op.create_index(
            "ix_incident_notices_monitoring_ref", ["monitoring_ref"], unique=False
        )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_client_notice_at", crm.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("room_thread_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_type", sa.String(length=32), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbox_incident_id_incidents", "incidents", ["incident_id"], ["id"]
        )
    _move_existing_incidents(notices)
    _type_tickets()
    create_append_only_guard("incident_notices")


def _move_existing_incidents(notices: sa.Table) -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.text(
            "SELECT i.id, i.ticket_id, i.client_notice_at, i.monitoring_start_at, "
            "i.monitoring_end_at, i.monitoring_ref, t.channel FROM incidents i "
            "LEFT JOIN tickets t ON t.id = i.ticket_id ORDER BY i.id"
        )
    ).all()
    moved: list[dict[str, object]] = []
    for incident_id, ticket_id, notice_at, start, end, ref, channel in rows:
        notice_at, start, end = (_aware(x) for x in (notice_at, start, end))
        if notice_at is not None:
            source = "client" if channel in (None, "telegram") else "phone"
            moved.append(_row(incident_id, source, ticket_id, notice_at, None, None, now))
        if start is not None:
            moved.append(_row(incident_id, "monitoring", None, start, None, ref, now))
        if end is not None:
            moved.append(_row(incident_id, "monitoring", None, end, end, ref, now))
    if moved:
        op.bulk_insert(notices, moved)
    bind.execute(sa.text("UPDATE incidents SET last_client_notice_at = client_notice_at"))


def _row(
    incident_id: int,
    source: str,
    ticket_id: int | None,
    noticed_at: datetime,
    ends_at: datetime | None,
    ref: str | None,
    now: datetime,
) -> dict[str, object]:
    return {
        "incident_id": incident_id,
        "source": source,
        "ticket_id": ticket_id,
        "noticed_at": noticed_at,
        "ends_at": ends_at,
        "monitoring_ref": ref,
        "recorded_at": now,
    }


def _aware(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _type_tickets() -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE tickets SET service_type = COALESCE("
            "(SELECT s.service_type FROM services s WHERE s.id = tickets.service_id),"
            "(SELECT MIN(s.service_type) FROM services s WHERE s.customer_id = tickets.customer_id"
            " HAVING COUNT(DISTINCT s.service_type) = 1))"
        )
    )


def downgrade() -> None:
    drop_append_only_guard("incident_notices")
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_notices_monitoring_ref")
        batch_op.drop_index("ix_incident_notices_ticket_id")
        batch_op.drop_index("ix_incident_notices_incident_id")
    op.drop_table("incident_notices")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_incident_id_incidents", type_="foreignkey")
        batch_op.drop_column("incident_id")
    # Plain DROP COLUMN (SQLite 3.35+): rebuilding a table other tables refer to would
    # have to delete its rows first.
    op.execute("ALTER TABLE tickets DROP COLUMN service_type")
    op.execute("ALTER TABLE incidents DROP COLUMN room_thread_id")
    op.execute("ALTER TABLE incidents DROP COLUMN last_client_notice_at")
