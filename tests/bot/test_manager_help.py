"""A manager's /help and command menu show the managers' commands, then the clients'."""

from __future__ import annotations

from aiogram.types import BotCommandScopeChat
from aiogram.utils.i18n import I18n

from bot.app import register_commands
from bot.settings import BotSettings
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.mocked_bot import MockedBot

CLIENT = 700001


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def test_a_managers_help_lists_the_managers_commands_then_the_clients(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/help"))

    help_text = replies(bot, MANAGER_ID)[-1]
    assert help_text.startswith("Manager commands:\n/report [YYYY-MM] – ")
    assert (
        "/maintenance SERVICE_ID|all YYYY-MM-DD HH:MM YYYY-MM-DD HH:MM TEXT – plan maintenance, "
        "times in Asia/Almaty" in help_text
    )
    for command in ("/maintenance list", "/maintenance cancel ID", "/emergency on [NOTE]"):
        assert command in help_text
    assert "/emergency off" in help_text and "/board" in help_text
    clients_part = help_text.split("As a client you can also use:\n")[1]
    assert "/down" in clients_part and "/tickets" in clients_part


async def test_a_managers_help_is_in_the_managers_language(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/help", language_code="ru"))

    help_text = replies(bot, MANAGER_ID)[-1]
    assert help_text.startswith("Команды менеджера:\n/report [YYYY-MM]")
    assert "Как клиент вы также можете:" in help_text


async def test_a_clients_help_has_no_managers_commands(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/help"))

    assert "/down" in replies(bot, CLIENT)[-1]
    assert "/report" not in replies(bot, CLIENT)[-1]


async def test_each_manager_has_a_menu_of_the_managers_and_the_clients_commands(
    bot: MockedBot, settings: BotSettings, i18n: I18n
) -> None:
    await register_commands(bot, settings, i18n)

    menus = {
        call.language_code: call.commands
        for call in bot.session.sent("setMyCommands")
        if isinstance(call.scope, BotCommandScopeChat) and call.scope.chat_id == MANAGER_ID
    }
    assert set(menus) == {None, "en", "ru", "kk"}
    english = [command.command for command in menus[None]]
    assert english[:5] == ["help", "report", "maintenance", "emergency", "board"]
    assert {"down", "new", "tickets", "close", "lang"} <= set(english)
    assert len(english) == len(set(english))
    assert menus["ru"][0].description == "Команды менеджера"
