"""Engineers' help and command menu: every command they have, and what works where they ask."""

from __future__ import annotations

from bot.app import engineer_commands
from bot.i18n import make_i18n
from tests.bot.test_engineer_flow import TOPIC, open_ticket, texts_to
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.mocked_bot import MockedBot

OUTAGE_COMMANDS = (
    "/outage", "/confirm", "/reject", "/restored", "/exclude", "/restoration", "/dataloss",
)  # fmt: skip


async def test_help_in_a_tickets_topic_lists_the_ticket_and_outage_commands_and_the_layers(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/help", thread_id=TOPIC))

    text = texts_to(bot, SUPPORT_CHAT_ID)[-1]
    assert text.startswith("In a ticket's topic:")
    for command in ("/note", "/take", "/resolve", "/reopen", *OUTAGE_COMMANDS):
        assert command in text
    assert (
        "LAYER one of: data, applications, middleware, os, virtualization, hardware, network"
        in text
    )
    assert "/phone" not in text


async def test_help_in_the_general_topic_lists_the_general_commands_only(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.group("/help"))

    text = texts_to(bot, SUPPORT_CHAT_ID)[-1]
    assert text.startswith("In the general topic:")
    for command in ("/board", "/phone", "/email"):
        assert command in text
    assert "/resolve" not in text


async def test_an_unknown_command_is_answered_with_both_places_help(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.group("/frobnicate"))

    text = texts_to(bot, SUPPORT_CHAT_ID)[-1]
    assert "Unknown command /frobnicate." in text
    assert "In a ticket's topic:" in text and "In the general topic:" in text


def test_the_engineers_menu_has_every_command_in_each_language() -> None:
    i18n = make_i18n("en")
    for locale in ("en", "ru", "kk"):
        menu = {c.command for c in engineer_commands(i18n, locale)}
        wanted = {c.strip("/") for c in OUTAGE_COMMANDS} | {"board", "note", "take", "help"}
        wanted |= {"merge", "site", "open"}  # the storm room's commands
        assert wanted <= menu
    russian = {c.command: c.description for c in engineer_commands(i18n, "ru")}
    assert russian["board"] == "Открытые обращения по оставшемуся времени"
