"""outbox: an index for the pending job rows

The worker finds each chat's next row by the (status, chat_id, id) index; job rows (reports
to build) are looked up by method, which this index serves without reading the backlog.

Revision ID: 0009_outbox_send_index
Revises: 0010_edits_albums_handoff
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_outbox_send_index"
down_revision: str | None = "0010_edits_albums_handoff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending_method", ["status", "method", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending_method")
