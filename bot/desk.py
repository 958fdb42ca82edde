"""Everything the desk says: forum topics, copies both ways, notices, replies.

Nothing is sent from here: each message is queued in the outbox inside the update's own
transaction, so an event and what it makes the bot say are committed together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.types import Message as TelegramMessage
from aiogram.utils.i18n import I18n

from bot.i18n import pick_locale
from bot.settings import BotSettings
from crm.models import (
    Category,
    Channel,
    Incident,
    Message,
    Purpose,
    Ticket,
    TicketStatus,
)
from crm.outbox import Outbox, QueuedRow
from crm.tickets import TicketService

TOPIC_NAME_LIMIT = 128
TEXT_LIMIT = 4096
# The reaction that tells an engineer their message stayed internal (a standard reaction).
NOTE_KEPT = "✍"

# What an update came as: a message (a command, a text) or a pressed button.
Origin = TelegramMessage | CallbackQuery


def category_label(i18n: I18n, category: Category | None, locale: str | None = None) -> str:
    labels = {
        Category.QUESTION: i18n.gettext("question", locale=locale),
        Category.DOWN: i18n.gettext("service is down", locale=locale),
        Category.DATA_LOSS: i18n.gettext("data lost or damaged", locale=locale),
        Category.BILLING: i18n.gettext("billing", locale=locale),
        Category.OTHER: i18n.gettext("other", locale=locale),
    }
    return labels[category] if category else i18n.gettext("no category yet", locale=locale)


def client_locale(ticket: Ticket, i18n: I18n) -> str:
    contact = ticket.contact
    if contact is None:
        return i18n.default_locale
    return pick_locale(contact.chosen_language, contact.telegram_language, i18n.default_locale)


def topic_link(ticket: Ticket) -> str | None:
    """`https://t.me/c/<chat id without -100>/<thread>`: opens the ticket's topic for a
    member of the support group; None while the topic is not created."""
    if ticket.support_chat_id is None or ticket.topic_thread_id is None:
        return None
    chat = str(ticket.support_chat_id).removeprefix("-100")
    return f"https://t.me/c/{chat}/{ticket.topic_thread_id}"


def in_room(ticket: Ticket) -> int | None:
    """The outage whose room shows a gathered report, while it has no topic of its own."""
    return ticket.gathered_in_id if ticket.support_chat_id is None else None


def origin_chat_id(origin: Origin) -> int | None:
    if isinstance(origin, CallbackQuery):
        return origin.message.chat.id if origin.message is not None else None
    return origin.chat.id


class Desk:
    """Decides what the desk says; the outbox worker says it (see bot/outbox.py)."""

    def __init__(
        self, settings: BotSettings, tickets: TicketService, outbox: Outbox, i18n: I18n
    ) -> None:
        self.settings = settings
        self.tickets = tickets
        self.outbox = outbox
        self.i18n = i18n
        self.zone = ZoneInfo(settings.timezone)
        # Topics created by this update, by ticket: a rename in the same update names the
        # new topic instead of queuing an editForumTopic (one of the group's 20 a minute).
        self._topics_queued: dict[int, QueuedRow] = {}
        self._rooms_queued: dict[int, QueuedRow] = {}

    @property
    def support_chat_id(self) -> int:
        return self.settings.support_chat_id

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def engineer_text(self, text: str) -> str:
        return self.i18n.gettext(text, locale=self.settings.engineer_language)

    # -- the topic ------------------------------------------------------------------------

    def topic_name(self, ticket: Ticket) -> str:
        customer = (
            ticket.customer.name if ticket.customer else self.engineer_text("unknown customer")
        )
        label = category_label(self.i18n, ticket.category, self.settings.engineer_language)
        state = "" if ticket.status is TicketStatus.OPEN else "✅ "
        return f"{state}#{ticket.id} · {customer} · {label}"[:TOPIC_NAME_LIMIT]

    def header_text(self, ticket: Ticket) -> str:
        t = self.engineer_text
        lines = [
            t("#{number} · channel: {channel}").format(
                number=ticket.id, channel=ticket.channel.value
            )
        ]
        if ticket.contact is not None:
            who = ticket.contact.full_name
            if ticket.contact.username:
                who += f" (@{ticket.contact.username})"
            lines.append(
                t("Client: {who}, id {user_id}").format(
                    who=who, user_id=ticket.contact.telegram_user_id
                )
            )
        if ticket.customer is not None:
            lines.append(
                t("Customer: {name} (id {customer_id})").format(
                    name=ticket.customer.name, customer_id=ticket.customer.id
                )
            )
            for service in ticket.customer.services:
                line = t("  • service {service_id}: {kind} «{name}», {fee} {currency}").format(
                    service_id=service.id,
                    kind=service.service_type.value,
                    name=service.name,
                    fee=f"{service.monthly_fee:.2f}",
                    currency=service.currency,
                )
                if not service.in_provider_dc:
                    line += t(", outside the provider DC")
                lines.append(line)
        else:
            lines.append(t("Customer: unknown customer ⚠️"))
        label = category_label(self.i18n, ticket.category, self.settings.engineer_language)
        lines.append(t("Category: {category}").format(category=label))
        lines.append(
            t("Opened: {time} ({zone})").format(
                time=self.local(ticket.opened_at), zone=self.settings.timezone
            )
        )
        if ticket.response_due_at is not None:
            lines.append(t("Response due: {time}").format(time=self.local(ticket.response_due_at)))
        if ticket.channel is Channel.TELEGRAM:
            lines.append(t("Write here to answer the client; /note or ! for internal notes."))
        return "\n".join(lines)

    @staticmethod
    def opens_topic(ticket: Ticket) -> bool:
        """Whether `ensure_topic` would open the ticket's topic (and queue its header).

        A report gathered in an outage's room gets none: the room stands in for it."""
        return ticket.support_chat_id is None and ticket.gathered_in_id is None

    def ensure_topic(self, ticket: Ticket) -> Ticket:
        """Queues the ticket's forum topic and header once; later rows follow them in order."""
        if self.opens_topic(ticket):
            self.open_topic(ticket)
        return ticket

    def open_topic(self, ticket: Ticket) -> None:
        """The ticket's forum topic and header card, queued; later rows follow them."""
        if ticket.support_chat_id is None:
            ticket.support_chat_id = self.support_chat_id
            self._topics_queued[ticket.id] = self.outbox.create_topic(
                self.support_chat_id, self.topic_name(ticket), ticket.id
            )
            self.outbox.send_message(
                self.support_chat_id,
                self.header_text(ticket),
                purpose=Purpose.HEADER,
                ticket_id=ticket.id,
                to_topic=True,
            )

    def rename_topic(self, ticket: Ticket) -> None:
        if ticket.support_chat_id is None:
            return
        name = self.topic_name(ticket)
        created = self._topics_queued.get(ticket.id)
        if created is not None:
            created.payload = {**created.payload, "name": name}
            return
        self.outbox.rename_topic(self.support_chat_id, name, ticket.id)

    def post_to_topic(self, ticket: Ticket, text: str) -> None:
        """A notice for the engineers in the ticket's topic (its room's, while it has none)."""
        self.ensure_topic(ticket)
        room = in_room(ticket)
        self.outbox.send_message(
            self.support_chat_id,
            # In a room, a notice names its ticket: many share the room.
            text if room is None or f"#{ticket.id}" in text else f"#{ticket.id}: {text}",
            purpose=Purpose.NOTICE,
            ticket_id=ticket.id,
            incident_id=room,
            to_topic=True,
        )

    # -- incident rooms -------------------------------------------------------------------

    def room_name(self, incident: Incident, members: Sequence[Incident] = ()) -> str:
        """The room's topic name; a member of an outage names its lead's room. Once the
        outage gathers other services (`members`) it says "and others", once other
        customers "several customers": no counts, which every silent join would outdate."""
        lead = incident.lead or incident
        t = self.engineer_text
        service = lead.service
        services = {member.service_id for member in members} | {lead.service_id}
        customers = {member.service.customer_id for member in members} | {service.customer_id}
        what = service.name
        if len(services) > 1:
            what = t("{service} and others").format(service=service.name)
        whose = service.customer.name if len(customers) == 1 else t("several customers")
        site = f" · {lead.outage_site or service.site}" if lead.outage_site or service.site else ""
        outage = t("Outage")
        return f"{outage} #{lead.id} · {what} · {whose}{site}"[:TOPIC_NAME_LIMIT]

    def open_room(self, incident: Incident, first_message: str) -> None:
        """The incident's forum topic and its first message, queued once when it opens; a
        member of an outage opens none: its first message goes to the lead's room."""
        if incident.outage_id is None:
            self._rooms_queued[incident.id] = self.outbox.create_room(
                self.support_chat_id, self.room_name(incident), incident.id
            )
        self.post_to_room(incident, first_message)

    def outage_grew(
        self, lead: Incident, members: Sequence[Incident], joined: Sequence[Incident]
    ) -> None:
        """`joined` became members of `lead`'s outage: its room is renamed when its name
        changes, at most twice in an outage's life (other services, other customers), as a
        rename is one of the group's 20 messages a minute; a room created in this same
        update is created with the name instead."""
        newcomers = {incident.id for incident in joined}
        before = self.room_name(lead, [m for m in members if m.id not in newcomers])
        name = self.room_name(lead, members)
        if name == before:
            return
        created = self._rooms_queued.get(lead.id)
        if created is not None:
            created.payload = {**created.payload, "name": name}
            return
        self.outbox.rename_room(self.support_chat_id, name, lead.id)

    def post_to_room(self, incident: Incident, text: str, *, own_room: bool = False) -> None:
        """A notice in the incident's room: its outage's lead's room when it is a member
        (`own_room`: its own, e.g. to say where it went); the general topic if none."""
        room = incident.id if own_room else (incident.outage_id or incident.id)
        self.outbox.send_message(
            self.support_chat_id,
            text,
            purpose=Purpose.NOTICE,
            incident_id=room,
            to_topic=True,
        )

    # -- copies both ways -----------------------------------------------------------------

    def reporter(self, ticket: Ticket) -> str:
        """Who wrote, in one line of a room: several clients share it."""
        who = ticket.contact.full_name if ticket.contact else self.engineer_text("the client")
        if ticket.contact is not None and ticket.contact.username:
            who += f" @{ticket.contact.username}"
        customer = ticket.customer.name if ticket.customer else "?"
        return f"#{ticket.id} · {who} · {customer}"

    def forward_client_message(self, ticket: Ticket, message: Message) -> None:
        self.ensure_topic(ticket)
        assert message.chat_id is not None and message.telegram_message_id is not None
        room = in_room(ticket)
        text = message.text if message.content_type == "text" else None
        if room is not None and text is not None:
            # A gathered report's words as one line of its room, naming who wrote: lines
            # queued together go as one message (the room's digest, bot/outbox.py).
            self.outbox.send_message(
                self.support_chat_id,
                f"{self.reporter(ticket)}: {text}"[:TEXT_LIMIT],
                purpose=Purpose.COPY_IN,
                ticket_id=ticket.id,
                incident_id=room,
                to_topic=True,
                message_row_id=message.id,
            )
            return
        if room is not None:
            self.post_to_topic(ticket, "📎 " + self.reporter(ticket))
        self.outbox.copy_message(
            self.support_chat_id,
            message.chat_id,
            message.telegram_message_id,
            purpose=Purpose.COPY_IN,
            message_row_id=message.id,
            ticket_id=ticket.id,
            incident_id=room,
            to_topic=True,
            plain_text=text,
        )

    def deliver_to_client(self, ticket: Ticket, message: Message) -> None:
        assert ticket.client_chat_id is not None and message.telegram_message_id is not None
        self.outbox.copy_message(
            ticket.client_chat_id,
            self.support_chat_id,
            message.telegram_message_id,
            purpose=Purpose.COPY_OUT,
            message_row_id=message.id,
            ticket_id=ticket.id,
        )

    async def tell_client(
        self, ticket: Ticket, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """A message from the bot itself to the client, recorded with its fate."""
        if ticket.client_chat_id is None:
            return
        row = await self.tickets.record_bot_message(ticket.id, ticket.client_chat_id, text)
        self.outbox.send_message(
            ticket.client_chat_id,
            text,
            purpose=Purpose.BOT,
            reply_markup=reply_markup.model_dump(exclude_none=True) if reply_markup else None,
            ticket_id=ticket.id,
            message_row_id=row.id,
        )

    def answer(
        self,
        message: TelegramMessage,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """A reply to a command, in the chat (and topic) the command came from."""
        in_group = message.chat.id < 0
        self.outbox.send_message(
            message.chat.id,
            text,
            purpose=Purpose.REPLY,
            reply_markup=reply_markup.model_dump(exclude_none=True) if reply_markup else None,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            reply_to_message_id=message.message_id if in_group else None,
        )

    def reply(
        self, origin: Origin, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """An answer where the update came from; a pressed button's message is edited."""
        if isinstance(origin, TelegramMessage):
            self.answer(origin, text, reply_markup)
        elif isinstance(origin.message, TelegramMessage):
            # Queued like any send: no network call while the update's transaction is open.
            self.outbox.edit_message_text(
                origin.message.chat.id,
                origin.message.message_id,
                text,
                reply_markup=reply_markup.model_dump(exclude_none=True) if reply_markup else None,
            )

    @contextmanager
    def client_language(self, ticket: Ticket, origin: Origin) -> Iterator[None]:
        """Texts for the ticket's client, in their language whoever caused them."""
        if origin_chat_id(origin) == ticket.client_chat_id:
            # The client's own update already runs in the language they read.
            yield
            return
        with self.i18n.use_locale(client_locale(ticket, self.i18n)):
            yield

    def send_to(self, chat_id: int, text: str, purpose: Purpose = Purpose.NOTICE) -> None:
        self.outbox.send_message(chat_id, text, purpose=purpose)

    def mark_topic(self, ticket: Ticket) -> None:
        """A resolved or closed ticket's topic is closed with ✅ in its name; reopened, open."""
        if ticket.support_chat_id is None:
            return
        if ticket.status is TicketStatus.OPEN:
            self.outbox.reopen_topic(self.support_chat_id, ticket.id)
            self.rename_topic(ticket)
        else:
            self.rename_topic(ticket)
            self.outbox.close_topic(self.support_chat_id, ticket.id)

    def react(self, message: TelegramMessage, emoji: str = NOTE_KEPT) -> None:
        """A reaction on a message in the support group (a note kept internal)."""
        self.outbox.set_reaction(message.chat.id, message.message_id, emoji)

    def tell_engineers(self, text: str) -> None:
        """A notice for every engineer: the support group's general topic."""
        self.outbox.send_message(self.support_chat_id, text, purpose=Purpose.NOTICE)
