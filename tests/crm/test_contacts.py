"""Contacts: one per Telegram user, whatever two instances do at once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.contacts import ContactService
from crm.dto import TelegramUser
from tests.db import postgres_server, rows

NEWCOMER = TelegramUser(700002, "Newcomer", None, "en")


@pytest.mark.skipif(postgres_server() is None, reason="two instances at once: PostgreSQL only")
async def test_a_contact_another_instance_wrote_since_the_batch_began_is_found_on_the_retry(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    """A polled batch read its senders' contacts at its start and found none for the
    newcomer; another instance then wrote theirs. Our write (a /start, a language chosen)
    fails on the unique Telegram id, and the update's retry finds the other's contact."""
    async with sessionmaker() as batch:
        contacts = ContactService(batch)
        await contacts.preload({NEWCOMER.id})
        async with sessionmaker() as other:
            theirs = await ContactService(other).ensure(NEWCOMER)
            await other.commit()

        attempt = await batch.begin_nested()
        with pytest.raises(IntegrityError):
            await contacts.ensure(NEWCOMER)
        await attempt.rollback()
        async with batch.begin_nested():
            found = await contacts.ensure(NEWCOMER)
        await batch.commit()

    assert found.id == theirs.id
    assert rows(database_url, "select count(*) from contacts") == [(1,)]
