"""Words for what happens to tickets and their messages."""

from __future__ import annotations

from datetime import timedelta

from aiogram.types import Message as TelegramMessage
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.desk import Desk, Origin
from bot.texts import duration, offline_usage
from crm.models import TicketStatus
from crm.usecases import notices as n


async def opened(notice: n.TicketOpened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    with desk.client_language(ticket, origin):
        # The ticket's own target (an emergency lengthens it), worded with its plural form.
        target = duration(timedelta(minutes=notice.target_minutes))
        text = _(
            "Ticket #{number} is open. An engineer replies within {target}. What is it about?"
        ).format(number=ticket.id, target=target)
        markup = keyboards.categories(ticket.id, desk.i18n)
    await desk.tell_client(ticket, text, reply_markup=markup)


async def reopened(notice: n.TicketReopened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.mark_topic(ticket)
    if notice.by == "engineer":
        desk.reply(origin, _("🔄 #{number} reopened.").format(number=ticket.id))
    with desk.client_language(ticket, origin):
        text = _("Ticket #{number} is open again.").format(number=ticket.id)
    await desk.tell_client(ticket, text)
    if notice.by == "client":
        desk.post_to_topic(ticket, desk.engineer_text("🔄 Reopened by a new client message."))


async def client_message(notice: n.ClientMessageRecorded, desk: Desk, origin: Origin) -> None:
    desk.forward_client_message(notice.ticket, notice.message)


async def still_waiting(notice: n.ClientStillWaiting, desk: Desk, origin: Origin) -> None:
    with desk.i18n.use_locale(desk.settings.engineer_language):
        text = _("⏳ The client wrote again, waiting {waited}.").format(
            waited=duration(timedelta(minutes=notice.waited_minutes))
        )
    desk.post_to_topic(notice.ticket, text)


async def engineer_replied(notice: n.EngineerReplied, desk: Desk, origin: Origin) -> None:
    desk.deliver_to_client(notice.ticket, notice.message)


async def closed(notice: n.TicketClosedByClient, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Ticket #{number} is closed. Thank you!").format(number=notice.ticket.id))
    desk.post_to_topic(notice.ticket, desk.engineer_text("🔒 The client closed the ticket."))
    desk.mark_topic(notice.ticket)


async def no_open_ticket(notice: n.NoOpenTicket, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("You have no open ticket."))


async def taken(notice: n.TicketTaken, desk: Desk, origin: Origin) -> None:
    text = _("👤 #{number} taken by {name}.")
    desk.reply(origin, text.format(number=notice.ticket.id, name=notice.engineer_name))


async def resolved(notice: n.TicketResolved, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.reply(origin, _("✅ #{number} resolved.").format(number=ticket.id))
    desk.mark_topic(ticket)
    with desk.client_language(ticket, origin):
        text = _("Ticket #{number} is resolved. How did we do? Rate from 1 to 5.").format(
            number=ticket.id
        )
    await desk.tell_client(ticket, text, reply_markup=keyboards.rating(ticket.id))


async def not_open(notice: n.TicketNotOpen, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("#{number} is not open.").format(number=notice.ticket.id))


async def already_open(notice: n.TicketAlreadyOpen, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("#{number} is already open.").format(number=notice.ticket.id))


async def rated(notice: n.TicketRated, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Thank you for your rating!"))
    text = desk.engineer_text("The client rated the ticket: {stars}/5")
    desk.post_to_topic(notice.ticket, text.format(stars=notice.stars))


async def refused_button(notice: n.Notice, desk: Desk, origin: Origin) -> None:
    """Told as the button's alert (see acknowledge)."""


async def offline_opened(notice: n.OfflineTicketOpened, desk: Desk, origin: Origin) -> None:
    ticket = desk.ensure_topic(notice.ticket)
    desk.post_to_topic(ticket, notice.text)
    desk.reply(
        origin,
        _("#{number} opened for {customer}, received at {time}.").format(
            number=ticket.id,
            customer=ticket.customer.name if ticket.customer else "?",
            time=desk.local(notice.stated_at),
        ),
    )


async def unknown_customer(notice: n.UnknownCustomer, desk: Desk, origin: Origin) -> None:
    text = _("There is no customer with id {customer_id}.").format(customer_id=notice.customer_id)
    desk.reply(origin, text + "\n" + offline_usage(notice.channel.value))


# -- buttons act once (issue #14) -------------------------------------------------------------


def button_refusal(refusal: n.Notice) -> str | None:
    """The alert for a button pressed too late or twice; None when it is not one of these."""
    if isinstance(refusal, n.ButtonTicketClosed):
        number = refusal.ticket.id
        if refusal.ticket.status is TicketStatus.RESOLVED:
            text = _("Ticket #{number} is resolved: this button changes nothing any more.")
        else:
            text = _("Ticket #{number} is closed: this button changes nothing any more.")
        return text.format(number=number)
    if isinstance(refusal, n.AlreadyRated):
        text = _("You already rated #{number}: {stars}/5.")
        return text.format(number=refusal.ticket.id, stars=refusal.stars)
    if isinstance(refusal, n.ServiceAlreadyChosen):
        text = _("The service of #{number} is already chosen: {service}.")
        return text.format(number=refusal.ticket.id, service=refusal.service.name)
    return None


async def note_kept(notice: n.NoteKept, desk: Desk, origin: Origin) -> None:
    if isinstance(origin, TelegramMessage):
        desk.react(origin)


async def linked(notice: n.TicketLinked, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    assert ticket.customer is not None
    text = _("🔗 #{number} linked to {customer} (id {customer_id}); so is the client, for later.")
    desk.reply(
        origin,
        text.format(
            number=ticket.id, customer=ticket.customer.name, customer_id=ticket.customer.id
        ),
    )
    desk.rename_topic(ticket)
    desk.post_to_topic(ticket, desk.header_text(ticket))


async def link_refused(notice: n.LinkRefused, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    if notice.reason == "already_linked" and ticket.customer is not None:
        text = _("#{number} is already linked to {customer} (id {customer_id}).").format(
            number=ticket.id, customer=ticket.customer.name, customer_id=ticket.customer.id
        )
    else:
        text = _("There is no customer with id {customer_id}.").format(
            customer_id=notice.customer_id
        )
    desk.reply(origin, text)
