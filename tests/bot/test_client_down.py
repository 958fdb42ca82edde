"""`/down` is answered once: what was recorded, since when (in the provider's zone, named),
and what happens next; several services get one question, then one confirmation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sla import SlaConfig
from tests.bot.test_incidents import OCT_2, linked_client
from tests.bot.test_linking_and_services import customer_with_services
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
REPLY_MINUTES = int(SlaConfig().telegram_first_response.total_seconds() // 60)
EMERGENCY_MINUTES = int(SlaConfig().emergency_first_response.total_seconds() // 60)


def to_client(bot: MockedBot) -> list[object]:
    return [m for m in bot.session.sent("sendMessage") if m.chat_id == CLIENT]


async def test_down_with_one_service_is_one_answer_naming_service_time_zone_and_next_step(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    before = len(to_client(bot))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))

    [answer] = to_client(bot)[before:]
    assert answer.text == (  # type: ignore[attr-defined]
        "⚡ Ticket #1: recorded that rack-1 is down since 2026-10-02 09:00 (Asia/Almaty).\n\n"
        "Engineers will check and confirm the outage; an engineer replies in this chat "
        f"within {REPLY_MINUTES} minutes."
    )
    assert answer.reply_markup is None  # type: ignore[attr-defined]


async def test_down_with_several_services_asks_which_then_confirms_once(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token = await customer_with_services(sessionmaker, 2)
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}"))
    before = len(to_client(bot))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))

    [question] = to_client(bot)[before:]
    assert question.text.endswith("Which service is down?")  # type: ignore[attr-defined]
    assert "your outage report is recorded, since 2026-11-02 14:00 (Asia/Almaty)" in (
        question.text  # type: ignore[attr-defined]
    )
    markup = question.reply_markup  # type: ignore[attr-defined]
    assert [b.text for row in markup.inline_keyboard for b in row] == ["rack-1 (1)", "rack-2 (2)"]

    await dispatcher.feed_update(bot, updates.callback(CLIENT, "svc:1:2", message_id=9))

    assert len(to_client(bot)) == before + 1
    [confirmation] = [e.text for e in bot.session.sent("editMessageText") if e.chat_id == CLIENT]
    assert confirmation == (
        "⚡ Ticket #1: recorded that rack-2 is down since 2026-11-02 14:00 (Asia/Almaty).\n\n"
        # The press comes long after the target (the test's messages are dated in the past):
        # no promise of minutes already gone.
        "Engineers will check and confirm the outage and reply in this chat."
    )
    assert rows(database_url, "select service_id, client_notice_at from incidents") == [
        (2, "2026-11-02 09:00:00.000000")
    ]


async def test_the_service_button_acts_once(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token = await customer_with_services(sessionmaker, 2)
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "svc:1:2", message_id=9))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "svc:1:1", message_id=9))

    answers = bot.session.sent("answerCallbackQuery")
    assert (answers[-1].text, answers[-1].show_alert) == (
        "The service of #1 is already chosen: rack-2.",
        True,
    )
    assert rows(database_url, "select service_id from tickets") == [(2,)]
    assert rows(database_url, "select service_id from incidents") == [(2,)]


async def test_an_unlinked_clients_down_says_engineers_will_link_the_account(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))

    [answer] = to_client(bot)
    assert answer.text.split("\n\n") == [  # type: ignore[attr-defined]
        "⚡ Ticket #1: your outage report is recorded, since 2026-10-02 09:00 (Asia/Almaty).",
        "Your Telegram account is not linked to a customer yet: engineers will link it, "
        "or you can open the invitation link your manager sent you.",
        "Engineers will check and confirm the outage; an engineer replies in this chat "
        f"within {REPLY_MINUTES} minutes.",
    ]
    assert rows(database_url, "select category, customer_id from tickets") == [("down", None)]


async def test_an_unlinked_clients_down_is_explained_in_russian(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(
        bot, updates.private(CLIENT, "/down", date=OCT_2, language_code="ru")
    )

    [answer] = to_client(bot)
    assert answer.text.split("\n\n")[1] == (  # type: ignore[attr-defined]
        "Ваш аккаунт Telegram ещё не привязан к клиенту: инженеры привяжут его, или вы можете "
        "открыть ссылку-приглашение, которую прислал ваш менеджер."
    )
    assert f"в течение {REPLY_MINUTES} минут." in answer.text  # type: ignore[attr-defined]


async def test_down_right_after_new_opens_the_new_ticket(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "printer jams"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/new"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))

    assert rows(database_url, "select id, category from tickets order by id") == [
        (1, None),
        (2, "down"),
    ]
    assert to_client(bot)[-1].text.startswith("⚡ Ticket #2:")  # type: ignore[attr-defined]
    # The state is spent: the next message joins ticket #2.
    await dispatcher.feed_update(bot, updates.private(CLIENT, "still down"))
    assert rows(database_url, "select count(*) from tickets") == [(2,)]


async def test_during_an_emergency_the_client_is_promised_the_emergency_target(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency on DC power"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "nothing works"))

    # The default emergency target is 60 minutes, said as people say it.
    assert EMERGENCY_MINUTES == 60
    assert to_client(bot)[-1].text == (  # type: ignore[attr-defined]
        "Ticket #1 is open. An engineer replies within 1 hour. What is it about?"
    )
    assert EMERGENCY_MINUTES != REPLY_MINUTES


async def test_down_during_an_emergency_promises_the_emergency_target(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency on DC power"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down"))

    text = to_client(bot)[-1].text  # type: ignore[attr-defined]
    assert text.endswith(f"within {EMERGENCY_MINUTES} minutes.")
