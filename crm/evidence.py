"""The hash chain that makes the evidence log tamper-evident.

Every row of `ticket_events`, `incident_events` and `messages` gets one entry in
`evidence_chain`: the SHA-256 of the row's canonical content (`row_hash`) and a
`chain_hash` over the previous entry's hash, the table, the row id and `row_hash`. One
chain runs over all three tables in commit order, so a row changed, deleted or inserted
behind the application's back (triggers dropped, the file edited) is found by
`python -m crm verify`, and the head printed in a report pins everything before it.

Entries are appended by `ChainedSession` when a transaction commits, in that
transaction: an event and its entry are committed together or not at all. The head row
(`evidence_chain_head`) is read with FOR UPDATE, so on PostgreSQL concurrent committers
queue there for the few statements of the append instead of forking the chain; SQLite's
single writer already serialises them. Taking the lock at commit, not at the first
flush, keeps it out of the way of every other lock a transaction takes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event, insert, inspect, select, update
from sqlalchemy.orm import Session

from crm.models import EvidenceHead, EvidenceLink, IncidentEvent, Message, TicketEvent

GENESIS = "0" * 64
HEAD_ID = 1

# Only what never changes after the insert: a message's delivery status and the ids of its
# copy are filled in later and are not evidence of what was said or when.
EVIDENCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ticket_events": (
        "id", "ticket_id", "kind", "actor_telegram_id", "actor_role", "actor_name",
        "evidence_at", "recorded_at", "details",
    ),
    "incident_events": (
        "id", "incident_id", "kind", "actor_telegram_id", "actor_role", "actor_name",
        "evidence_at", "stated", "recorded_at", "details",
    ),
    "messages": (
        "id", "ticket_id", "direction", "sender_telegram_id", "chat_id", "telegram_message_id",
        "update_id", "content_type", "text", "file_ids", "telegram_date", "received_at",
    ),
}  # fmt: skip
EVIDENCE_MODELS: dict[type[Any], str] = {
    TicketEvent: "ticket_events",
    IncidentEvent: "incident_events",
    Message: "messages",
}
TABLE_ORDER = tuple(EVIDENCE_COLUMNS)
_PENDING = "evidence_pending"
# Rows inserted with Core statements (a polled batch's client messages, crm/usecases/
# clients_wrote_batch.py), which the ORM's flush never sees: (transaction, table, values).
_PENDING_ROWS = "evidence_pending_rows"
# The transactions (SAVEPOINTs) rolled back so far: rows written inside them never were.
_ROLLED_BACK = "evidence_rolled_back"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in evidence")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def row_hash(table: str, values: Mapping[str, Any]) -> str:
    """SHA-256 hex of the row's evidence columns as JSON with sorted keys, times in UTC."""
    content = {column: _plain(values[column]) for column in EVIDENCE_COLUMNS[table]}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def link_hash(prev_hash: str, table: str, row_id: int, content_hash: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{table}|{row_id}|{content_hash}".encode()).hexdigest()


def chain_entries(
    prev_seq: int, prev_hash: str, rows: Iterable[tuple[str, Mapping[str, Any]]], now: datetime
) -> list[dict[str, Any]]:
    """The entries that follow (`prev_seq`, `prev_hash`) for `rows` in their order."""
    entries = []
    for seq, (table, values) in enumerate(rows, start=prev_seq + 1):
        content = row_hash(table, values)
        chained = link_hash(prev_hash, table, int(values["id"]), content)
        entries.append(
            {
                "seq": seq,
                "table_name": table,
                "row_id": int(values["id"]),
                "row_hash": content,
                "prev_hash": prev_hash,
                "chain_hash": chained,
                "recorded_at": now,
            }
        )
        prev_hash = chained
    return entries


def append(connection: Connection, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Chains `rows` after the head, holding the head row's lock until the commit."""
    if not rows:
        return
    head = connection.execute(
        select(EvidenceHead.seq, EvidenceHead.chain_hash)
        .where(EvidenceHead.id == HEAD_ID)
        .with_for_update()
    ).one()
    entries = chain_entries(head.seq, head.chain_hash, rows, datetime.now(UTC))
    connection.execute(insert(EvidenceLink), entries)
    connection.execute(
        update(EvidenceHead)
        .where(EvidenceHead.id == HEAD_ID)
        .values(seq=entries[-1]["seq"], chain_hash=entries[-1]["chain_hash"])
    )


def _values(instance: Any, table: str) -> dict[str, Any]:
    return {column: getattr(instance, column) for column in EVIDENCE_COLUMNS[table]}


class ChainedSession(Session):
    """The CRM's session: evidence flushed in a transaction is chained when it commits."""


@event.listens_for(ChainedSession, "after_flush")
def _remember_new_evidence(session: Session, _context: Any) -> None:
    found = [obj for obj in session.new if type(obj) in EVIDENCE_MODELS]
    if found:
        session.info.setdefault(_PENDING, []).extend(found)


def inserted(session: Session, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Evidence rows inserted with a Core statement, each with every column of
    EVIDENCE_COLUMNS[table] and its id: chained when the transaction commits, in the same
    order as the ORM's (by table, then id), unless their SAVEPOINT is rolled back."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    found = session.info.setdefault(_PENDING_ROWS, [])
    found.extend((transaction, table, values) for values in rows)


def _kept(transaction: Any, rolled_back: set[Any]) -> bool:
    # A row is written if neither its SAVEPOINT nor any enclosing one was rolled back.
    while transaction is not None:
        if transaction in rolled_back:
            return False
        transaction = transaction.parent
    return True


@event.listens_for(ChainedSession, "before_commit")
def _chain_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a SAVEPOINT released: its rows are chained when the whole transaction is
    session.flush()
    pending = session.info.pop(_PENDING, [])
    # Rows of a SAVEPOINT rolled back meanwhile are transient again: they were never written.
    written = [
        (EVIDENCE_MODELS[type(obj)], _values(obj, EVIDENCE_MODELS[type(obj)]))
        for obj in pending
        if inspect(obj).persistent
    ]
    rolled_back: set[Any] = session.info.pop(_ROLLED_BACK, set())
    written += [
        (table, values)
        for transaction, table, values in session.info.pop(_PENDING_ROWS, [])
        if _kept(transaction, rolled_back)
    ]
    if not written:
        return
    written.sort(key=lambda row: (TABLE_ORDER.index(row[0]), row[1]["id"]))
    append(session.connection(), written)


@event.listens_for(ChainedSession, "after_soft_rollback")
def _remember_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.nested:
        session.info.setdefault(_ROLLED_BACK, set()).add(previous_transaction)


@event.listens_for(ChainedSession, "after_transaction_end")
def _forget_on_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_PENDING_ROWS, None)
        session.info.pop(_ROLLED_BACK, None)
