"""What happened, as facts the bot tells someone about; bot/notices.py words each one.

A notice names the event, not the reader: one fact may be told to the client, to the
engineers in the ticket's topic and to whoever sent the command, each in their language.
Notices named `...Refused`/`No...`/`Not...` say why nothing was done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from crm.models import (
    Category,
    Channel,
    Contact,
    Handoff,
    Incident,
    MaintenanceWindow,
    Message,
    Service,
    Ticket,
    TrialRequest,
)
from sla.model import Exclusion, Layer, RestorationType

Role = Literal["client", "engineer"]


# -- tickets and messages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketOpened:
    ticket: Ticket
    target_minutes: float


@dataclass(frozen=True, slots=True)
class TicketReopened:
    ticket: Ticket
    by: Role


@dataclass(frozen=True, slots=True)
class ClientMessageRecorded:
    """To be copied into the ticket's topic."""

    ticket: Ticket
    message: Message


@dataclass(frozen=True, slots=True)
class ClientStillWaiting:
    """The client wrote again before any answer: no new clock, but the wait is shown."""

    ticket: Ticket
    waited_minutes: float


@dataclass(frozen=True, slots=True)
class EngineerReplied:
    """An engineer's message to be copied to the client."""

    ticket: Ticket
    message: Message


@dataclass(frozen=True, slots=True)
class RoomAnswered:
    """An engineer's message in an outage's room goes to every client who reported it, and
    to those whose ticket waits there without a report (`waiting` of the `clients`)."""

    incident: Incident
    clients: int
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class TopicOpened:
    """`/open TICKET`: a report gathered in a room gets a topic of its own; `earlier`: what
    was said in the ticket so far (in the room, among other clients' lines)."""

    ticket: Ticket
    room: int
    earlier: Sequence[Message] = ()


@dataclass(frozen=True, slots=True)
class TopicNotNeeded:
    """`/open` of a ticket that has a topic already, or none to open (`ticket` None)."""

    number: int
    ticket: Ticket | None


@dataclass(frozen=True, slots=True)
class TicketClosedByClient:
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class NoOpenTicket:
    pass


@dataclass(frozen=True, slots=True)
class TicketTaken:
    ticket: Ticket
    engineer_name: str


@dataclass(frozen=True, slots=True)
class TicketResolved:
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class TicketNotOpen:
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class TicketAlreadyOpen:
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class TicketRated:
    ticket: Ticket
    stars: int


@dataclass(frozen=True, slots=True)
class RatingRefused:
    pass


@dataclass(frozen=True, slots=True)
class OfflineTicketOpened:
    ticket: Ticket
    text: str
    stated_at: datetime


@dataclass(frozen=True, slots=True)
class UnknownCustomer:
    customer_id: int
    channel: Channel


# -- classification and outages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CategoryChosen:
    ticket: Ticket
    category: Category


@dataclass(frozen=True, slots=True)
class WhichServiceIsDown:
    ticket: Ticket
    services: Sequence[Service]


@dataclass(frozen=True, slots=True)
class ServiceChosen:
    ticket: Ticket
    service: Service


@dataclass(frozen=True, slots=True)
class ServiceRefused:
    """The service is not one of the ticket's customer's."""

    service_id: int


@dataclass(frozen=True, slots=True)
class ServiceNotOfCustomer:
    """An engineer named a service of another customer than the ticket's."""

    service_id: int


@dataclass(frozen=True, slots=True)
class Counting:
    """What the SLA engine makes of an incident right now, for words that tell the truth:
    whether its downtime counts, from when, how much so far, and why not."""

    counted: bool
    reason: str | None  # sla.downtime.NotCountedReason value, or "excluded"/"no_sla"
    start: datetime | None
    end: datetime | None
    downtime: timedelta


@dataclass(frozen=True, slots=True)
class OutageReported:
    """The client's notice was recorded in an outage (terms A 5.12 / B 5.8): told to the
    client; the engineers hear of it through `OutageNoticed`."""

    ticket: Ticket
    incident: Incident
    notice_at: datetime


@dataclass(frozen=True, slots=True)
class OutageNoticed:
    """A notice placed in an incident: the room opens with it (`opened`) or hears of it,
    and the reporting ticket's topic links to the room."""

    incident: Incident
    ticket: Ticket | None
    source: str  # crm.models.NoticeSource value
    notice_at: datetime
    opened: bool
    who: str | None = None
    text: str | None = None
    # Set when the incident opened as a member of a running outage (its site's): every
    # member, so that the room's name can follow what it gathers.
    members: Sequence[Incident] = ()


@dataclass(frozen=True, slots=True)
class OutageOpened:
    """An engineer's `/outage` placed the ticket's report in an incident."""

    incident: Incident
    start: datetime | None
    created: bool
    notice_at: datetime
    notice_from: str  # "stated", "replied" or "last_message"


@dataclass(frozen=True, slots=True)
class OutageConfirmed:
    incident: Incident
    layer: Layer
    tickets: Sequence[Ticket]
    counting: Counting


@dataclass(frozen=True, slots=True)
class OutageRejected:
    incident: Incident
    reason: str
    tickets: Sequence[Ticket]


@dataclass(frozen=True, slots=True)
class OutageRestored:
    incident: Incident
    restored_at: datetime
    tickets: Sequence[Ticket]
    counting: Counting
    start: datetime | None = None  # the first evidence, counted or not
    corrected_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class RestoreRefused:
    """`/restored` that makes no sense: "already_restored" (with the time recorded and who
    can correct it how), "restore_rejected", "nothing_to_correct"."""

    incident: Incident
    reason: str
    restored_at: datetime | None = None
    rejected_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RestoredBeforeStart:
    restored_at: datetime
    start: datetime


@dataclass(frozen=True, slots=True)
class RestoredInFuture:
    restored_at: datetime


@dataclass(frozen=True, slots=True)
class OutageExcluded:
    incident: Incident
    exclusion: Exclusion
    tickets: Sequence[Ticket] = ()


@dataclass(frozen=True, slots=True)
class RestorationTypeSet:
    incident: Incident
    kind: RestorationType
    target: timedelta


@dataclass(frozen=True, slots=True)
class DataLossRecorded:
    """`credit_reason` None: the data-loss credit applies (A 5.14 / B 5.10); otherwise why
    it does not ("not_confirmed", "customer_layer", "excluded", "no_sla")."""

    incident: Incident
    tickets: Sequence[Ticket]
    credit_reason: str | None


@dataclass(frozen=True, slots=True)
class TicketServiceSet:
    """`/service ID`: the ticket is about this service now (its targets follow it)."""

    ticket: Ticket
    service: Service


# -- accounts, credits, managers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLinked:
    customer_name: str


@dataclass(frozen=True, slots=True)
class InvitationInvalid:
    pass


@dataclass(frozen=True, slots=True)
class LanguageChanged:
    locale: str


@dataclass(frozen=True, slots=True)
class CreditClaimed:
    month: str
    services: Sequence[Service]


@dataclass(frozen=True, slots=True)
class ClaimNeedsLink:
    pass


@dataclass(frozen=True, slots=True)
class NoServicesYet:
    pass


@dataclass(frozen=True, slots=True)
class ClaimWhichMonth:
    """`/claim` without a month: the months with an outage on record, newest first."""

    months: Sequence[str]


@dataclass(frozen=True, slots=True)
class ClaimAlreadyMade:
    """Every service of that month was claimed already, first at `claimed_at`."""

    month: str
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class CreditClaimTold:
    """The managers hear of a new claim."""

    customer_name: str
    month: str
    services: Sequence[Service]


@dataclass(frozen=True, slots=True)
class TrialRequested:
    """A client asked for an object-storage trial (B 3): the managers decide with buttons."""

    request: TrialRequest
    customer_name: str
    contact: Contact


@dataclass(frozen=True, slots=True)
class TrialNotGranted:
    """B 3 rules the trial out: "had_trial", "used_storage" or "trial_pending" since `since`."""

    reason: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class TrialNeedsLink:
    pass


@dataclass(frozen=True, slots=True)
class TrialDecided:
    request: TrialRequest
    customer_name: str
    contacts: Sequence[Contact]
    manager_name: str


@dataclass(frozen=True, slots=True)
class TrialAlreadyDecided:
    status: str
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class MaintenanceRegistered:
    window: MaintenanceWindow
    contacts: Sequence[Contact] = field(default_factory=tuple)
    service: Service | None = None  # None: every service
    started_already: bool = False  # the window runs at the time of the command


@dataclass(frozen=True, slots=True)
class MaintenanceCancelled:
    window: MaintenanceWindow
    contacts: Sequence[Contact] = field(default_factory=tuple)  # told of it, to be told now
    service: Service | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceAlreadyOver:
    """A window that ended before the command: nothing to plan, nobody to tell."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class NoSuchMaintenance:
    window_id: int


@dataclass(frozen=True, slots=True)
class NoSuchService:
    service_id: int | None


@dataclass(frozen=True, slots=True)
class EmergencyDeclared:
    target_minutes: float


@dataclass(frozen=True, slots=True)
class EmergencyEnded:
    normal_minutes: float


@dataclass(frozen=True, slots=True)
class NoEmergency:
    pass


# -- /down and the client's buttons, told once (issue #14) ------------------------------------


@dataclass(frozen=True, slots=True)
class DownRecorded:
    """`/down` recorded, told to the client in one message: what, since when, what next.

    `services` are the choices when the customer has several and none is known yet;
    `reply_minutes` is what is left of the ticket's own first-response target, if it runs.
    """

    ticket: Ticket
    notice_at: datetime
    service: Service | None
    services: Sequence[Service]
    reply_minutes: int | None


@dataclass(frozen=True, slots=True)
class DownServiceChosen:
    """The client named the service down after `/down`: one confirmation."""

    ticket: Ticket
    service: Service
    notice_at: datetime
    reply_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class ButtonTicketClosed:
    """A button of a ticket that is closed or resolved since: nothing changed."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class AlreadyRated:
    ticket: Ticket
    stars: int


@dataclass(frozen=True, slots=True)
class ServiceAlreadyChosen:
    ticket: Ticket
    service: Service


@dataclass(frozen=True, slots=True)
class NoteKept:
    """An engineer's message kept internal (a note): the engineer is shown it stayed."""

    ticket: Ticket
    message: Message


@dataclass(frozen=True, slots=True)
class TicketLinked:
    """An unknown customer's ticket (and its contact) linked to a customer by an engineer."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class LinkRefused:
    """`/link` refused: "unknown_customer" or "already_linked"."""

    ticket: Ticket
    reason: str
    customer_id: int


# -- edits, albums, hand-offs ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientEdited:
    """The client edited a message: the engineers see the new text beside its copy."""

    ticket: Ticket
    message: Message
    new_text: str | None


@dataclass(frozen=True, slots=True)
class EngineerEdited:
    """An engineer edited an answer: the client's copy is edited too, once it was delivered."""

    ticket: Ticket
    message: Message
    new_text: str | None


@dataclass(frozen=True, slots=True)
class AlbumPartRecorded:
    """One message of a media group: the group is copied as one album (crm/albums.py)."""

    ticket: Ticket
    message: Message
    media_group_id: str
    direction: Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class HandedOff:
    """`/handoff`: the ticket posted to another department's chat."""

    ticket: Ticket
    handoff: Handoff
    history: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class UnknownDepartment:
    ticket: Ticket
    department: str
    known: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DepartmentReplied:
    """A department's answer in its chat, to be copied to the client."""

    ticket: Ticket
    message: Message
    department: str


# -- outages of several services (issue 10) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutagesMerged:
    """`/merge` or `/site`: incidents gathered into the outage of `lead` (its room, answers
    and commands shared; each keeps its own evidence). `rooms`: those of `joined` that had a
    room of their own. `site`: the site whose new reports join while it runs."""

    lead: Incident
    joined: Sequence[Incident]
    rooms: Sequence[Incident]
    members: Sequence[Incident]
    site: str | None = None


@dataclass(frozen=True, slots=True)
class MergeRefused:
    """Nothing was merged: `reason` is unknown, itself, rejected, excluded or closed, of the
    outage `incident_id` (the target's own state for `target=True`)."""

    incident_id: int
    reason: str
    target: bool = False


@dataclass(frozen=True, slots=True)
class UnknownSite:
    site: str
    known: Sequence[str]


Notice = (
    TicketOpened | TicketReopened | ClientMessageRecorded | ClientStillWaiting | EngineerReplied
    | RoomAnswered | TopicOpened | TopicNotNeeded
    | TicketClosedByClient | NoOpenTicket | TicketTaken | TicketResolved | TicketNotOpen
    | TicketAlreadyOpen | TicketRated | RatingRefused | OfflineTicketOpened | UnknownCustomer
    | CategoryChosen | WhichServiceIsDown | ServiceChosen | ServiceRefused | ServiceNotOfCustomer
    | OutageReported | OutageOpened | OutageConfirmed | OutageRejected | OutageRestored
    | RestoredBeforeStart | RestoredInFuture | OutageExcluded | RestorationTypeSet
    | DataLossRecorded | AccountLinked | InvitationInvalid | LanguageChanged | CreditClaimed
    | ClaimNeedsLink | NoServicesYet | MaintenanceRegistered | MaintenanceCancelled
    | NoSuchMaintenance | MaintenanceAlreadyOver | NoSuchService
    | EmergencyDeclared | EmergencyEnded | NoEmergency
    | DownRecorded | DownServiceChosen | OutageNoticed | ButtonTicketClosed | AlreadyRated
    | ServiceAlreadyChosen | NoteKept | TicketLinked | LinkRefused | RestoreRefused
    | TicketServiceSet
    | ClaimWhichMonth | ClaimAlreadyMade | CreditClaimTold | TrialRequested | TrialNotGranted
    | TrialNeedsLink | TrialDecided | TrialAlreadyDecided
    | ClientEdited | EngineerEdited | AlbumPartRecorded | HandedOff | UnknownDepartment
    | DepartmentReplied
    | OutagesMerged | MergeRefused | UnknownSite
)  # fmt: skip

# Notices that mean the action was refused: a button press gets them as an alert.
REFUSALS = (
    RatingRefused, ServiceRefused, ButtonTicketClosed, AlreadyRated, ServiceAlreadyChosen,
    TrialAlreadyDecided,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a use case did: the notices in the order they are to be told, and the ticket."""

    notices: tuple[Notice, ...] = ()
    ticket: Ticket | None = None

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.notices + other.notices, other.ticket or self.ticket)

    @property
    def refusal(self) -> Notice | None:
        return next((n for n in self.notices if isinstance(n, REFUSALS)), None)


def told(*notices: Notice, ticket: Ticket | None = None) -> Outcome:
    return Outcome(notices, ticket)
