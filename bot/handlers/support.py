"""The engineers' supergroup: a forum topic per ticket, replies copied to the client."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot import keyboards
from bot.commands import ParseError, parse_offline_request, stated_moment
from bot.desk import Desk
from bot.i18n import pick_locale
from bot.incoming import incoming_message, telegram_user
from bot.settings import BotSettings
from bot.timers import board_text
from crm.alerts import SlaClockScanner
from crm.errors import CrmError
from crm.models import Channel, Ticket
from crm.tickets import TicketService

# Service messages (topic created, member joined...) are not anybody's words.
CONVERSATION_CONTENT = {
    ContentType.TEXT, ContentType.PHOTO, ContentType.DOCUMENT, ContentType.VIDEO,
    ContentType.VOICE, ContentType.AUDIO, ContentType.ANIMATION, ContentType.STICKER,
    ContentType.VIDEO_NOTE, ContentType.LOCATION, ContentType.CONTACT, ContentType.VENUE,
    ContentType.POLL, ContentType.DICE,
}  # fmt: skip


def engineer_help() -> str:
    return _(
        "In a ticket's topic: write to answer the client; /note TEXT or a message starting "
        "with ! stays internal; /take, /resolve, /reopen; /board lists open tickets.\n"
        "In the general topic: /phone CUSTOMER_ID [HH:MM] TEXT and "
        "/email CUSTOMER_ID [HH:MM] TEXT log a request received by phone or e-mail."
    )


def offline_usage(command: str) -> str:
    return _(
        "Write it as: /{command} CUSTOMER_ID [HH:MM] TEXT, e.g. /{command} 12 09:30 Server is down"
    ).format(command=command)


def explain(error: ParseError) -> str:
    reasons = {
        "missing_arguments": _("The customer id and the request text are missing."),
        "customer_not_a_number": _("The customer id must be a number, not «{value}»."),
        "bad_time": _("{value} is not a time of day: use HH:MM from 00:00 to 23:59."),
        "missing_text": _("The request text is missing."),
    }
    return reasons[error.reason].format(value=error.value)


async def ticket_of(message: Message, tickets: TicketService) -> Ticket | None:
    """A topic names its ticket; without topics, a reply to one of its messages does."""
    if message.is_topic_message and message.message_thread_id is not None:
        ticket = await tickets.ticket_for_topic(message.chat.id, message.message_thread_id)
        if ticket is not None:
            return ticket
    reply = message.reply_to_message
    if reply is not None and not (reply.forum_topic_created and message.is_topic_message):
        return await tickets.ticket_for_group_message(message.chat.id, reply.message_id)
    return None


async def require_ticket(message: Message, tickets: TicketService, desk: Desk) -> Ticket | None:
    """The ticket a command is about, or a reply saying where the command belongs."""
    ticket = await ticket_of(message, tickets)
    if ticket is None:
        desk.answer(
            message,
            _("Use this command inside a ticket's topic (or as a reply to a ticket message)."),
        )
    return ticket


def make_router(settings: BotSettings) -> Router:
    router = Router(name="support")
    router.message.filter(F.chat.id == settings.support_chat_id)

    @router.message(Command("help"))
    async def show_help(message: Message, desk: Desk) -> None:
        desk.answer(message, engineer_help())

    @router.message(Command("note"))
    async def note(
        message: Message,
        command: CommandObject,
        event_update: Update,
        tickets: TicketService,
        desk: Desk,
    ) -> None:
        ticket = await require_ticket(message, tickets, desk)
        if ticket is None:
            return
        if not command.args:
            desk.answer(message, _("Write the note after the command: /note TEXT"))
            return
        await tickets.record_engineer_message(
            ticket.id, incoming_message(message, event_update.update_id), internal=True
        )

    @router.message(Command("take"))
    async def take(message: Message, tickets: TicketService, desk: Desk) -> None:
        ticket = await require_ticket(message, tickets, desk)
        if ticket is None or message.from_user is None:
            return
        await tickets.take(ticket.id, telegram_user(message.from_user), message.date)
        desk.answer(
            message,
            _("👤 #{number} taken by {name}.").format(
                number=ticket.id, name=message.from_user.full_name
            ),
        )

    @router.message(Command("resolve"))
    async def resolve(message: Message, tickets: TicketService, desk: Desk, i18n: I18n) -> None:
        ticket = await require_ticket(message, tickets, desk)
        if ticket is None or message.from_user is None:
            return
        try:
            ticket = await tickets.resolve(
                ticket.id, telegram_user(message.from_user), message.date
            )
        except CrmError:
            desk.answer(message, _("#{number} is not open.").format(number=ticket.id))
            return
        desk.answer(message, _("✅ #{number} resolved.").format(number=ticket.id))
        with i18n.use_locale(client_locale(ticket, i18n)):
            await desk.tell_client(
                ticket,
                _("Ticket #{number} is resolved. How did we do? Rate from 1 to 5.").format(
                    number=ticket.id
                ),
                reply_markup=keyboards.rating(ticket.id),
            )

    @router.message(Command("reopen"))
    async def reopen(message: Message, tickets: TicketService, desk: Desk, i18n: I18n) -> None:
        ticket = await require_ticket(message, tickets, desk)
        if ticket is None or message.from_user is None:
            return
        try:
            ticket = await tickets.reopen(ticket.id, telegram_user(message.from_user), message.date)
        except CrmError:
            desk.answer(message, _("#{number} is already open.").format(number=ticket.id))
            return
        desk.answer(message, _("🔄 #{number} reopened.").format(number=ticket.id))
        with i18n.use_locale(client_locale(ticket, i18n)):
            await desk.tell_client(
                ticket, _("Ticket #{number} is open again.").format(number=ticket.id)
            )

    @router.message(Command("board"))
    async def board(message: Message, session: AsyncSession, desk: Desk) -> None:
        scanner = SlaClockScanner(session, desk.settings.sla_config())
        now = datetime.now(UTC)
        desk.answer(message, board_text(await scanner.board(), desk, now))

    @router.message(Command("phone", "email"))
    async def offline_request(
        message: Message, command: CommandObject, tickets: TicketService, desk: Desk
    ) -> None:
        if message.from_user is None:
            return
        parsed = parse_offline_request(command.args)
        if isinstance(parsed, ParseError):
            desk.answer(message, explain(parsed) + "\n" + offline_usage(command.command))
            return
        stated_at = (
            stated_moment(parsed.stated_time, message.date, desk.zone)
            if parsed.stated_time
            else message.date
        )
        try:
            ticket = await tickets.open_offline_ticket(
                channel=Channel(command.command),
                customer_id=parsed.customer_id,
                stated_at=stated_at,
                text=parsed.text,
                engineer=telegram_user(message.from_user),
                logged_at=message.date,
            )
        except CrmError:
            desk.answer(
                message,
                _("There is no customer with id {customer_id}.").format(
                    customer_id=parsed.customer_id
                )
                + "\n"
                + offline_usage(command.command),
            )
            return
        ticket = desk.ensure_topic(ticket)
        desk.post_to_topic(ticket, f"{parsed.text}")
        desk.answer(
            message,
            _("#{number} opened for {customer}, received at {time}.").format(
                number=ticket.id,
                customer=ticket.customer.name if ticket.customer else "?",
                time=desk.local(stated_at),
            ),
        )

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message, desk: Desk) -> None:
        command = (message.text or "").split()[0]
        desk.answer(
            message,
            _("Unknown command {command}.").format(command=command) + "\n" + engineer_help(),
        )

    @router.message(F.content_type.in_(CONVERSATION_CONTENT))
    async def engineer_message(
        message: Message, event_update: Update, tickets: TicketService, desk: Desk
    ) -> None:
        ticket = await ticket_of(message, tickets)
        if ticket is None or message.from_user is None:
            return  # Talk in the general topic is the engineers' own.
        internal = (message.text or message.caption or "").startswith("!")
        recorded = await tickets.record_engineer_message(
            ticket.id, incoming_message(message, event_update.update_id), internal=internal
        )
        if recorded is None or recorded.delivery.value != "pending":
            return
        desk.deliver_to_client(ticket, recorded)

    return router


def client_locale(ticket: Ticket, i18n: I18n) -> str:
    contact = ticket.contact
    if contact is None:
        return i18n.default_locale
    return pick_locale(contact.chosen_language, contact.telegram_language, i18n.default_locale)
