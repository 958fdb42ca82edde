"""Reads one month of evidence from the database into the pure SLA engine."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from array import array
from collections.abc import AsyncGenerator, Awaitable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    Result,
    Row,
    Select,
    String,
    Subquery,
    and_,
    any_,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import UserDefinedType

from crm.db import UtcDateTime
from crm.errors import CrmError
from crm.models import (
    CreditClaim,
    Customer,
    Handoff,
    Incident,
    Service,
    Ticket,
)
from crm.models import MaintenanceWindow as MaintenanceRow
from crm.verify import evidence_head
from sla import (
    IncidentRecord,
    Interval,
    MaintenanceWindow,
    MonthlyReport,
    ServiceRecord,
    SlaConfig,
    TicketRecord,
    build_monthly_report,
    month_bounds,
)
from sla.model import Channel, ServiceType
from sla.report import (
    ReportHead,
    ServiceReport,
    ServiceReporter,
    report_head,
    service_order,
)
from sla.targets import TargetCheck
from sla.ticket_stats import GroupKey, TicketTally


@dataclass(frozen=True)
class MonthEvidence:
    services: list[ServiceRecord]
    incidents: list[IncidentRecord]
    maintenance: list[MaintenanceWindow]
    tickets: list[TicketRecord]
    claims: list[tuple[int, str]]
    # The evidence chain's head, read in the same transaction as the rows above.
    evidence_head: str | None = None


_MICROSECOND = timedelta(microseconds=1)

# The database columns each record is read from, in the order of the record's fields. The
# report selects them as plain rows; the live clocks select them beside the ORM objects they
# alert about; both convert with the functions below, so both apply the rules to one reading.
SERVICE_COLUMNS = (
    Service.id, Service.customer_id, Customer.name, Service.service_type, Service.monthly_fee,
    Service.currency, Service.active_from, Service.active_to, Service.in_provider_dc,
    Service.trial_until, Service.name,
)  # fmt: skip
INCIDENT_COLUMNS = (
    Incident.id, Incident.service_id, Incident.ticket_id, Incident.client_notice_at,
    Incident.monitoring_start_at, Incident.monitoring_end_at, Incident.status,
    Incident.confirmed_at, Incident.layer, Incident.restored_at, Incident.exclusion,
    Incident.restoration_type, Incident.data_loss, Incident.last_client_notice_at,
)  # fmt: skip
# Needs `.outerjoin(Service, Service.id == Ticket.service_id)`: a ticket may name no service.
TICKET_COLUMNS = (
    Ticket.id, Ticket.channel, func.coalesce(Service.service_type, Ticket.service_type),
    Ticket.category, Ticket.opened_at,
    Ticket.first_response_at, Ticket.resolved_at, Ticket.emergency,
    exists().where(Handoff.ticket_id == Ticket.id).label("handed_off"),
)  # fmt: skip
INCIDENT_RECORD_FIELDS = (
    "incident_id", "service_id", "ticket_number", "client_notice_at", "monitoring_start_at",
    "monitoring_end_at", "status", "confirmed_at", "layer", "restored_at", "exclusion",
    "restoration_type", "data_loss", "last_client_notice_at",
)  # fmt: skip


def service_record(values: Sequence[Any]) -> ServiceRecord:
    """`values`: SERVICE_COLUMNS of one row."""
    return ServiceRecord(*values)


def service_record_of(service: Service) -> ServiceRecord:
    """A service already loaded as an ORM object (with its customer), read through the
    same columns as the report's."""
    return service_record(
        [
            service.customer.name if column is Customer.name else getattr(service, column.key)
            for column in SERVICE_COLUMNS
        ]
    )


def incident_record(values: Sequence[Any]) -> IncidentRecord:
    """`values`: INCIDENT_COLUMNS of one row."""
    return IncidentRecord(*values)


# INCIDENT_COLUMNS are IncidentRecord's fields in order: `incident_record` passes them so.
assert [field.name for field in fields(IncidentRecord)] == list(INCIDENT_RECORD_FIELDS)
assert len(INCIDENT_COLUMNS) == len(INCIDENT_RECORD_FIELDS)


def incident_record_of(incident: Incident) -> IncidentRecord:
    """An incident already loaded as an ORM object, read through the same columns."""
    return incident_record([getattr(incident, column.key) for column in INCIDENT_COLUMNS])


def ticket_record(values: Sequence[Any]) -> TicketRecord:
    """`values`: TICKET_COLUMNS of one row."""
    number, channel, service_type, category, *times, emergency, handed_off = values
    opened_at, first_response_at, resolved_at = times
    return TicketRecord(
        number=number,
        channel=channel,
        service_type=service_type,
        category=category.value if category else "",
        opened_at=opened_at,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
        emergency=emergency,
        handed_off=bool(handed_off),
    )


class _SqliteInstant(UserDefinedType[datetime]):
    """An instant stored by `UtcDateTime` on SQLite (UTC as text, "YYYY-MM-DD HH:MM:SS.ffffff"),
    read as `UtcDateTime` reads it (aware, UTC) by one C parse: `UtcDateTime` goes through
    SQLAlchemy's parse of the text and `datetime.replace`, ~1.5 µs a value, and a month's
    report reads a million of them."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "DATETIME"

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            # With its offset written out, the text parses straight to an aware instant
            # (`datetime.replace` took four times the parse).
            return None if value is None else parse(value + "+00:00")

        return process


_SQLITE_INSTANT = _SqliteInstant()


def _read(columns: Sequence[Any], dialect: str) -> list[Any]:
    """`columns` to select, the instants among them read by `_SqliteInstant` on SQLite
    (the same values; PostgreSQL's driver gives them parsed)."""
    if dialect != "sqlite":
        return list(columns)
    return [
        type_coerce(column, _SQLITE_INSTANT) if isinstance(column.type, UtcDateTime) else column
        for column in columns
    ]


async def _rows(session: AsyncSession, statement: Executable) -> Result[Any]:
    """Plain rows through the session's connection (its transaction), without the ORM's
    result processing: the report reads columns, never entities."""
    connection = await session.connection()
    return await connection.execute(statement)


def _ticket_query(columns: Sequence[Any], period: Interval, customer_id: int | None) -> Select[Any]:
    query = select(*columns)
    if columns is TICKET_COLUMNS:
        query = query.outerjoin(Service, Service.id == Ticket.service_id)
    query = query.where(Ticket.opened_at >= period.start, Ticket.opened_at < period.end)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    return query


async def load_month(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    customer_id: int | None = None,
    *,
    with_tickets: bool = True,
) -> MonthEvidence:
    """Everything the month's report is built from. `with_tickets=False` leaves the
    tickets out (an empty list): `tally_month_tickets` counts them instead."""
    period = month_bounds(month, config.zone)
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise CrmError("unknown_customer", customer_id=customer_id)
    head = await evidence_head(session)

    active_in_month = _active_in_month(period, customer_id)
    # Sub-selects rather than id lists: SQLite caps bound parameters, a month has 100k services.
    service_ids = select(Service.id).where(*active_in_month)
    services = [
        service_record(row)
        for row in await _rows(
            session,
            select(*SERVICE_COLUMNS)
            .join(Customer, Customer.id == Service.customer_id)
            .where(*active_in_month)
            .order_by(Service.id),
        )
    ]

    incidents = await _incidents_of_month(session, service_ids, period)
    maintenance = await _maintenance_of_month(session, service_ids, period)
    # Plain rows, not ORM objects: a month may hold a million tickets.
    tickets = []
    if with_tickets:
        ticket_query = _ticket_query(TICKET_COLUMNS, period, customer_id).order_by(Ticket.id)
        tickets = [ticket_record(row) for row in await _rows(session, ticket_query)]
    return MonthEvidence(
        services=services,
        incidents=incidents,
        maintenance=maintenance,
        tickets=tickets,
        claims=await _claims_of_month(session, service_ids, month),
        evidence_head=head,
    )


def _active_in_month(period: Interval, customer_id: int | None) -> list[ColumnElement[bool]]:
    """The services the month's report lists (of one customer, or all)."""
    active = [
        Service.active_from < period.end,
        or_(Service.active_to.is_(None), Service.active_to > period.start),
    ]
    if customer_id is not None:
        active.append(Service.customer_id == customer_id)
    return active


async def _maintenance_of_month(
    session: AsyncSession, service_ids: Select[Any], period: Interval
) -> list[MaintenanceWindow]:
    windows: Sequence[Any] = (
        await _rows(
            session,
            select(
                MaintenanceRow.service_id,
                MaintenanceRow.starts_at,
                MaintenanceRow.ends_at,
                MaintenanceRow.cancelled_at,
            ).where(
                MaintenanceRow.starts_at < period.end,
                MaintenanceRow.ends_at > period.start,
                or_(
                    MaintenanceRow.service_id.is_(None), MaintenanceRow.service_id.in_(service_ids)
                ),
            ),
        )
    ).all()
    return [
        MaintenanceWindow(service_id, starts_at, ends_at, cancelled_at is not None)
        for service_id, starts_at, ends_at, cancelled_at in windows
    ]


async def _claims_of_month(
    session: AsyncSession, service_ids: Select[Any], month: str
) -> list[tuple[int, str]]:
    claims: Sequence[Any] = (
        await _rows(
            session,
            select(CreditClaim.service_id, CreditClaim.month).where(
                CreditClaim.month == month, CreditClaim.service_id.in_(service_ids)
            ),
        )
    ).all()
    return [(service_id, claim_month) for service_id, claim_month in claims]


def _fraction_microseconds(column: Any) -> ColumnElement[int]:
    """SQLite: the microseconds of an instant stored as UTC text, "YYYY-MM-DD HH:MM:SS.ffffff"
    (SQLAlchemy's format; a shorter or missing fraction is read as the digits it has)."""
    return cast(func.substr(func.substr(column, 21, type_=String) + "000000", 1, 6), Integer)


# unixepoch() came with SQLite 3.38 (aiosqlite drives the standard library's sqlite3).
_SQLITE_HAS_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38)


def _elapsed_microseconds(done: Any, started: Any, dialect: str) -> ColumnElement[int]:
    """`done - started` in integer microseconds, exactly (negative when done is earlier)."""
    if dialect == "sqlite":
        # SQLite's date functions round fractions to the millisecond: whole seconds apart
        # (the Unix time of the text up to the seconds: an integer, nothing rounded), the
        # fraction from the text.
        def unix_seconds(instant: Any) -> Any:
            seconds = func.substr(instant, 1, 19)
            if _SQLITE_HAS_UNIXEPOCH:
                return func.unixepoch(seconds)
            return cast(func.strftime("%s", seconds), Integer)  # ~15 % slower

        seconds = unix_seconds(done) - unix_seconds(started)
        return seconds * 1_000_000 + _fraction_microseconds(done) - _fraction_microseconds(started)
    return cast(func.round(extract("epoch", done - started) * 1_000_000), BigInteger)


def _epoch_microseconds(instant: Any, dialect: str) -> ColumnElement[int]:
    """An instant as integer microseconds since the Unix epoch, exactly (`sla`'s
    `epoch_microseconds`)."""
    if dialect == "sqlite":
        seconds = func.substr(instant, 1, 19)
        whole = (
            func.unixepoch(seconds)
            if _SQLITE_HAS_UNIXEPOCH
            else cast(func.strftime("%s", seconds), Integer)
        )
        return whole * 1_000_000 + _fraction_microseconds(instant)
    return cast(func.round(extract("epoch", instant) * 1_000_000), BigInteger)


def _items(values: Any, piece: int = 1 << 16) -> Iterator[str]:
    """A `group_concat`/`string_agg` back into its items, split a piece of the text at a
    time: a million items split at once were a million strings at once."""
    if values is None:
        return
    text = str(values)
    start = 0
    while start < len(text):
        end = text.find(",", start + piece)
        if end < 0:
            end = len(text)
        yield from text[start:end].split(",")
        start = end + 1


def _numbers(values: Any, piece: int = 1 << 16) -> Iterator[int]:
    """A `group_concat`/`string_agg` of integers back into integers (`_items`)."""
    return map(int, _items(values, piece))


def _joined(values: Any, piece: int = 1 << 16) -> array[int]:
    """`_numbers` as an array of 8-byte integers."""
    return array("q", _numbers(values, piece))


# The groups of tickets (channel, emergency, handed off) as a small number each, carried
# in the low bits of the numbers the ticket query joins: (value << _GROUP_BITS) | group.
_GROUPS: tuple[GroupKey, ...] = tuple(
    (channel, emergency, handed_off)
    for channel in Channel
    for emergency in (False, True)
    for handed_off in (False, True)
)
_GROUP_BITS = 4
_GROUP_MASK = (1 << _GROUP_BITS) - 1
assert len(_GROUPS) <= 1 << _GROUP_BITS
# The SQL below numbers a group 4 × channel (in `Channel` order) + 2 × emergency + handed off.
assert _GROUPS[4 * 2 + 2 + 1] == (list(Channel)[2], True, True)


def _by_group(values: Any) -> list[array[int]]:
    """The joined numbers `(value << _GROUP_BITS) | group` split into one array per group
    (in `_GROUPS` order), values in the order read."""
    arrays: list[array[int]] = [array("q") for _ in _GROUPS]
    appends = [numbers.append for numbers in arrays]
    for number in _numbers(values):
        appends[number & _GROUP_MASK](number >> _GROUP_BITS)
    return arrays


def _fenced(query: Select[Any]) -> Subquery:
    """A subquery the database computes once per row and does not merge into the query
    around it (an OFFSET keeps SQLite from flattening it and is PostgreSQL's usual fence):
    its computed columns are then computed once, however often they are used above."""
    return query.offset(0).subquery()


def _month_tickets(period: Interval, customer_id: int | None, dialect: str) -> Subquery:
    """The month's tickets with what their figures depend on: their group (as a number,
    `_GROUPS`), object storage (by their service, else by their own type, as TICKET_COLUMNS
    reads it; without a join: a join to the services cost more than the rest) and times."""
    storage = ServiceType.OBJECT_STORAGE
    own_type_is_storage = func.coalesce(Ticket.service_type == storage, False)
    object_storage = case(
        (Ticket.service_id.is_(None), own_type_is_storage),
        (Ticket.service_id.in_(select(Service.id).where(Service.service_type == storage)), true()),
        # Not an object-storage service: of a service that is there, that service's type
        # wins; only a ticket whose service is not there is read by its own type.
        (own_type_is_storage.is_(False), false()),
        else_=Ticket.service_id.not_in(select(Service.id)),
    )
    group = (
        case(*((Ticket.channel == ch, n * 4) for n, ch in enumerate(Channel)), else_=null())
        + case((Ticket.emergency.is_(True), 2), else_=0)
        + case((Ticket.id.in_(select(Handoff.ticket_id)), 1), else_=0)
    )
    return _fenced(
        _ticket_query(
            (
                Ticket.id, Ticket.channel, Ticket.emergency, group.label("grp"),
                case((object_storage, 1), else_=0).label("object_storage"),
                Ticket.opened_at, Ticket.first_response_at, Ticket.resolved_at,
            ),
            period,
            customer_id,
        )
    )  # fmt: skip


def _joined_in_sql(values: Any, dialect: str) -> Any:
    """The values as one text: one row, not one per ticket."""
    if dialect == "sqlite":
        return func.group_concat(values)
    return func.string_agg(cast(values, String), literal_column("','"))


def _by_mode(t: Any, values: dict[tuple[Channel, bool], Any], type_: Any) -> Any:
    """`values[(channel, emergency)]` of each ticket; NULL where there is none."""
    return case(
        *(
            (and_(t.channel == channel, t.emergency == emergency), literal(value, type_))
            for (channel, emergency), value in values.items()
            if value is not None
        ),
        else_=null(),
    )


def _breach_text(number: Any, opened_at: Any, elapsed: Any, dialect: str) -> Any:
    """A breached ticket as the text "number:opened:elapsed" (microseconds since the epoch;
    done minus opened, empty when not done), its opening computed for the breached alone."""

    def text(value: Any) -> Any:
        return cast(value, String)

    return (
        text(number)
        + literal(":")
        + text(_epoch_microseconds(opened_at, dialect))
        + literal(":")
        + func.coalesce(text(elapsed), literal(""))
    )


def _group_query(tickets: Subquery, tally: TicketTally, dialect: str) -> Select[Any]:
    """One row for the month: per ticket answered, its response time (microseconds) and
    group; per ticket not answered, its group and whether it is past due; the numbers of
    the breached, with their group; the object-storage tickets' count, processing times,
    how many unresolved are past due, and the numbers of the breached. Joined as texts, the
    group in each number's low bits (`_GROUPS`): no GROUP BY, whose sort of a million rows
    cost more than the rest. The targets and deadlines come from `tally`, which counts the
    breaches itself and checks each."""
    t = tickets.c

    def joined(values: Any) -> Any:
        return _joined_in_sql(values, dialect)

    def by_mode(values: dict[tuple[Channel, bool], Any], type_: Any) -> Any:
        return _by_mode(t, values, type_)

    modes = [(channel, emergency) for channel in Channel for emergency in (False, True)]
    targets = {mode: tally.response_target(*mode) for mode in modes}
    response_limit = by_mode(
        {m: None if v is None else v // _MICROSECOND for m, v in targets.items()}, BigInteger
    )
    response_due = by_mode(
        {m: None if v is None else tally.overdue_before(v) for m, v in targets.items()},
        UtcDateTime,
    )
    processing_limit = tally.processing_target // _MICROSECOND
    processing_due = literal(tally.overdue_before(tally.processing_target), UtcDateTime)
    storage = t.object_storage == 1
    # Each ticket's times computed once (a fenced subquery), then classified.
    timed = _fenced(
        select(
            t.id,
            t.grp,
            t.object_storage,
            t.opened_at,
            response_limit.label("response_limit"),
            _elapsed_microseconds(t.first_response_at, t.opened_at, dialect).label("response"),
            case(
                (and_(t.first_response_at.is_(None), t.opened_at < response_due), 1), else_=0
            ).label("late"),
            case(
                (storage, _elapsed_microseconds(t.resolved_at, t.opened_at, dialect)),
                else_=null(),
            ).label("processing"),
            case(
                (and_(storage, t.resolved_at.is_(None), t.opened_at < processing_due), 1), else_=0
            ).label("overdue"),
        ).select_from(tickets)
    ).c
    shift = 1 << _GROUP_BITS

    def breach(number: Any, elapsed: Any) -> Any:
        return _breach_text(number, timed.opened_at, elapsed, dialect)

    return select(
        joined(timed.response * shift + timed.grp),  # NULL (left out) when not answered
        joined(case((timed.response.is_(None), timed.late * shift + timed.grp), else_=null())),
        joined(
            case(
                (or_(timed.late == 1, timed.response > timed.response_limit),
                 breach(timed.id * shift + timed.grp, timed.response)),
                else_=null(),
            )
        ),
        func.coalesce(func.sum(timed.object_storage), 0),
        joined(timed.processing),  # NULL (left out) when not object storage or not resolved
        func.coalesce(func.sum(timed.overdue), 0),
        joined(
            case(
                (or_(timed.overdue == 1, timed.processing > processing_limit),
                 breach(timed.id, timed.processing)),
                else_=null(),
            )
        ),
    )  # fmt: skip


def _among(column: Any, numbers: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """`column IN numbers`, the numbers bound as one value (SQLite caps bound parameters)."""
    if dialect == "sqlite":
        listed = func.json_each(json.dumps(list(numbers))).table_valued("value")
        return column.in_(select(listed.c.value))
    # The generic ARRAY: importing PostgreSQL's dialect here cost every SQLite report
    # ~50 ms of start-up.
    return column == any_(cast(literal(list(numbers), ARRAY(BigInteger)), ARRAY(BigInteger)))


async def tally_month_tickets(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
) -> TicketTally:
    """The month's ticket figures counted by the database: per group of channel, mode and
    hand-off, one row with the counts and the elapsed times (microseconds, one text each)
    and the breached tickets' numbers, openings and elapsed times. The targets and the
    moment each becomes past due come from the tally (`sla`), which classifies the elapsed
    times itself, names the breached tickets and checks each: a million tickets never pass
    through Python one by one."""
    period = month_bounds(month, config.zone)
    tally = TicketTally(config, now, period)
    connection = await session.connection()
    dialect = connection.dialect.name
    query = _group_query(_month_tickets(period, customer_id, dialect), tally, dialect)
    row = (await connection.execute(query)).one()
    answered, unanswered, late_breaches, storage, processing, overdue, overdue_breaches = row
    elapsed = _by_group(answered)
    del answered
    # Per group: how many were not answered, and how many of those are past due.
    waiting = [0] * len(_GROUPS)
    late = [0] * len(_GROUPS)
    for number in _numbers(unanswered):
        group = number & _GROUP_MASK
        waiting[group] += 1
        late[group] += number >> _GROUP_BITS
    for index, group_key in enumerate(_GROUPS):
        count = len(elapsed[index]) + waiting[index]
        if count:
            tally.add_group(group_key, count, elapsed[index], late[index])
        elapsed[index] = array("q")
    tally.add_group(None, storage, _joined(processing), overdue)
    del processing, elapsed
    # The breached tickets, each checked by the tally: "number:opened:elapsed" (the group
    # in the number's low bits; no group: object-storage processing).
    for item in _items(late_breaches):
        key, opened, done = item.split(":")
        number = int(key)
        group_key = _GROUPS[number & _GROUP_MASK]
        tally.add_breach(group_key, number >> _GROUP_BITS, int(opened), _elapsed(done))
    for item in _items(overdue_breaches):
        key, opened, done = item.split(":")
        tally.add_breach(None, int(key), int(opened), _elapsed(done))
    return tally


def _elapsed(text: str) -> int | None:
    return int(text) if text else None


async def monthly_report(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
    *,
    with_tickets: bool = False,
) -> tuple[MonthlyReport, MonthEvidence]:
    """The report; the evidence it was built from, with the ticket records only when
    `with_tickets` (the workbook lists them; the figures never need them)."""
    # The tickets are counted first: what counting them takes is given back before the
    # services and incidents are read.
    tally = None
    if not with_tickets:
        tally = await tally_month_tickets(session, month, config, now, customer_id)
    evidence = await load_month(session, month, config, customer_id, with_tickets=with_tickets)
    counted: list[TicketRecord] | TicketTally = evidence.tickets if tally is None else tally
    report = build_monthly_report(
        month,
        evidence.services,
        evidence.incidents,
        evidence.maintenance,
        counted,
        evidence.claims,
        config,
        now,
        evidence.evidence_head,
    )
    return report, evidence


# Services read, reported and written per round of the streamed report.
REPORT_CHUNK = 2_000


@dataclass
class StreamedHead:
    """The head of a streamed report. `opening`: what precedes the services in each
    format (it never depends on the tickets of a report that lists services; the text
    and JSON writers check it again as the report ends); `complete()`: the whole head,
    with the ticket figures and the restorations, gathered from the services' incidents
    while they were read (no query of their own), once the services have all been read."""

    month: str
    config: SlaConfig
    now: datetime
    # How many services the report lists (each active in the month).
    listed: int
    evidence_head: str | None
    # Counted already, or being counted on another connection (`stream_monthly_report`).
    tickets: TicketTally | Awaitable[TicketTally]
    # (service, its checks in incident order), as the services were read.
    _restorations: list[tuple[int, list[TargetCheck]]] = field(default_factory=list)
    _read: bool = False

    @property
    def opening(self) -> ReportHead:
        tickets = self.tickets
        if not isinstance(tickets, TicketTally):
            # Not counted yet: only the part before the services is written from this.
            tickets = TicketTally(self.config, self.now, month_bounds(self.month, self.config.zone))
        return self._head(tickets, ())

    def _head(self, tickets: TicketTally, restorations: Iterable[TargetCheck]) -> ReportHead:
        return report_head(
            self.month, self.listed > 0, restorations, tickets, self.config, self.now,
            self.evidence_head,
        )  # fmt: skip

    def gathered(self, service_id: int, checks: list[TargetCheck]) -> None:
        """A service's restoration checks, as its incidents are read."""
        if checks:
            self._restorations.append((service_id, checks))

    def all_read(self) -> None:
        self._read = True

    async def complete(self) -> ReportHead:
        if not self._read:
            raise RuntimeError("the report's services have not all been read")
        tickets = self.tickets
        if not isinstance(tickets, TicketTally):
            tickets = self.tickets = await tickets
        # `month_restoration_checks`' order: by service, then incident (ids).
        self._restorations.sort(key=lambda item: item[0])
        return self._head(tickets, (c for _, checks in self._restorations for c in checks))


async def stream_monthly_report(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
    *,
    chunk: int = REPORT_CHUNK,
    tickets: asyncio.Future[TicketTally] | None = None,
) -> tuple[StreamedHead, AsyncGenerator[ServiceReport, None]]:
    """`monthly_report` for a writer that writes the services after the rest, one at a
    time: the head (whether any service is listed; the tickets and restorations once the
    services are read), then the service reports in the report's order, read, built and
    let go `chunk` services at a time. A month of 100k services and incidents is never
    held at once. Reads in the session's transaction: the iterator must be consumed
    before it ends.

    `tickets`: the month's tickets being counted (`tally_month_tickets`) on another
    connection that reads the same snapshot (`crm.db.read_together`), while the services
    are read and reported here; without it, they are counted first, in this session."""
    tally: TicketTally | asyncio.Future[TicketTally] = (
        await tally_month_tickets(session, month, config, now, customer_id)
        if tickets is None
        else tickets
    )
    period = month_bounds(month, config.zone)
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise CrmError("unknown_customer", customer_id=customer_id)
    head = await evidence_head(session)
    active_in_month = _active_in_month(period, customer_id)
    service_ids = select(Service.id).where(*active_in_month)
    # The order of the report, from three columns of each service.
    rows: Any = await _rows(
        session,
        select(Service.id, Service.customer_id, Customer.name)
        .join(Customer, Customer.id == Service.customer_id)
        .where(*active_in_month),
    )
    # Sorted by a key (one flat tuple a row), not as (key, id) pairs: comparing nested
    # tuples was most of the sort. The key ends in the service's id, so the order is total.
    ordered = sorted(rows, key=lambda row: service_order(row[2], row[1], row[0]))
    order = array("q", (row[0] for row in ordered))
    del ordered
    reporter = ServiceReporter(
        month,
        await _maintenance_of_month(session, service_ids, period),
        await _claims_of_month(session, service_ids, month),
        config,
        now,
    )
    if not order and not isinstance(tally, TicketTally):
        # A report that lists no service is empty or not by its tickets, which is said
        # before the services' (empty) list.
        tally = await tally
    streamed = StreamedHead(month, config, now, len(order), head, tally)
    return streamed, _service_reports(session, order, period, reporter, chunk, streamed)


async def _service_reports(
    session: AsyncSession,
    order: array[int],
    period: Interval,
    reporter: ServiceReporter,
    chunk: int,
    head: StreamedHead,
) -> AsyncGenerator[ServiceReport, None]:
    connection = await session.connection()
    dialect = connection.dialect.name

    async def read(numbers: array[int]) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
        services = await connection.execute(
            select(*_read(SERVICE_COLUMNS, dialect))
            .join(Customer, Customer.id == Service.customer_id)
            .where(_among(Service.id, numbers, dialect))
        )
        incidents = await connection.execute(
            select(*_read(INCIDENT_COLUMNS, dialect))
            .where(_among(Incident.service_id, numbers, dialect), *_incident_in_month(period))
            .order_by(Incident.id)
        )
        return services.all(), incidents.all()

    chunks = [order[start : start + chunk] for start in range(0, len(order), chunk)]
    reading = asyncio.ensure_future(read(chunks[0])) if chunks else None
    try:
        for index, numbers in enumerate(chunks):
            assert reading is not None
            service_rows, incident_rows = await reading
            # The next chunk is read (by SQLite in its thread, or by PostgreSQL) while this
            # one is reported here: the reports are Python, and hold the event loop but
            # for the turns given to the read below.
            reading = (
                asyncio.ensure_future(read(chunks[index + 1])) if index + 1 < len(chunks) else None
            )
            services = {row[0]: service_record(row) for row in service_rows}
            incidents: dict[int, list[IncidentRecord]] = {number: [] for number in numbers}
            for row in incident_rows:
                incident = incident_record(row)
                incidents[incident.service_id].append(incident)
            del service_rows, incident_rows
            for position, number in enumerate(numbers):
                if position % _TURN_EVERY == 0:
                    await asyncio.sleep(0)  # the next chunk's read goes on to its next query
                service, its_incidents = services.pop(number), incidents.pop(number)
                report, restorations = reporter.report_and_restorations(service, its_incidents)
                head.gathered(number, restorations)
                if report is None:
                    # Read as active in the month (`_active_in_month`), so counted in the
                    # head (the text report says how many services follow).
                    raise RuntimeError(f"service {number} was read as active but not reported")
                yield report
    finally:
        # A report abandoned midway (its writer failed) leaves no read running on the
        # connection. Waited for, not cancelled: a statement cancelled midway invalidates
        # the connection's transaction; its rows (or its error) are of no use now.
        if reading is not None:
            with suppress(Exception):
                await reading
    head.all_read()


# Services reported between two turns of the event loop while the next chunk is read.
_TURN_EVERY = 256


async def _incidents_of_month(
    session: AsyncSession, service_ids: Select[int], period: Interval
) -> list[IncidentRecord]:
    incidents = [
        incident_record(row)
        for row in await _rows(
            session,
            select(*INCIDENT_COLUMNS)
            .where(Incident.service_id.in_(service_ids), *_incident_in_month(period))
            .order_by(Incident.id),
        )
    ]
    return incidents


def _incident_in_month(period: Interval) -> tuple[ColumnElement[bool], ...]:
    """An incident belongs to the month when its evidence could overlap it; the engine
    clips."""
    return (
        or_(
            Incident.client_notice_at < period.end,
            Incident.monitoring_start_at < period.end,
            Incident.confirmed_at < period.end,
        ),
        or_(
            and_(Incident.restored_at.is_(None), Incident.monitoring_end_at.is_(None)),
            Incident.restored_at >= period.start,
            Incident.monitoring_end_at >= period.start,
            Incident.confirmed_at >= period.start,
        ),
    )
