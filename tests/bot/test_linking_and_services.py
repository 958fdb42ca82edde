"""Invitations link accounts to customers; /down asks which service when there are several."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import ServiceType
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def customer_with_services(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> str:
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        for number in range(count):
            await crm.add_service(
                customer.id, ServiceType.DEDICATED, Decimal("150000"), name=f"rack-{number + 1}"
            )
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
        return token


async def test_start_with_token_links_the_account_and_greets_by_customer(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token = await customer_with_services(sessionmaker, 1)
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}"))

    assert "Steppe Cloud LLP" in replies(bot, CLIENT)[-1]
    assert rows(database_url, "select customer_id from contacts") == [(1,)]


async def test_start_with_a_wrong_token_explains_and_links_nothing(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/start not-a-token"))

    assert "not valid" in replies(bot, CLIENT)[-1]
    assert rows(database_url, "select customer_id from contacts") in ([], [(None,)])


async def test_unlinked_writer_gets_a_ticket_marked_unknown_customer(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "who am I?"))

    header = replies(bot, SUPPORT_CHAT_ID)[0]
    assert "unknown customer" in header
    assert "unknown customer" in bot.session.sent("createForumTopic")[0].name
    assert rows(database_url, "select customer_id from tickets") == [(None,)]


async def test_down_with_several_services_asks_which_one(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token = await customer_with_services(sessionmaker, 2)
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))

    question = [m for m in bot.session.sent("sendMessage") if m.chat_id == CLIENT][-1]
    assert "Which service" in question.text
    buttons = [b.text for row in question.reply_markup.inline_keyboard for b in row]
    assert buttons == ["rack-1 (1)", "rack-2 (2)"]
    assert rows(database_url, "select category, service_id from tickets") == [("down", None)]

    await dispatcher.feed_update(bot, updates.callback(CLIENT, "svc:1:2"))
    assert rows(database_url, "select category, service_id from tickets") == [("down", 2)]


async def test_down_with_one_service_picks_it(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token = await customer_with_services(sessionmaker, 1)
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))

    assert rows(database_url, "select category, service_id from tickets") == [("down", 1)]
    # The topic opens named for what it is: no rename, which would spend one of the
    # support group's 20 messages a minute.
    assert bot.session.sent("createForumTopic")[0].name.endswith("service is down")
    assert bot.session.sent("editForumTopic") == []


async def test_client_sees_only_own_tickets(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "mine"))
    await dispatcher.feed_update(bot, updates.private(700002, "theirs"))
    await dispatcher.feed_update(bot, updates.private(700002, "/tickets"))

    listing = replies(bot, 700002)[-1]
    assert "#2" in listing and "#1" not in listing


async def test_new_starts_a_second_ticket_while_one_is_open(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "first problem"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/new"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "second problem"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "more on the second"))

    assert rows(
        database_url, "select ticket_id, text from messages where direction='from_client'"
    ) == [(1, "first problem"), (2, "second problem"), (2, "more on the second")]


async def test_a_client_message_that_cannot_be_copied_is_kept_and_described(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    bot.session.fail("copyMessage", 400, "Bad Request: message can't be copied")
    video = {
        "video": {
            "file_id": "VID-1",
            "file_unique_id": "u1",
            "width": 1,
            "height": 1,
            "duration": 1,
        },
        "caption": "see the blinking LED",
    }
    await dispatcher.feed_update(bot, updates.private(CLIENT, **video))

    assert rows(
        database_url,
        "select content_type, text, file_ids, delivery from messages where direction='from_client'",
    ) == [("video", "see the blinking LED", '["VID-1"]', "failed")]
    notice = replies(bot, SUPPORT_CHAT_ID)[-1]
    assert "video" in notice and "could not be copied" in notice and "VID-1" in notice


async def test_group_without_topics_falls_back_to_replies(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    bot.session.forum = False
    await dispatcher.feed_update(bot, updates.private(CLIENT, "no topics here"))
    header_id = rows(database_url, "select header_message_id from tickets")[0][0]
    copy = bot.session.sent("copyMessage")[0]
    assert copy.message_thread_id is None
    assert copy.reply_to_message_id == header_id

    copied_id = rows(database_url, "select copy_message_id from messages")[0][0]
    await dispatcher.feed_update(bot, updates.group("On it", reply_to=copied_id))
    assert [m.chat_id for m in bot.session.sent("copyMessage")] == [SUPPORT_CHAT_ID, CLIENT]


async def test_outbox_retries_a_429_and_a_502_and_the_copy_is_delivered(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    # Production sends with attempts=1: the outbox worker, not the session, retries.
    bot.session.fail("copyMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    bot.session.fail("copyMessage", 502, "Bad Gateway")
    await dispatcher.feed_update(bot, updates.private(CLIENT, "are you there?"))

    assert [m.__api_method__ for m in bot.session.attempts].count("copyMessage") == 3
    assert [m.chat_id for m in bot.session.sent("copyMessage")] == [SUPPORT_CHAT_ID]
    assert rows(database_url, "select status, attempts from outbox where method='copyMessage'") == [
        ("sent", 3)
    ]
    assert rows(database_url, "select delivery from messages where direction='from_client'") == [
        ("delivered",)
    ]
