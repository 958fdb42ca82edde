"""evidence hash chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:50:00.000000

The rows a database already holds are chained table by table, each in id order:
ticket_events, then incident_events, then messages; from here on entries follow commit
order (crm/evidence.py). Their `recorded_at` is the time of this migration.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import crm.db
from crm.append_only import create_append_only_guard, drop_append_only_guard
from crm.evidence import EVIDENCE_COLUMNS, GENESIS, HEAD_ID, chain_entries
from crm.models import Base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    chain = op.create_table(
        "evidence_chain",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", crm.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_evidence_chain")),
        sa.UniqueConstraint(
            "table_name", "row_id", name=op.f("uq_evidence_chain_table_name_row_id")
        ),
    )
    with op.batch_alter_table("evidence_chain", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_chain_recorded_at"), ["recorded_at"], unique=False
        )
    head = op.create_table(
        "evidence_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_chain_head")),
    )
    seq, last = _chain_existing_rows(chain)
    op.bulk_insert(head, [{"id": HEAD_ID, "seq": seq, "chain_hash": last}])
    create_append_only_guard("evidence_chain")


def _chain_existing_rows(chain: sa.Table) -> tuple[int, str]:
    connection = op.get_bind()
    seq, last = 0, GENESIS
    now = datetime.now(UTC)
    for table_name, columns in EVIDENCE_COLUMNS.items():
        # The models' column types read times back aware and JSON decoded, as the app hashes.
        table = Base.metadata.tables[table_name]
        after = 0
        while True:
            rows = connection.execute(
                sa.select(*(table.c[name] for name in columns))
                .where(table.c.id > after)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            entries = chain_entries(
                seq, last, [(table_name, dict(row._mapping)) for row in rows], now
            )
            connection.execute(chain.insert(), entries)
            seq, last = entries[-1]["seq"], entries[-1]["chain_hash"]
            after = rows[-1].id
    return seq, last


def downgrade() -> None:
    drop_append_only_guard("evidence_chain")
    op.drop_table("evidence_chain_head")
    with op.batch_alter_table("evidence_chain", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_chain_recorded_at"))
    op.drop_table("evidence_chain")
