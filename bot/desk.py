"""Everything the desk posts: forum topics, copies both ways, notices to clients.

Each send is recorded in the CRM, delivered or failed with the reason, so nothing the
bot was asked to say disappears silently.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot.settings import BotSettings
from crm.models import Category, Channel, Direction, Message, Ticket
from crm.services import TicketService

log = structlog.get_logger()

TOPIC_NAME_LIMIT = 128


def category_label(i18n: I18n, category: Category | None, locale: str | None = None) -> str:
    labels = {
        Category.QUESTION: i18n.gettext("question", locale=locale),
        Category.DOWN: i18n.gettext("service is down", locale=locale),
        Category.DATA_LOSS: i18n.gettext("data lost or damaged", locale=locale),
        Category.BILLING: i18n.gettext("billing", locale=locale),
        Category.OTHER: i18n.gettext("other", locale=locale),
    }
    return labels[category] if category else i18n.gettext("no category yet", locale=locale)


class Desk:
    def __init__(self, bot: Bot, settings: BotSettings, tickets: TicketService, i18n: I18n) -> None:
        self.bot = bot
        self.settings = settings
        self.tickets = tickets
        self.i18n = i18n
        self.zone = ZoneInfo(settings.timezone)

    @property
    def support_chat_id(self) -> int:
        return self.settings.support_chat_id

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def _engineer_text(self, text: str) -> str:
        return self.i18n.gettext(text, locale=self.settings.engineer_language)

    # -- the topic ------------------------------------------------------------------------

    def topic_name(self, ticket: Ticket) -> str:
        customer = (
            ticket.customer.name if ticket.customer else self._engineer_text("unknown customer")
        )
        label = category_label(self.i18n, ticket.category, self.settings.engineer_language)
        return f"#{ticket.id} · {customer} · {label}"[:TOPIC_NAME_LIMIT]

    def header_text(self, ticket: Ticket) -> str:
        t = self._engineer_text
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

    async def ensure_topic(self, ticket: Ticket) -> Ticket:
        """Opens the ticket's forum topic, or falls back to the plain group without topics."""
        if ticket.support_chat_id is not None:
            return ticket
        thread_id: int | None = None
        try:
            topic = await self.bot.create_forum_topic(self.support_chat_id, self.topic_name(ticket))
            thread_id = topic.message_thread_id
        except TelegramBadRequest as error:
            # A group without topics still works: replies to our messages map back.
            log.warning("no_forum_topics", ticket=ticket.id, error=error.message)
        header_id: int | None = None
        try:
            header = await self.bot.send_message(
                self.support_chat_id, self.header_text(ticket), message_thread_id=thread_id
            )
            header_id = header.message_id
        except TelegramAPIError as error:
            log.error("header_not_sent", ticket=ticket.id, error=str(error))
        return await self.tickets.attach_topic(
            ticket.id, self.support_chat_id, thread_id, header_id
        )

    async def rename_topic(self, ticket: Ticket) -> None:
        if ticket.topic_thread_id is None:
            return
        try:
            await self.bot.edit_forum_topic(
                self.support_chat_id, ticket.topic_thread_id, name=self.topic_name(ticket)
            )
        except TelegramAPIError as error:
            log.warning("topic_not_renamed", ticket=ticket.id, error=str(error))

    async def post_to_topic(self, ticket: Ticket, text: str) -> int | None:
        """A notice for the engineers in the ticket's topic; failures are logged, not raised."""
        ticket = await self.ensure_topic(ticket)
        try:
            sent = await self.bot.send_message(
                self.support_chat_id,
                text,
                message_thread_id=ticket.topic_thread_id,
                reply_to_message_id=None if ticket.topic_thread_id else ticket.header_message_id,
            )
        except TelegramAPIError as error:
            log.error("topic_notice_failed", ticket=ticket.id, error=str(error), text=text)
            return None
        return sent.message_id

    # -- copies both ways -----------------------------------------------------------------

    async def forward_client_message(self, ticket: Ticket, message: Message) -> None:
        ticket = await self.ensure_topic(ticket)
        assert message.chat_id is not None and message.telegram_message_id is not None
        try:
            copy = await self.bot.copy_message(
                self.support_chat_id,
                from_chat_id=message.chat_id,
                message_id=message.telegram_message_id,
                message_thread_id=ticket.topic_thread_id,
                reply_to_message_id=None if ticket.topic_thread_id else ticket.header_message_id,
            )
        except TelegramAPIError as error:
            await self.tickets.mark_failed(message.id, str(error))
            log.error("client_message_not_copied", ticket=ticket.id, error=str(error))
            t = self._engineer_text
            notice = t("⚠️ The client sent a {kind} that could not be copied here ({error}).")
            notice = notice.format(kind=message.content_type, error=error.message)
            if message.text:
                notice += "\n" + t("Text: {text}").format(text=message.text)
            if message.file_ids:
                notice += "\n" + t("File id: {file_id}").format(file_id=message.file_ids[0])
            await self.post_to_topic(ticket, notice)
            return
        await self.tickets.mark_delivered(message.id, self.support_chat_id, copy.message_id)

    async def deliver_to_client(self, ticket: Ticket, message: Message) -> bool:
        assert ticket.client_chat_id is not None and message.telegram_message_id is not None
        try:
            copy = await self.bot.copy_message(
                ticket.client_chat_id,
                from_chat_id=self.support_chat_id,
                message_id=message.telegram_message_id,
            )
        except TelegramAPIError as error:
            await self.tickets.mark_failed(message.id, str(error))
            log.error("reply_not_delivered", ticket=ticket.id, error=str(error))
            notice = self._engineer_text("⚠️ Not delivered to the client: {error}")
            await self.post_to_topic(ticket, notice.format(error=error.message))
            return False
        await self.tickets.mark_delivered(message.id, ticket.client_chat_id, copy.message_id)
        return True

    async def tell_client(
        self, ticket: Ticket, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> int | None:
        """A message from the bot itself to the client, recorded with its fate."""
        if ticket.client_chat_id is None:
            return None
        sent_id: int | None = None
        error_text: str | None = None
        try:
            sent = await self.bot.send_message(
                ticket.client_chat_id, text, reply_markup=reply_markup
            )
            sent_id = sent.message_id
        except TelegramAPIError as error:
            error_text = str(error)
            log.error("client_notice_failed", ticket=ticket.id, error=error_text)
        await self.tickets.record_bot_message(
            ticket.id, ticket.client_chat_id, sent_id, text, error_text
        )
        return sent_id

    async def redeliver_pending(self) -> int:
        """After a crash: copies recorded but never sent are sent now, in order."""
        count = 0
        for message in await self.tickets.undelivered():
            ticket = await self.tickets.tickets.get(message.ticket_id)
            if ticket is None:
                continue
            if message.direction is Direction.FROM_CLIENT:
                await self.forward_client_message(ticket, message)
            elif ticket.client_chat_id is not None:
                await self.deliver_to_client(ticket, message)
            count += 1
        return count
