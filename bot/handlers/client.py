"""Private chats: clients open tickets, write to them, close and rate them."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.commands import ParseError, parse_month_argument
from bot.desk import Desk, category_label
from bot.incoming import incoming_message, telegram_user
from bot.settings import BotSettings
from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService
from crm.models import Category, Ticket, TicketStatus
from crm.tickets import TicketService
from sla.intervals import previous_month

ENGINEER_COMMANDS = (
    "take", "resolve", "reopen", "note", "phone", "email", "outage", "confirm", "reject",
    "restored", "exclude", "restoration", "dataloss",
)  # fmt: skip


class NewTicket(StatesGroup):
    waiting_for_text = State()


def status_label(status: TicketStatus) -> str:
    return {
        TicketStatus.OPEN: _("open"),
        TicketStatus.RESOLVED: _("resolved"),
        TicketStatus.CLOSED: _("closed"),
    }[status]


def help_text() -> str:
    return _(
        "Write your question or problem here, with photos or files if useful: "
        "every message goes to our engineers and is recorded.\n\n"
        "/down – report that a service is down\n"
        "/new – start a new ticket\n"
        "/tickets – your tickets\n"
        "/close – close the current ticket\n"
        "/lang – change the language\n"
        "/help – this help"
    )


def make_router(settings: BotSettings) -> Router:
    router = Router(name="clients")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")

    @router.message(CommandStart(deep_link=True))
    async def start_with_token(
        message: Message,
        command: CommandObject,
        contacts: ContactService,
        desk: Desk,
    ) -> None:
        assert message.from_user is not None
        try:
            contact = await contacts.link(telegram_user(message.from_user), command.args or "")
        except CrmError:
            desk.answer(
                message,
                _("This invitation link is not valid any more. Ask your manager for a new one.")
                + "\n\n"
                + help_text(),
            )
            return
        assert contact.customer is not None
        desk.answer(
            message,
            _("Hello, {name}! Your account is now linked to {customer}.").format(
                name=message.from_user.first_name, customer=contact.customer.name
            )
            + "\n\n"
            + help_text(),
        )

    @router.message(CommandStart())
    async def start(message: Message, desk: Desk) -> None:
        assert message.from_user is not None
        desk.answer(
            message,
            _("Hello, {name}! This is the support desk.").format(name=message.from_user.first_name)
            + "\n\n"
            + help_text(),
        )

    @router.message(Command("help"))
    async def show_help(message: Message, desk: Desk) -> None:
        desk.answer(message, help_text())

    @router.message(Command("lang"))
    async def choose_language(message: Message, desk: Desk) -> None:
        desk.answer(message, _("Choose your language:"), reply_markup=keyboards.languages())

    @router.callback_query(keyboards.LanguageChoice.filter())
    async def language_chosen(
        query: CallbackQuery,
        callback_data: keyboards.LanguageChoice,
        contacts: ContactService,
        i18n: I18n,
    ) -> None:
        await contacts.set_language(telegram_user(query.from_user), callback_data.locale)
        with i18n.use_locale(callback_data.locale):
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.edit_text(_("Language changed."))

    @router.message(Command("tickets"))
    async def list_tickets(
        message: Message, tickets: TicketService, desk: Desk, i18n: I18n
    ) -> None:
        assert message.from_user is not None
        mine = await tickets.client_tickets(telegram_user(message.from_user))
        if not mine:
            desk.answer(message, _("You have no tickets yet. Just write to open one."))
            return
        lines = [_("Your tickets:")]
        for ticket in mine:
            label = category_label(i18n, ticket.category, i18n.current_locale)
            status = status_label(ticket.status)
            lines.append(f"#{ticket.id} · {status} · {label} · {desk.local(ticket.opened_at)}")
        desk.answer(message, "\n".join(lines))

    @router.message(Command("new"))
    async def new_ticket(message: Message, state: FSMContext, desk: Desk) -> None:
        await state.set_state(NewTicket.waiting_for_text)
        desk.answer(
            message, _("Describe the new request in your next message: it opens a new ticket.")
        )

    @router.message(Command("close"))
    async def close_ticket(message: Message, tickets: TicketService, desk: Desk) -> None:
        assert message.from_user is not None
        ticket = await tickets.close_by_client(telegram_user(message.from_user), message.date)
        if ticket is None:
            desk.answer(message, _("You have no open ticket."))
            return
        desk.answer(message, _("Ticket #{number} is closed. Thank you!").format(number=ticket.id))
        desk.post_to_topic(ticket, _engineer(desk, "🔒 The client closed the ticket."))

    @router.message(Command(*ENGINEER_COMMANDS))
    async def engineer_command_refused(message: Message, desk: Desk) -> None:
        desk.answer(
            message,
            _("This command is for support engineers in the support group. {help}").format(
                help=_("Send /help to see what you can do here.")
            ),
        )

    @router.message(Command("down"))
    async def report_down(
        message: Message,
        event_update: Update,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        ticket = await _record(message, event_update, tickets, desk, i18n, force_new=False)
        if ticket is not None:
            assert message.from_user is not None
            user = telegram_user(message.from_user)
            # The /down message itself is the client's notice (terms A 5.12 / B 5.8).
            await _choose_category(
                ticket, Category.DOWN, user, message.date, tickets, incidents, desk, i18n
            )

    @router.message(Command("claim"))
    async def claim(
        message: Message,
        command: CommandObject,
        contacts: ContactService,
        claims: ClaimService,
        desk: Desk,
    ) -> None:
        assert message.from_user is not None
        parsed = parse_month_argument(command.args)
        if isinstance(parsed, ParseError):
            desk.answer(
                message,
                _("«{value}» is not a month. Write it as: /claim [YYYY-MM]").format(
                    value=parsed.value
                ),
            )
            return
        month = parsed or previous_month(message.date, desk.zone)
        contact = await contacts.find(message.from_user.id)
        if contact is None or contact.customer_id is None:
            desk.answer(
                message,
                _(
                    "Credits are for linked customers: "
                    "open the invitation link from your manager first."
                ),
            )
            return
        services = await claims.claim(contact, month)
        if not services:
            desk.answer(message, _("Your company has no services registered yet."))
            return
        desk.answer(
            message,
            _(
                "Your request for the service credits of {month} is recorded for: {services}. "
                "Credits are applied as a discount (terms A 5.13 / B 5.9)."
            ).format(month=month, services=", ".join(s.name for s in services)),
        )

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message, desk: Desk) -> None:
        command = (message.text or "").split()[0]
        desk.answer(
            message, _("Unknown command {command}.").format(command=command) + "\n\n" + help_text()
        )

    @router.message(StateFilter(NewTicket.waiting_for_text))
    async def first_message_of_new_ticket(
        message: Message,
        event_update: Update,
        state: FSMContext,
        tickets: TicketService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        await state.clear()
        await _record(message, event_update, tickets, desk, i18n, force_new=True)

    @router.message()
    async def client_message(
        message: Message, event_update: Update, tickets: TicketService, desk: Desk, i18n: I18n
    ) -> None:
        await _record(message, event_update, tickets, desk, i18n, force_new=False)

    @router.callback_query(keyboards.CategoryChoice.filter())
    async def category_chosen(
        query: CallbackQuery,
        callback_data: keyboards.CategoryChoice,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        ticket = await _own_ticket(query, callback_data.ticket_id, tickets)
        if ticket is None:
            return
        await query.answer()
        user = telegram_user(query.from_user)
        # A button on the acknowledgement classifies the message that opened the ticket.
        await _choose_category(
            ticket, callback_data.category, user, ticket.opened_at, tickets, incidents, desk, i18n
        )

    @router.callback_query(keyboards.ServiceChoice.filter())
    async def service_chosen(
        query: CallbackQuery,
        callback_data: keyboards.ServiceChoice,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        ticket = await _own_ticket(query, callback_data.ticket_id, tickets)
        if ticket is None:
            return
        try:
            ticket = await tickets.set_service(
                ticket.id, callback_data.service_id, telegram_user(query.from_user)
            )
        except CrmError:
            await query.answer(_("This service is not yours."), show_alert=True)
            return
        await query.answer()
        assert ticket.service is not None
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("Noted: {service}. Engineers are on it.").format(service=ticket.service.name)
            )
        desk.post_to_topic(
            ticket,
            _engineer(desk, "Service chosen by the client: {service_id} «{name}»").format(
                service_id=ticket.service.id, name=ticket.service.name
            ),
        )
        if ticket.category is Category.DOWN:
            notice_at = await tickets.down_reported_at(ticket.id) or ticket.opened_at
            await _open_incident(
                ticket,
                ticket.service.id,
                notice_at,
                telegram_user(query.from_user),
                incidents,
                desk,
                i18n,
            )

    @router.callback_query(keyboards.RatingChoice.filter())
    async def rated(
        query: CallbackQuery,
        callback_data: keyboards.RatingChoice,
        tickets: TicketService,
        desk: Desk,
    ) -> None:
        ticket = await _own_ticket(query, callback_data.ticket_id, tickets)
        if ticket is None:
            return
        try:
            ticket = await tickets.rate(
                ticket.id, telegram_user(query.from_user), callback_data.stars
            )
        except CrmError:
            await query.answer(_("Rate with 1 to 5 stars."), show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("Thank you for your rating!"))
        desk.post_to_topic(
            ticket,
            _engineer(desk, "The client rated the ticket: {stars}/5").format(stars=ticket.rating),
        )

    return router


def _engineer(desk: Desk, text: str) -> str:
    return desk.i18n.gettext(text, locale=desk.settings.engineer_language)


async def _own_ticket(
    query: CallbackQuery, ticket_id: int, tickets: TicketService
) -> Ticket | None:
    """Buttons carry a ticket number; a client may only act on tickets of their own."""
    ticket = await tickets.tickets.get(ticket_id)
    contact = await tickets.contacts.find(query.from_user.id)
    if ticket is None or contact is None or ticket.contact_id != contact.id:
        await query.answer(_("This ticket is not yours."), show_alert=True)
        return None
    return ticket


async def _record(
    message: Message,
    update: Update,
    tickets: TicketService,
    desk: Desk,
    i18n: I18n,
    *,
    force_new: bool,
) -> Ticket | None:
    outcome = await tickets.record_client_message(
        incoming_message(message, update.update_id), force_new=force_new
    )
    ticket = outcome.ticket
    if outcome.duplicate:
        # Its copy was queued with it, in the same transaction.
        return None
    if outcome.opened:
        minutes = f"{desk.settings.first_response_minutes:g}"
        await desk.tell_client(
            ticket,
            _(
                "Ticket #{number} is open. An engineer replies within {minutes} minutes. "
                "What is it about?"
            ).format(number=ticket.id, minutes=minutes),
            reply_markup=keyboards.categories(ticket.id, i18n),
        )
    elif outcome.reopened:
        await desk.tell_client(
            ticket, _("Ticket #{number} is open again.").format(number=ticket.id)
        )
        desk.post_to_topic(ticket, _engineer(desk, "🔄 Reopened by a new client message."))
    desk.forward_client_message(ticket, outcome.message)
    if not (outcome.opened or outcome.reopened) and ticket.first_response_at is None:
        # No new clock: the engineers see the client is still waiting, and for how long.
        waited = (message.date - ticket.opened_at).total_seconds() / 60
        desk.post_to_topic(
            ticket,
            _engineer(desk, "⏳ The client wrote again, waiting {minutes} min.").format(
                minutes=f"{waited:.0f}"
            ),
        )
    return ticket


async def _choose_category(
    ticket: Ticket,
    category: Category,
    user: TelegramUser,
    notice_at: datetime,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
    i18n: I18n,
) -> None:
    ticket = await tickets.set_category(ticket.id, category, user, "client", notice_at)
    desk.rename_topic(ticket)
    label = category_label(i18n, category, i18n.current_locale)
    await desk.tell_client(ticket, _("Category: {category}.").format(category=label))
    desk.post_to_topic(
        ticket,
        _engineer(desk, "Category chosen by the client: {category}").format(
            category=category_label(i18n, category, desk.settings.engineer_language)
        ),
    )
    if category is not Category.DOWN or ticket.customer is None:
        return
    services = list(ticket.customer.services)
    if len(services) == 1:
        ticket = await tickets.set_service(ticket.id, services[0].id, user)
        await _open_incident(ticket, services[0].id, notice_at, user, incidents, desk, i18n)
    elif len(services) > 1:
        await desk.tell_client(
            ticket,
            _("Which service is down?"),
            reply_markup=keyboards.services(ticket.id, services),
        )


async def _open_incident(
    ticket: Ticket,
    service_id: int,
    notice_at: datetime,
    user: TelegramUser,
    incidents: IncidentService,
    desk: Desk,
    i18n: I18n,
) -> None:
    incident, created = await incidents.open_for_ticket(
        ticket, service_id, notice_at, user, "client"
    )
    if not created:
        return
    await desk.tell_client(
        ticket,
        _("Outage of {service} recorded at {time}. Engineers are checking it.").format(
            service=incident.service.name, time=desk.local(notice_at)
        ),
    )
    desk.post_to_topic(
        ticket,
        _engineer(
            desk,
            "⚡ Outage #{incident} of service {service_id} reported by the client at {time}. "
            "/confirm LAYER or /reject REASON",
        ).format(incident=incident.id, service_id=service_id, time=desk.local(notice_at)),
    )
