"""The CRM's tables: customers and their services, contacts, tickets, messages, events."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm.db import UtcDateTime
from sla.model import Channel, Exclusion, IncidentStatus, Layer, RestorationType, ServiceType

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(enum_type: type[enum.Enum], name: str) -> SqlEnum:
    # Stored as plain strings: portable between SQLite and PostgreSQL and easy to migrate.
    return SqlEnum(
        enum_type,
        name=name,
        native_enum=False,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
        length=32,
    )


class Category(enum.StrEnum):
    QUESTION = "question"
    DOWN = "down"
    DATA_LOSS = "data_loss"
    BILLING = "billing"
    OTHER = "other"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    FROM_CLIENT = "from_client"
    TO_CLIENT = "to_client"
    NOTE = "note"
    BOT = "bot"


class Delivery(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    # Loaded only where they are read (`CustomerRepository.services_of`): every ticket and
    # contact loads its customer, and a storm's `/down` paid a query per customer load for
    # services it never read. "raise" makes a read nobody loaded fail loudly, not query.
    services: Mapped[list[Service]] = relationship(back_populates="customer", lazy="raise")


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_type: Mapped[ServiceType] = mapped_column(_enum(ServiceType, "service_type"))
    name: Mapped[str] = mapped_column(String(200))
    monthly_fee: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="KZT")
    active_from: Mapped[datetime] = mapped_column(UtcDateTime)
    active_to: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Terms A 5.4: the SLA holds only where the equipment sits in the provider's data centre.
    in_provider_dc: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Terms B 3: the end of a free trial that began at `active_from`; paid from then on.
    trial_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Where it runs (a data centre, a hall): an outage of a site gathers its services.
    site: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)

    customer: Mapped[Customer] = relationship(back_populates="services", lazy="joined")


class ServiceEvent(Base):
    """What happened to a service, append-only (migration 0008_service_trial_and_end):
    added, trial_started, trial_reminded, paid (the trial turned into a paid service),
    ended. `at` is when it took effect; `recorded_at` when it was written down."""

    __tablename__ = "service_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TrialRequest(Base):
    """A client's request for an object-storage trial (terms B 3), decided by a manager:
    status pending, approved or refused. `service_id` is the trial service once added."""

    __tablename__ = "trial_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), nullable=True)


class Contact(Base):
    """A Telegram account that writes to the bot, linked to a customer or not (yet)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    full_name: Mapped[str] = mapped_column(String(300), default="")
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    telegram_language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    chosen_language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    linked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    customer: Mapped[Customer | None] = relationship(lazy="joined")


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Ticket(Base):
    """A support request; its id is the number clients and engineers see (#1042)."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    category: Mapped[Category | None] = mapped_column(_enum(Category, "category"), nullable=True)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), nullable=True)
    client_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Evidence time of the first client message (Telegram `date`, or the stated call time).
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    assignee_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assignee_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    support_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The kind of service the ticket is about, when known without naming one (a customer
    # with object storage only): its processing target (B 5.3) applies all the same.
    service_type: Mapped[ServiceType | None] = mapped_column(
        _enum(ServiceType, "service_type"), nullable=True
    )
    topic_thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    header_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A report that joined a running outage lives in the outage's room, without a topic of
    # its own, until an engineer opens one (/open): in a storm of 300 reports, 300 topics
    # would spend the group's 20 messages a minute for an hour. (An incident id without a
    # foreign key: SQLite cannot drop a referencing column, nor rebuild a referenced table.)
    gathered_in_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    contact: Mapped[Contact | None] = relationship(lazy="joined")
    customer: Mapped[Customer | None] = relationship(lazy="joined")
    service: Mapped[Service | None] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_tickets_contact_status", "contact_id", "status"),
        Index("ix_tickets_topic", "support_chat_id", "topic_thread_id"),
        # The live-clock scan and the board read open tickets only: their cost must follow
        # the open work, not the history (and the monthly report cuts by opening time).
        Index("ix_tickets_status_response", "status", "first_response_at"),
        Index("ix_tickets_opened", "opened_at"),
    )


class Message(Base):
    """Every message of a ticket, both ways, with Telegram's own time kept."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    sender_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    update_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content_type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    telegram_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    copy_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    copy_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    delivery: Mapped[Delivery] = mapped_column(_enum(Delivery, "delivery"))
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        # One row per Telegram message: a redelivered update cannot make a second one.
        UniqueConstraint("chat_id", "telegram_message_id"),
        Index("ix_messages_copy", "copy_chat_id", "copy_message_id"),
        Index("ix_messages_delivery", "delivery"),
    )


class TicketEvent(Base):
    """Append-only log: database triggers refuse UPDATE and DELETE (see migration 0001)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # When it happened according to the evidence (Telegram date or a stated time).
    evidence_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When this process wrote it down.
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProcessedUpdate(Base):
    """Telegram update ids already handled, so a redelivered update is a no-op."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Incident(Base):
    """An outage of one service. Its columns are the current reading of `incident_events`."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), nullable=True, index=True
    )
    status: Mapped[IncidentStatus] = mapped_column(_enum(IncidentStatus, "incident_status"))
    # Start evidence: the client's notice (Telegram date or stated call time) and monitoring.
    client_notice_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    monitoring_start_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    monitoring_end_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    layer: Mapped[Layer | None] = mapped_column(_enum(Layer, "layer"), nullable=True)
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    restored_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    exclusion: Mapped[Exclusion | None] = mapped_column(
        _enum(Exclusion, "exclusion"), nullable=True
    )
    restoration_type: Mapped[RestorationType | None] = mapped_column(
        _enum(RestorationType, "restoration_type"), nullable=True
    )
    data_loss: Mapped[bool] = mapped_column(Boolean, default=False)
    # The latest client or phone notice: a monitoring end before it does not end the outage.
    last_client_notice_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The monitoring alert behind it (Alertmanager fingerprint or an import reference).
    monitoring_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # The incident's room: its own forum topic in the support group.
    room_thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # An outage of several services: each keeps its own incident and evidence, the members
    # point at the lead, whose room, answers and commands they share (None: a lead or alone).
    outage_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    # On a lead: the site whose new reports join it while it runs (`/site DC1`), and the
    # Alertmanager group whose alerts it gathers.
    outage_site: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    outage_group: Mapped[str | None] = mapped_column(Text, nullable=True)

    service: Mapped[Service] = relationship(lazy="joined")
    lead: Mapped[Incident | None] = relationship(
        remote_side=[id], foreign_keys=[outage_id], lazy="joined", join_depth=1
    )

    __table_args__ = (Index("ix_incidents_running", "status", "restored_at"),)


class NoticeSource(enum.StrEnum):
    """Who told the desk about an outage (terms A 5.12 / B 5.8: the client's notification, or
    the provider's own data)."""

    CLIENT = "client"  # a client's message in Telegram (its Telegram time)
    PHONE = "phone"  # a call or mail logged by an engineer (the stated time)
    ENGINEER = "engineer"  # an engineer's /outage in a ticket (the reporting message's time)
    MONITORING = "monitoring"  # a monitoring record: start, and end when it is known


class RoomAnswer(Base):
    """An engineer's message in an outage's room, copied to every client who reported it.

    Each copy is a message of its client's ticket (chat unset: one Telegram message, many
    tickets); this row keeps the one Telegram message once, so a redelivered update sends
    nothing twice.
    """

    __tablename__ = "room_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int] = mapped_column(BigInteger)
    sender_telegram_id: Mapped[int] = mapped_column(BigInteger)
    telegram_date: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    clients: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("chat_id", "telegram_message_id"),)


class IncidentNotice(Base):
    """Append-only: one report of an incident, from any ticket or from monitoring.

    An incident gathers any number of these; its columns are their current reading.
    A monitoring record's end is a second row with the same `monitoring_ref`.
    """

    __tablename__ = "incident_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    source: Mapped[NoticeSource] = mapped_column(_enum(NoticeSource, "notice_source"))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), nullable=True, index=True
    )
    # When the outage was noticed (or, for `ends_at` rows, seen to end).
    noticed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    monitoring_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IncidentEvent(Base):
    """Append-only: who said what about an incident, and the time it is evidence for."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    evidence_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # True when a person stated the time instead of it being the message's own time.
    stated: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MaintenanceWindow(Base):
    """Planned works announced to clients (terms A 5.10 / B 5.6); service None = all."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Emergency(Base):
    """A declared emergency: tickets opened during it carry the emergency target (A 5.2)."""

    __tablename__ = "emergencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CreditClaim(Base):
    """The client asked for the credit of a month (A 5.13 / B 5.9: a discount, on request)."""

    __tablename__ = "credit_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    month: Mapped[str] = mapped_column(String(7))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("service_id", "month"),)


class Purpose(enum.StrEnum):
    """Why a message is sent: it decides what its delivery records (see crm/delivery.py).

    The values are stored in `outbox.purpose`; they are the contract between whoever queues
    a message and the worker that sends it, so they are never spelled as bare strings.
    """

    TOPIC = "topic"  # createForumTopic: its thread id becomes the ticket's topic
    ROOM = "room"  # createForumTopic: its thread id becomes the incident's room
    TOPIC_NAME = "topic_name"  # editForumTopic
    HEADER = "header"  # the ticket card at the top of its topic
    COPY_IN = "copy_in"  # a client's message copied into the topic
    COPY_OUT = "copy_out"  # an engineer's message copied to the client: may be a response
    BOT = "bot"  # the bot's own words to a client, recorded as a message of the ticket
    EDIT = "edit"  # an edit of a message the bot sent before (buttons answered, ...)
    NOTICE = "notice"  # a note for the engineers in a topic
    REPLY = "reply"  # an answer to a command, where it was given
    ALERT = "alert"  # live SLA clock alerts
    MAINTENANCE = "maintenance"  # planned maintenance told to clients
    MONITORING = "monitoring"  # what the monitoring system reported, for the engineers
    REPORT = "report"  # the monthly report (summary, spreadsheet, chart)
    EMAIL_OUT = "email_out"  # an engineer's answer sent by SMTP (bot/mailer.py): a response
    HANDOFF = "handoff"  # a ticket's topic and card in another department's chat


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    MERGED = "merged"


class OutboxMessage(Base):
    """Everything the bot says, written in the transaction that decided to say it.

    A worker delivers rows in id order per chat; `purpose` says what to record when the
    send succeeds or fails (a first response, a topic id, a failed copy...).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[Purpose] = mapped_column(_enum(Purpose, "outbox_purpose"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Sent into the ticket's topic, whose thread id may only be known at delivery time.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    # A row for an incident's room (with `to_topic`): the room's thread, once it exists.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    to_topic: Mapped[bool] = mapped_column(Boolean, default=False)
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    merged_into: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_outbox_pending", "status", "chat_id", "id"),
        # Pending job rows (reports, mails) by method, without scanning the chats.
        Index("ix_outbox_pending_method", "status", "method", "id"),
    )


class SlaAlert(Base):
    """An alert about a running SLA clock; unique per subject and kind, so sent once."""

    __tablename__ = "sla_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    late: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("subject", "subject_id", "kind"),)


class JobRun(Base):
    """A scheduled job done for a period; unique, so several instances run it once."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("job", "period"),)


class EvidenceLink(Base):
    """One entry of the hash chain over the evidence rows (see crm/evidence.py).

    Append-only like the events it vouches for; `chain_hash` folds in the previous entry's,
    so changing, deleting or reordering any evidence row breaks every later link.
    """

    __tablename__ = "evidence_chain"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (UniqueConstraint("table_name", "row_id"),)


class EvidenceHead(Base):
    """The chain's last entry, one row: on PostgreSQL appenders lock it until they commit."""

    __tablename__ = "evidence_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))


class ContactEmail(Base):
    """An e-mail address that writes to the support mailbox, tied to a customer."""

    __tablename__ = "contact_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased: addresses are matched whatever case the sender's program uses.
    address: Mapped[str] = mapped_column(String(320), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MailMessage(Base):
    """A mail of an e-mail ticket, either way, with its source and times kept.

    Incoming: the mailbox's UIDVALIDITY and UID make a fetch twice a no-op; `internal_date`
    is when the provider's mailbox received it (the ticket's evidence time), `date_header`
    what the sender's program wrote, `fetched_at` when the desk read it. Outgoing:
    `accepted_at` is when the SMTP server took it (the response time).
    """

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    mailbox: Mapped[str | None] = mapped_column(String(200), nullable=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True, index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text, nullable=True)
    references: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    to_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    date_header: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    internal_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    parse_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid"),)


class Handoff(Base):
    """A ticket handed to another department (terms A/B 5.3), and where it was posted there.

    Who handed it over and when is also a `handed_off` event; this row keeps where the
    department talks about it (its topic, or the post replies thread off) so that their
    answers reach the client.
    """

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The ticket's card and history summary, posted once the department's topic exists.
    summary: Mapped[str] = mapped_column(Text)
    thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    post_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    by_telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    by_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    handed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_handoffs_topic", "chat_id", "thread_id"),
        Index("ix_handoffs_post", "chat_id", "post_message_id"),
    )
