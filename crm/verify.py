"""Walks the evidence chain and recomputes it from the live rows (`python -m crm verify`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.evidence import EVIDENCE_COLUMNS, GENESIS, HEAD_ID, link_hash, row_hash
from crm.models import Base, EvidenceHead, EvidenceLink

# Entries read per round trip: SQLite caps the bound parameters of one `IN (...)`.
BATCH = 500


@dataclass(frozen=True)
class Verified:
    rows: int
    head: str


@dataclass(frozen=True)
class ChainBreak:
    """The first place where the chain and the tables disagree."""

    problem: str  # content changed | row missing | link broken | entry missing | not in the chain
    table: str | None
    row_id: int | None
    seq: int | None
    detail: str

    def describe(self) -> str:
        where = f"{self.table} id {self.row_id}" if self.table else "the chain"
        at = f" (entry {self.seq})" if self.seq is not None else ""
        return f"{where}{at}: {self.problem}: {self.detail}"


async def evidence_head(session: AsyncSession) -> str:
    """The chain hash of the last committed entry, as `verify` prints it."""
    head = await session.scalar(select(EvidenceHead.chain_hash).where(EvidenceHead.id == HEAD_ID))
    return head or GENESIS


async def verify_chain(
    session: AsyncSession, since: datetime | None = None
) -> Verified | ChainBreak:
    head = (
        await session.execute(
            select(EvidenceHead.seq, EvidenceHead.chain_hash).where(EvidenceHead.id == HEAD_ID)
        )
    ).one()
    start, prev = 1, GENESIS
    if since is not None:
        first = (
            await session.execute(
                select(EvidenceLink.seq, EvidenceLink.prev_hash)
                .where(EvidenceLink.recorded_at >= since)
                .order_by(EvidenceLink.seq)
                .limit(1)
            )
        ).first()
        if first is None:
            return Verified(0, head.chain_hash)
        start, prev = first.seq, first.prev_hash  # trusted: the earlier part is not read
    walked = await _walk(session, start, prev, head.seq)
    if isinstance(walked, ChainBreak):
        return walked
    count, last_seq, last_hash = walked
    # Entries cut off the end leave the head pointing past the last one.
    if last_seq != head.seq or last_hash != head.chain_hash:
        return ChainBreak(
            "entry missing", None, None, last_seq + 1,
            f"the head says entry {head.seq} ends the chain, the chain ends at {last_seq}",
        )  # fmt: skip
    unchained = await _first_unchained(session)
    return unchained or Verified(count, head.chain_hash)


async def _walk(
    session: AsyncSession, seq: int, prev: str, head_seq: int
) -> tuple[int, int, str] | ChainBreak:
    count, expected = 0, seq
    while expected <= head_seq:
        entries = (
            (
                await session.execute(
                    select(EvidenceLink)
                    .where(EvidenceLink.seq >= expected, EvidenceLink.seq <= head_seq)
                    .order_by(EvidenceLink.seq)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        if not entries:
            break
        live = await _live_rows(session, entries)
        for entry in entries:
            problem = _check(entry, expected, prev, live.get((entry.table_name, entry.row_id)))
            if problem is not None:
                return problem
            prev, expected, count = entry.chain_hash, expected + 1, count + 1
    return count, expected - 1, prev


def _check(
    entry: EvidenceLink, expected: int, prev: str, row: Mapping[str, Any] | None
) -> ChainBreak | None:
    def broken(problem: str, detail: str, seq: int = entry.seq) -> ChainBreak:
        return ChainBreak(problem, entry.table_name, entry.row_id, seq, detail)

    if entry.seq != expected:
        return broken("entry missing", f"entry {expected} is not in the chain", expected)
    if entry.prev_hash != prev:
        return broken("link broken", "its previous hash is not the hash of the entry before")
    if link_hash(prev, entry.table_name, entry.row_id, entry.row_hash) != entry.chain_hash:
        return broken("link broken", "its chain hash does not match its own fields")
    if row is None:
        return broken("row missing", "the row was deleted")
    if row_hash(entry.table_name, row) != entry.row_hash:
        return broken("content changed", "the row differs from what was recorded")
    return None


async def _live_rows(
    session: AsyncSession, entries: Sequence[EvidenceLink]
) -> dict[tuple[str, int], Mapping[str, Any]]:
    wanted: dict[str, list[int]] = {}
    for entry in entries:
        wanted.setdefault(entry.table_name, []).append(entry.row_id)
    live: dict[tuple[str, int], Mapping[str, Any]] = {}
    for table_name, ids in wanted.items():
        if table_name not in EVIDENCE_COLUMNS:
            continue  # a forged entry naming no evidence table: its row is "missing"
        table = Base.metadata.tables[table_name]
        columns = [table.c[name] for name in EVIDENCE_COLUMNS[table_name]]
        for row in await session.execute(select(*columns).where(table.c.id.in_(ids))):
            live[(table_name, row.id)] = dict(row._mapping)
    return live


async def _first_unchained(session: AsyncSession) -> ChainBreak | None:
    """A row written past the application (a plain INSERT) has no entry at all."""
    for table_name in EVIDENCE_COLUMNS:
        table = Base.metadata.tables[table_name]
        row_id = await session.scalar(
            select(table.c.id)
            .outerjoin(
                EvidenceLink,
                and_(EvidenceLink.table_name == table_name, EvidenceLink.row_id == table.c.id),
            )
            .where(EvidenceLink.seq.is_(None))
            .order_by(table.c.id)
            .limit(1)
        )
        if row_id is not None:
            return ChainBreak(
                "not in the chain", table_name, row_id, None, "the row has no chain entry"
            )
    return None
