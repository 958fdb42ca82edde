"""storms: reports gathered in an outage's room, and the room's answers to every client

Revision ID: 0012_storm_rooms
Revises: 0009_outbox_send_index
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.db

revision: str = "0012_storm_rooms"
down_revision: str | None = "0009_outbox_send_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain column: rebuilding `tickets` (SQLite's way to add a foreign key) would have to
    # delete the rows of every table that refers to it first.
    op.add_column("tickets", sa.Column("gathered_in_id", sa.Integer(), nullable=True))
    op.create_table(
        "room_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_date", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "telegram_message_id"),
    )
    op.create_index("ix_room_answers_incident_id", "room_answers", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_room_answers_incident_id", table_name="room_answers")
    op.drop_table("room_answers")
    op.execute("ALTER TABLE tickets DROP COLUMN gathered_in_id")  # SQLite 3.35+
