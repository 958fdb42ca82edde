"""A manager's /board points at each ticket's topic with a link the support group opens."""

from __future__ import annotations

from bot.desk import topic_link
from crm.models import Ticket
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001


def test_a_topic_link_is_the_group_id_without_its_prefix_and_the_thread() -> None:
    ticket = Ticket(support_chat_id=SUPPORT_CHAT_ID, topic_thread_id=100)
    assert topic_link(ticket) == "https://t.me/c/1000000001/100"


def test_a_ticket_without_a_topic_has_no_link() -> None:
    assert topic_link(Ticket(support_chat_id=SUPPORT_CHAT_ID, topic_thread_id=None)) is None
    assert topic_link(Ticket(support_chat_id=None, topic_thread_id=None)) is None


async def test_a_managers_board_links_each_ticket_to_its_topic(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/board"))

    [(thread,)] = rows(database_url, "select topic_thread_id from tickets")
    board = [m.text for m in bot.session.sent("sendMessage") if m.chat_id == MANAGER_ID][-1]
    lines = board.splitlines()
    assert lines[0] == "Open tickets: 1"
    assert lines[1].startswith("#1 · ")
    assert lines[1].endswith(f" · https://t.me/c/1000000001/{thread}")
