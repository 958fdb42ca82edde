"""Words for what happens to tickets and their messages."""

from __future__ import annotations

from datetime import timedelta

from aiogram.types import Message as TelegramMessage
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.desk import Desk, Origin, in_room
from bot.texts import duration, offline_usage
from crm.albums import CAPTION_LIMIT, add_to_album, caption_too_long
from crm.models import Delivery, Direction, Message, Purpose, Ticket, TicketStatus
from crm.usecases import notices as n

TEXT_LIMIT = 4096


async def opened(notice: n.TicketOpened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    with desk.client_language(ticket, origin):
        # The ticket's own target (an emergency lengthens it), worded with its plural form.
        target = duration(timedelta(minutes=notice.target_minutes))
        text = _(
            "Ticket #{number} is open. An engineer replies within {target}. What is it about?"
        ).format(number=ticket.id, target=target)
        room = in_room(ticket)
        if room is not None:
            text += "\n" + _(
                "We are already working on an outage of your services (#{incident}); "
                "its news will reach you here."
            ).format(incident=room)
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
    message = notice.message
    if not caption_too_long(message):
        desk.forward_client_message(notice.ticket, message)
        return
    # Telegram refuses to copy a caption over 1,024 characters (a Premium client may write
    # one): the media goes without it, and the caption right after it as a text.
    ticket = desk.ensure_topic(notice.ticket)
    assert message.chat_id is not None
    copy_media_only(desk, ticket, message, desk.support_chat_id, message.chat_id)
    post_caption(desk, ticket, message.text or "")


def copy_media_only(
    desk: Desk, ticket: Ticket, message: Message, to_chat: int, from_chat: int
) -> None:
    """The media of a message whose caption Telegram would refuse, without the caption: into
    the ticket's topic (a client's) or to the client (an engineer's)."""
    assert message.telegram_message_id is not None
    into_topic = to_chat == desk.support_chat_id
    desk.outbox.copy_messages(
        to_chat,
        from_chat,
        [message.telegram_message_id],
        purpose=Purpose.COPY_IN if into_topic else Purpose.COPY_OUT,
        message_rows=[message.id],
        ticket_id=ticket.id,
        to_topic=into_topic,
        media_group_id=None,
        remove_caption=True,
        incident_id=in_room(ticket) if into_topic else None,
    )


def post_caption(desk: Desk, ticket: Ticket, caption: str) -> None:
    """A caption too long to copy, as texts of at most 4,096 characters after the media."""
    text = desk.engineer_text("📝 The caption of the client's message above:") + "\n" + caption
    for start in range(0, len(text), TEXT_LIMIT):
        desk.post_to_topic(ticket, text[start : start + TEXT_LIMIT])


async def album_part(notice: n.AlbumPartRecorded, desk: Desk, origin: Origin) -> None:
    """One message of an album: it joins its group's single copy (crm/albums.py)."""
    ticket, message = notice.ticket, notice.message
    assert message.chat_id is not None
    if notice.direction == "in":
        desk.ensure_topic(ticket)
        room = in_room(ticket)
        album = await add_to_album(
            desk.outbox,
            chat_id=desk.support_chat_id,
            from_chat_id=message.chat_id,
            message=message,
            media_group_id=notice.media_group_id,
            purpose=Purpose.COPY_IN,
            ticket_id=ticket.id,
            to_topic=True,
            incident_id=room,
        )
        if room is not None and album.message_row_id == message.id:
            # Many reporters share the room: the album's first part says whose it is.
            desk.post_to_topic(ticket, "📎 " + desk.reporter(ticket))
        if caption_too_long(message):
            post_caption(desk, ticket, message.text or "")
    elif ticket.client_chat_id is not None:
        await add_to_album(
            desk.outbox,
            chat_id=ticket.client_chat_id,
            from_chat_id=message.chat_id,
            message=message,
            media_group_id=notice.media_group_id,
            purpose=Purpose.COPY_OUT,
            ticket_id=ticket.id,
            to_topic=False,
        )


async def client_edited(notice: n.ClientEdited, desk: Desk, origin: Origin) -> None:
    """Shown in the topic as a reply to the message's copy (once the copy exists)."""
    ticket, message = notice.ticket, notice.message
    text = desk.engineer_text("✏️ The client edited their message: {text}")
    text = text.format(text=notice.new_text or "—")[:TEXT_LIMIT]
    if message.copy_chat_id == desk.support_chat_id and message.copy_message_id is not None:
        desk.outbox.send_message(
            desk.support_chat_id,
            text,
            purpose=Purpose.NOTICE,
            thread_id=ticket.topic_thread_id,
            reply_to_message_id=message.copy_message_id,
            ticket_id=ticket.id,
        )
    else:
        desk.post_to_topic(ticket, text)


async def engineer_edited(notice: n.EngineerEdited, desk: Desk, origin: Origin) -> None:
    """The client's copy is edited too; a copy still queued carries the edit by itself."""
    message, text = notice.message, notice.new_text
    if message.direction is not Direction.TO_CLIENT or not text:
        return
    fits = message.content_type == "text" or len(text.encode("utf-16-le")) // 2 <= CAPTION_LIMIT
    client = notice.ticket.client_chat_id
    if message.copy_message_id is None and message.delivery is Delivery.PENDING and fits:
        # Telegram may have the copy already without its id being recorded yet: the edit
        # follows the copy, and an edit that changes nothing (the copy took it) is done.
        if client is not None:
            desk.outbox.edit_copy_on_its_way(
                client, message.id, notice.ticket.id, text=text,
                caption=message.content_type != "text",
            )  # fmt: skip
        return
    if message.copy_chat_id is None or message.copy_message_id is None:
        return
    if message.content_type == "text":
        desk.outbox.edit_message_text(
            message.copy_chat_id, message.copy_message_id, text, ticket_id=notice.ticket.id
        )
    elif len(text.encode("utf-16-le")) // 2 <= CAPTION_LIMIT:
        desk.outbox.edit_message_caption(
            message.copy_chat_id, message.copy_message_id, text, ticket_id=notice.ticket.id
        )


async def still_waiting(notice: n.ClientStillWaiting, desk: Desk, origin: Origin) -> None:
    if in_room(notice.ticket) is not None:
        return  # In a room, the outage's answer is what every reporter waits for.
    with desk.i18n.use_locale(desk.settings.engineer_language):
        text = _("⏳ The client wrote again, waiting {waited}.").format(
            waited=duration(timedelta(minutes=notice.waited_minutes))
        )
    desk.post_to_topic(notice.ticket, text)


async def engineer_replied(notice: n.EngineerReplied, desk: Desk, origin: Origin) -> None:
    ticket, message = notice.ticket, notice.message
    if not caption_too_long(message) or ticket.client_chat_id is None:
        desk.deliver_to_client(ticket, message)
        return
    # An engineer with Telegram Premium wrote a caption a bot cannot send: the media goes
    # without it, and its words right after it, split to Telegram's text limit.
    copy_media_only(desk, ticket, message, ticket.client_chat_id, desk.support_chat_id)
    caption = message.text or ""
    for start in range(0, len(caption), TEXT_LIMIT):
        await desk.tell_client(ticket, caption[start : start + TEXT_LIMIT])


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
