"""hand-offs to other departments

Revision ID: 0010_edits_albums_handoff
Revises: 0008_service_trial_and_end
Create Date: 2026-12-02 12:40:00.000000

Edits are `client_edited` / `engineer_edited` ticket events and albums travel as one
`copyMessages` outbox row, so neither needs a table; a hand-off keeps where the department
talks about the ticket.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.db

revision: str = "0010_edits_albums_handoff"
down_revision: str | None = "0008_service_trial_and_end"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("post_message_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("by_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("by_name", sa.String(length=300), nullable=True),
        sa.Column("handed_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_handoffs_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_ticket_id"), "handoffs", ["ticket_id"])
    op.create_index("ix_handoffs_topic", "handoffs", ["chat_id", "thread_id"])
    op.create_index("ix_handoffs_post", "handoffs", ["chat_id", "post_message_id"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_post", table_name="handoffs")
    op.drop_index("ix_handoffs_topic", table_name="handoffs")
    op.drop_index(op.f("ix_handoffs_ticket_id"), table_name="handoffs")
    op.drop_table("handoffs")
