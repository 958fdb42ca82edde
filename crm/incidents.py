"""Outage incidents: provider events that gather every notice of them.

An incident belongs to one service. Clients (from any ticket), phone calls and monitoring
report it, each at their own time; each report is an `incident_notices` row. Every change is
an `incident_events` row (append-only, with who and the evidence time); the `incidents`
columns are the current reading of both, kept for fast reports and live clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm.clock import Clock, utc_now
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import (
    Direction,
    Incident,
    IncidentEvent,
    IncidentNotice,
    Message,
    NoticeSource,
    OutboxMessage,
    Purpose,
    Service,
    Ticket,
)
from crm.reporting import incident_record_of
from sla.downtime import evidence_end, reported_start
from sla.intervals import Interval
from sla.model import Exclusion, IncidentStatus, Layer, RestorationType

# The first key of the advisory locks that serialise gathering by site or group (the
# migrations hold 7274000001 alone); the second key is the gathering's name, hashed.
GATHERING_LOCKS = 7274

CLIENT_SOURCES = (NoticeSource.CLIENT, NoticeSource.PHONE, NoticeSource.ENGINEER)


@dataclass(frozen=True, slots=True)
class Report:
    """One notice of an outage, before it is placed in an incident."""

    service_id: int
    source: NoticeSource
    noticed_at: datetime
    ticket: Ticket | None = None
    actor: TelegramUser | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Gathered:
    """What a merge did: the outage's lead, the incidents it newly gathers, and which of
    them had a room of their own (each is told where the outage is now)."""

    lead: Incident
    joined: list[Incident]
    rooms: list[Incident]


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a notice went: the incident, and whether this notice opened it."""

    incident: Incident
    opened: bool


@dataclass(frozen=True, slots=True)
class Target:
    """Where a notice of the service goes: its incident, or None when it opens one."""

    service: Service
    incident: Incident | None


def incident_start(incident: Incident) -> datetime | None:
    """Where the outage started by its evidence: sla's rule, read from the database row."""
    return reported_start(incident_record_of(incident))


def incident_end(incident: Incident) -> datetime | None:
    """Restoration, or the end monitoring saw (sla's rule); None while it is open."""
    return evidence_end(incident_record_of(incident))


def is_open(incident: Incident) -> bool:
    """Still an outage a new report joins: not rejected and not ended."""
    return incident.status is not IncidentStatus.REJECTED and incident_end(incident) is None


# How many of the newest unrestored incidents a new report looks through for a running one
# (those monitoring saw end stay unrestored; the running outage is among the newest).
RUNNING_LOOK_BACK = 200

# The end of an outage still running, for overlap tests.
NOT_YET = datetime.max.replace(tzinfo=UTC)


def _span(incident: Incident) -> Interval | None:
    start, end = incident_start(incident), incident_end(incident)
    if start is None:
        return None
    return Interval(start, NOT_YET if end is None else max(start, end))


def _touches(span: Interval, start: datetime, end: datetime | None) -> bool:
    return start <= span.end and (end is None or span.start <= end)


class IncidentService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    def _event(
        self,
        incident: Incident,
        kind: str,
        *,
        evidence_at: datetime,
        actor: TelegramUser | None,
        role: str,
        stated: bool = False,
        **details: Any,
    ) -> None:
        self.session.add(
            IncidentEvent(
                incident_id=incident.id,
                kind=kind,
                actor_telegram_id=actor.id if actor else None,
                actor_name=actor.full_name if actor else None,
                actor_role=role,
                evidence_at=evidence_at,
                stated=stated,
                recorded_at=self.clock(),
                details=details,
            )
        )

    # -- reading ------------------------------------------------------------------------------

    async def get(self, incident_id: int) -> Incident | None:
        return await self.session.get(Incident, incident_id)

    async def of_ticket(self, ticket_id: int) -> list[Incident]:
        """Every incident the ticket reported, oldest first."""
        ids = select(IncidentNotice.incident_id).where(IncidentNotice.ticket_id == ticket_id)
        return list(
            (
                await self.session.scalars(
                    select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)
                )
            ).all()
        )

    async def for_room(self, chat_id: int, thread_id: int) -> Incident | None:
        del chat_id  # One support group: a thread id names one room.
        return await self.session.scalar(
            select(Incident).where(Incident.room_thread_id == thread_id)
        )

    async def tickets_of(self, incident: Incident) -> list[Ticket]:
        """The tickets whose clients reported the incident, oldest first."""
        ids = select(IncidentNotice.ticket_id).where(
            IncidentNotice.incident_id == incident.id, IncidentNotice.ticket_id.is_not(None)
        )
        return list(
            (
                await self.session.scalars(
                    select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)
                )
            ).all()
        )

    async def waiting_in_room(self, members: Sequence[Incident]) -> list[Ticket]:
        """Tickets that live in the outage's room without reporting it (yet): a plain
        message written while it ran, a `/down` that has not named its service."""
        found = await self.session.scalars(
            select(Ticket)
            .where(
                Ticket.gathered_in_id.in_([member.id for member in members]),
                Ticket.support_chat_id.is_(None),
            )
            .order_by(Ticket.id)
        )
        return list(found.all())

    async def by_monitoring_ref(self, ref: str) -> Incident:
        incident_id = select(IncidentNotice.incident_id).where(IncidentNotice.monitoring_ref == ref)
        incident = await self.session.scalar(
            select(Incident).where(Incident.id.in_(incident_id)).limit(1)
        )
        assert incident is not None
        return incident

    async def reporting_message_time(
        self, ticket: Ticket, copy_message_id: int | None
    ) -> tuple[datetime, str]:
        """When the ticket reported the outage an engineer opens for it: the client message
        whose copy the engineer replied to, else the client's last message ("replied" or
        "last_message"); a phone ticket's last message is the logged call."""
        query = select(Message.telegram_date).where(
            Message.ticket_id == ticket.id,
            Message.direction == Direction.FROM_CLIENT,
            Message.telegram_date.is_not(None),
        )
        if copy_message_id is not None:
            replied = await self.session.scalar(
                query.where(Message.copy_message_id == copy_message_id)
            )
            if replied is not None:
                return replied, "replied"
        last = await self.session.scalar(query.order_by(Message.id.desc()).limit(1))
        return (last or ticket.opened_at), "last_message"

    async def _of_service(self, service_id: int) -> Sequence[Incident]:
        return (
            await self.session.scalars(
                select(Incident)
                .where(
                    Incident.service_id == service_id,
                    Incident.status != IncidentStatus.REJECTED,
                )
                .order_by(Incident.id.desc())
                .limit(50)
            )
        ).all()

    # -- notices ------------------------------------------------------------------------------

    async def target(self, report: Report) -> Target:
        """Where `report` goes (see `report`), its service locked until the commit. Its
        ticket may not be written yet: a new ticket reporting a running outage is then
        written with the outage's room."""
        service = await self._locked_service(report.service_id)
        if service is None or (
            report.ticket is not None and service.customer_id != report.ticket.customer_id
        ):
            raise CrmError("unknown_service", service_id=report.service_id)
        incidents = await self._of_service(report.service_id)
        target = next((i for i in incidents if is_open(i)), None)
        if target is None:
            target = next(
                (
                    i
                    for i in incidents
                    if (span := _span(i)) is not None and span.contains(report.noticed_at)
                ),
                None,
            )
        return Target(service, target)

    async def report(self, report: Report, target: Target | None = None) -> Placed:
        """Places a client, phone or engineer notice: it joins the service's open incident,
        or the closed one whose span holds its time (a call logged late); otherwise it opens
        a new incident. A report after restoration is a new outage. `target`: found
        already for it in this transaction (`target`)."""
        if target is None:
            target = await self.target(report)
        opened = target.incident is None
        # A new incident is written with this notice's times (no UPDATE of them after).
        incident = target.incident or await self._new_joining(
            report.service_id, report.ticket, target.service, noticed_at=report.noticed_at
        )
        self._add_notice(incident, report)
        if incident.client_notice_at is None or report.noticed_at < incident.client_notice_at:
            incident.client_notice_at = report.noticed_at
        last = incident.last_client_notice_at
        if last is None or report.noticed_at > last:
            incident.last_client_notice_at = report.noticed_at
        self._event(
            incident,
            "reported",
            evidence_at=report.noticed_at,
            actor=report.actor,
            role="engineer" if report.source is NoticeSource.ENGINEER else "client",
            source=report.source.value,
            ticket_id=report.ticket.id if report.ticket is not None else None,
            channel=report.ticket.channel.value if report.ticket is not None else None,
        )
        await self.session.flush()
        return Placed(incident, opened)

    async def _locked_service(self, service_id: int) -> Service | None:
        """The service, locked until the commit: two reports of one outage placed at once
        by two instances would otherwise both open an incident. SQLite has one writer (its
        transactions begin IMMEDIATE): the service the session holds already will do."""
        if self.session.get_bind().dialect.name == "sqlite":
            return await self.session.get(Service, service_id)
        return await self.session.scalar(
            select(Service).where(Service.id == service_id).with_for_update(of=Service)
        )

    async def _new_joining(
        self,
        service_id: int,
        ticket: Ticket | None,
        service: Service | None = None,
        *,
        noticed_at: datetime | None = None,
    ) -> Incident:
        """A new incident; it joins the running outage of its service's site, if any.
        `service`: the incident's, read already; `noticed_at`: the client notice opening it."""
        incident = await self._new(service_id, ticket, service, noticed_at)
        site = incident.service.site
        if site:
            await self._lock_gathering(f"site:{site}")
        lead = await self.site_outage(site) if site else None
        if lead is not None:
            self._join(lead, incident, None, "system", self.clock(), why="site")
            await self.session.flush()
        return incident

    async def _new(
        self,
        service_id: int,
        ticket: Ticket | None,
        service: Service | None,
        noticed_at: datetime | None,
    ) -> Incident:
        incident = Incident(
            service_id=service_id,
            ticket_id=ticket.id if ticket is not None else None,
            status=IncidentStatus.REPORTED,
            client_notice_at=noticed_at,
            last_client_notice_at=noticed_at,
            data_loss=False,
            created_at=self.clock(),
        )
        self.session.add(incident)
        await self.session.flush()
        if service is None:
            await self.session.refresh(incident, ["service"])
        else:
            set_committed_value(incident, "service", service)
        return incident

    def _add_notice(
        self,
        incident: Incident,
        report: Report,
        *,
        ends_at: datetime | None = None,
        ref: str | None = None,
    ) -> None:
        self.session.add(
            IncidentNotice(
                incident_id=incident.id,
                source=report.source,
                ticket_id=report.ticket.id if report.ticket is not None else None,
                noticed_at=report.noticed_at,
                ends_at=ends_at,
                monitoring_ref=ref,
                text=report.text,
                actor_telegram_id=report.actor.id if report.actor else None,
                actor_name=report.actor.full_name if report.actor else None,
                recorded_at=self.clock(),
            )
        )

    async def monitoring(
        self, service_id: int, ref: str, starts_at: datetime, ends_at: datetime | None
    ) -> Placed | None:
        """A monitoring record joins the incident its interval touches, or opens its own;
        a repeat of a known record only adds its end. None: nothing new."""
        known = await self.session.scalar(
            select(IncidentNotice.incident_id)
            .where(IncidentNotice.monitoring_ref == ref)
            .order_by(IncidentNotice.id)
            .limit(1)
        )
        report = Report(service_id, NoticeSource.MONITORING, starts_at)
        if known is not None:
            incident = await self.session.get(Incident, known)
            assert incident is not None
            if ends_at is None or await self._ended(ref):
                return None
            await self._monitoring_ended(incident, ref, ends_at)
            return Placed(incident, False)
        await self._locked_service(service_id)
        incidents = await self._of_service(service_id)
        touching = [i for i in incidents if (s := _span(i)) and _touches(s, starts_at, ends_at)]
        incident = next((i for i in touching if is_open(i)), touching[0] if touching else None)
        opened = incident is None
        if incident is None:
            incident = await self._new_joining(service_id, None)
            incident.monitoring_ref = ref
        self._add_notice(incident, report, ref=ref)
        self._event(incident, "monitoring_firing", evidence_at=starts_at, actor=None,
                    role="monitoring", ref=ref)  # fmt: skip
        if ends_at is not None:
            await self._monitoring_ended(incident, ref, ends_at)
        else:
            await self.session.flush()
            await self._read_monitoring(incident)
        return Placed(incident, opened)

    async def _monitoring_ended(self, incident: Incident, ref: str, ends_at: datetime) -> None:
        end = Report(incident.service_id, NoticeSource.MONITORING, ends_at)
        self._add_notice(incident, end, ends_at=ends_at, ref=ref)
        self._event(incident, "monitoring_resolved", evidence_at=ends_at, actor=None,
                    role="monitoring", ref=ref)  # fmt: skip
        await self.session.flush()
        await self._read_monitoring(incident)

    async def _ended(self, ref: str) -> bool:
        found = await self.session.scalar(
            select(IncidentNotice.id).where(
                IncidentNotice.monitoring_ref == ref, IncidentNotice.ends_at.is_not(None)
            )
        )
        return found is not None

    async def _read_monitoring(self, incident: Incident) -> None:
        """The incident's monitoring columns from its records: the earliest start, and the
        latest end once every record has ended."""
        rows = (
            await self.session.execute(
                select(IncidentNotice.monitoring_ref, IncidentNotice.noticed_at,
                       IncidentNotice.ends_at)
                .where(IncidentNotice.incident_id == incident.id,
                       IncidentNotice.source == NoticeSource.MONITORING)
            )
        ).all()  # fmt: skip
        starts: dict[str | None, datetime] = {}
        ends: dict[str | None, datetime] = {}
        for ref, noticed_at, ends_at in rows:
            if ends_at is not None:
                ends[ref] = ends_at
            else:
                starts[ref] = min(noticed_at, starts.get(ref, noticed_at))
        incident.monitoring_start_at = min(starts.values()) if starts else None
        incident.monitoring_end_at = (
            max(ends.values()) if ends and all(ref in ends for ref in starts) else None
        )
        await self.session.flush()

    # -- engineers' decisions -------------------------------------------------------------------

    async def confirm(
        self, incident: Incident, layer: Layer, engineer: TelegramUser, when: datetime
    ) -> Incident:
        if incident.status is IncidentStatus.CONFIRMED and incident.layer is layer:
            return incident
        incident.status = IncidentStatus.CONFIRMED
        incident.layer = layer
        incident.confirmed_at = incident.confirmed_at or when
        incident.rejected_reason = None
        self._event(
            incident, "confirmed", evidence_at=when, actor=engineer, role="engineer",
            layer=layer.value,
        )  # fmt: skip
        await self.session.flush()
        return incident

    async def reject(
        self, incident: Incident, reason: str, engineer: TelegramUser, when: datetime
    ) -> Incident:
        incident.status = IncidentStatus.REJECTED
        incident.rejected_reason = reason
        self._event(
            incident, "rejected", evidence_at=when, actor=engineer, role="engineer", reason=reason
        )
        await self.session.flush()
        return incident

    async def restore(
        self,
        incident: Incident,
        restored_at: datetime,
        engineer: TelegramUser,
        *,
        stated: bool,
        message_time: datetime,
        correction: str | None = None,
    ) -> Incident:
        """Ends the downtime once; a stated time must lie between the start and the statement.

        A second restoration is refused (`already_restored`), as is restoring a rejected
        incident; a correction names its reason and is recorded as its own event."""
        if incident.status is IncidentStatus.REJECTED:
            raise CrmError("restore_rejected", reason=incident.rejected_reason or "")
        if correction is None and incident.restored_at is not None:
            raise CrmError("already_restored", restored_at=incident.restored_at)
        if correction is not None and incident.restored_at is None:
            raise CrmError("nothing_to_correct")
        start = incident_start(incident)
        if start is not None and restored_at < start:
            raise CrmError("restored_before_start", start=start)
        if restored_at > message_time:
            raise CrmError("restored_in_future")
        previous = incident.restored_at
        incident.restored_at = restored_at
        self._event(
            incident,
            "restoration_corrected" if correction is not None else "restored",
            evidence_at=restored_at,
            actor=engineer,
            role="engineer",
            stated=stated,
            stated_at=message_time.isoformat() if stated else None,
            previous=previous.isoformat() if previous is not None else None,
            reason=correction,
        )
        await self.session.flush()
        return incident

    async def exclude(
        self,
        incident: Incident,
        exclusion: Exclusion,
        note: str | None,
        engineer: TelegramUser,
        when: datetime,
    ) -> Incident:
        incident.exclusion = exclusion
        self._event(
            incident, "excluded", evidence_at=when, actor=engineer, role="engineer",
            exclusion=exclusion.value, note=note,
        )  # fmt: skip
        await self.session.flush()
        return incident

    async def set_restoration_type(
        self,
        incident: Incident,
        restoration: RestorationType,
        engineer: TelegramUser,
        when: datetime,
    ) -> Incident:
        incident.restoration_type = restoration
        self._event(
            incident, "restoration_type", evidence_at=when, actor=engineer, role="engineer",
            restoration=restoration.value,
        )  # fmt: skip
        await self.session.flush()
        return incident

    async def mark_data_loss(
        self, incident: Incident, engineer: TelegramUser, when: datetime
    ) -> Incident:
        incident.data_loss = True
        self._event(incident, "data_loss", evidence_at=when, actor=engineer, role="engineer")
        await self.session.flush()
        return incident

    # -- outages of several services ------------------------------------------------------------
    #
    # Each service keeps its own incident and evidence (per-service downtime for the SLA);
    # an outage only shares a room, the engineers' answers and their commands. Members point
    # at the lead (`outage_id`), one level deep: a lead merged into another outage brings its
    # members along.

    async def lead_of(self, incident: Incident) -> Incident:
        """The outage's lead: the incident itself when it leads or stands alone."""
        if incident.outage_id is None:
            return incident
        lead = await self.session.get(Incident, incident.outage_id)
        assert lead is not None
        return lead

    async def outage_members(self, incident: Incident) -> list[Incident]:
        """Every incident of the outage `incident` belongs to, the lead first, then its
        members oldest first; just `[incident]` when it stands alone."""
        lead = await self.lead_of(incident)
        members = await self.session.scalars(
            select(Incident).where(Incident.outage_id == lead.id).order_by(Incident.id)
        )
        return [lead, *members.all()]

    async def running_room(self, service_ids: Sequence[int]) -> int | None:
        """The room (its outage's lead) of the newest running outage of any of these
        services: where a report that has not yet said which one is down waits."""
        if not service_ids:
            return None
        return await self._newest_running_room(Incident.service_id.in_(service_ids))

    async def _newest_running_room(self, of_services: Any) -> int | None:
        # One query for all of them: it runs for each new ticket of a customer, and a
        # customer may have hundreds of services. A restored incident is over whatever else
        # its evidence says, so only the unrestored are read (sla's rule decides the rest).
        candidates = await self.session.scalars(
            select(Incident)
            .where(
                of_services,
                Incident.status != IncidentStatus.REJECTED,
                Incident.restored_at.is_(None),
            )
            .order_by(Incident.id.desc())
            .limit(RUNNING_LOOK_BACK)
        )
        newest = next((incident for incident in candidates if is_open(incident)), None)
        return None if newest is None else newest.outage_id or newest.id

    async def room_for_new_ticket(self, services: Sequence[Service]) -> int | None:
        """The room a customer's new ticket waits in while an outage of one of their
        services runs (its own incident, or its site's gathered outage): on the day 300
        clients write at once, most new tickets are about it, and a topic each would spend
        the support group's 20 messages a minute. None when nothing of theirs is down."""
        room = await self.running_room([service.id for service in services])
        if room is not None:
            return room
        return await self._site_room({service.site for service in services if service.site})

    async def customer_running_room(self, customer_id: int) -> int | None:
        """`running_room` of all the customer's services, none of them loaded."""
        return await self._newest_running_room(
            Incident.service_id.in_(select(Service.id).where(Service.customer_id == customer_id))
        )

    async def room_for_customer(self, customer_id: int) -> int | None:
        """`room_for_new_ticket` of all the customer's services, none of them loaded: in a
        storm the running outage is found in one query; their sites are read only when
        none of their own runs."""
        room = await self.customer_running_room(customer_id)
        if room is not None:
            return room
        services = Service.customer_id == customer_id
        sites = await self.session.scalars(
            select(Service.site).where(services, Service.site.is_not(None)).distinct()
        )
        return await self._site_room({site for site in sites.all() if site})

    async def _site_room(self, sites: set[str]) -> int | None:
        for site in sorted(sites):
            lead = await self.site_outage(site)
            if lead is not None:
                return lead.id
        return None

    async def outage_running(self, lead: Incident) -> bool:
        return any(is_open(member) for member in await self.outage_members(lead))

    async def site_outage(self, site: str) -> Incident | None:
        """The running outage gathering `site` (`/site`), newest first."""
        return await self._running_lead(Incident.outage_site == site)

    async def group_outage(self, group: str) -> Incident | None:
        """The running outage of an Alertmanager group, newest first."""
        return await self._running_lead(Incident.outage_group == group)

    async def _lock_gathering(self, key: str) -> None:
        """Holds the site's or Alertmanager group's lock until the commit. Without it two
        instances on PostgreSQL could each find no running outage for the same site at the
        same instant and open two (or an incident could miss the `/site` that was gathering
        it). SQLite needs none: its writers begin IMMEDIATE, one at a time."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        await self.session.execute(
            select(func.pg_advisory_xact_lock(GATHERING_LOCKS, func.hashtext(key)))
        )

    async def _running_lead(self, gathering: Any) -> Incident | None:
        leads = await self.session.scalars(
            select(Incident)
            .where(gathering, Incident.outage_id.is_(None))
            .order_by(Incident.id.desc())
            .limit(10)
        )
        for lead in leads.all():
            if await self.outage_running(lead):
                return lead
        return None

    async def sites(self) -> set[str]:
        found = await self.session.scalars(
            select(Service.site).where(Service.site.is_not(None)).distinct()
        )
        return {site for site in found.all() if site}

    def merge_refusal(self, incident: Incident) -> str | None:
        """Why an incident cannot join an outage: rejected, excluded or over; None: it can."""
        if incident.status is IncidentStatus.REJECTED:
            return "rejected"
        if incident.exclusion is not None:
            return "excluded"
        if not is_open(incident):
            return "closed"
        return None

    async def merge(
        self, into: Incident, incidents: Sequence[Incident], engineer: TelegramUser | None,
        when: datetime, *, why: str = "merge",
    ) -> Gathered:  # fmt: skip
        """Gathers `incidents` (and the members of those that lead an outage) into the
        outage of `into`. The caller checks `merge_refusal` first; already members: no-op."""
        lead = await self.lead_of(into)
        joined: list[Incident] = []
        for incident in incidents:
            # A lead brings its members along; a member of another outage comes alone.
            alone = incident.outage_id is not None
            for member in [incident] if alone else await self.outage_members(incident):
                if member.id == lead.id or member.outage_id == lead.id or member in joined:
                    continue
                self._join(lead, member, engineer, "engineer" if engineer else "system",
                           when, why=why)  # fmt: skip
                joined.append(member)
        if joined:
            # Reports gathered in a member's room move with it to the lead's.
            await self.session.execute(
                update(Ticket)
                .where(Ticket.gathered_in_id.in_([m.id for m in joined]))
                .values(gathered_in_id=lead.id)
            )
        await self.session.flush()
        return Gathered(lead, joined, [m for m in joined if await self._had_room(m)])

    def _join(
        self, lead: Incident, member: Incident, actor: TelegramUser | None, role: str,
        when: datetime, *, why: str,
    ) -> None:  # fmt: skip
        member.outage_id = lead.id
        member.lead = lead
        if member.outage_site and not lead.outage_site:
            lead.outage_site = member.outage_site
        if member.outage_group and not lead.outage_group:
            lead.outage_group = member.outage_group
        member.outage_site = member.outage_group = None
        self._event(member, "merged", evidence_at=when, actor=actor, role=role,
                    outage=lead.id, why=why)  # fmt: skip

    async def _had_room(self, incident: Incident) -> bool:
        if incident.room_thread_id is not None:
            return True
        queued = await self.session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.incident_id == incident.id, OutboxMessage.purpose == Purpose.ROOM)
            .limit(1)
        )
        return queued is not None

    async def gather_site(
        self, into: Incident, site: str, engineer: TelegramUser, when: datetime
    ) -> Gathered:
        """`/site DC1`: every running incident of a service at the site joins the outage of
        `into`, and while it runs a new report of such a service joins it too."""
        await self._lock_gathering(f"site:{site}")
        lead = await self.lead_of(into)
        if lead.outage_site != site:
            lead.outage_site = site
            self._event(lead, "site_gathered", evidence_at=when, actor=engineer,
                        role="engineer", site=site)  # fmt: skip
        running = await self.session.scalars(
            select(Incident)
            .join(Service, Service.id == Incident.service_id)
            .where(
                Service.site == site,
                Incident.status != IncidentStatus.REJECTED,
                Incident.exclusion.is_(None),
                Incident.restored_at.is_(None),
            )
            .order_by(Incident.id)
        )
        chosen = [i for i in running.unique().all() if is_open(i)]
        return await self.merge(lead, chosen, engineer, when, why="site")

    async def join_group(self, group: str, incidents: Sequence[Incident], when: datetime) -> None:
        """An Alertmanager notification's incidents, one outage per group: the group's
        running outage, or the first of them leads a new one."""
        if not incidents:
            return
        first = next((i for i in incidents if is_open(i)), incidents[0])
        await self._lock_gathering(f"group:{group}")
        lead = await self.group_outage(group) or await self.lead_of(first)
        if lead.outage_group is None:
            lead.outage_group = group
        joining = [i for i in incidents if self.merge_refusal(i) is None]
        await self.merge(lead, joining, None, when, why="group")
