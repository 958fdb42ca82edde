"""The e-mail channel end to end: a mail arrives in a real Dovecot mailbox, the real bot
process opens its ticket and topic, an engineer answers in the topic, a real SMTP server
receives the answer threaded under the client's mail, and the monthly report counts the
first response in `by_channel.email` at the SMTP server's acceptance time."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory
from tests.e2e.test_ticket_flow_e2e import ENGINEER_ID, engineer_says, eventually
from tests.fake_bot_api import FakeBotAPI
from tests.mail_servers import (
    SmtpInbox,
    client_mail,
    deliver,
    flags,
    imap_url,
    mark_unseen,
    smtp_server,
)

__all__ = ["imap_url", "smtp_server"]

MAIL_FROM = "Support <support@desk.example>"


def mail_env(imap_url: str, smtp: SmtpInbox) -> dict[str, str]:
    return {
        "POLLING_TIMEOUT_SECONDS": "1",
        "SHUTDOWN_GRACE_SECONDS": "10",
        "SEND_BACKOFF_SECONDS": "0.1",
        "IMAP_URL": imap_url,
        "SMTP_URL": smtp.url,
        "MAIL_FROM": MAIL_FROM,
        "MAIL_POLL_SECONDS": "0.2",
    }


async def run_crm(bot: BotProcess, *args: str) -> str:
    env = bot.build_env()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crm",
        *args,
        cwd=bot.cwd,
        env={**os.environ, "DATABASE_URL": env["DATABASE_URL"], "TIMEZONE": env["TIMEZONE"]},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


def topic_texts(fake_api: FakeBotAPI, thread_id: int) -> list[str]:
    return [m.text or "" for m in fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=thread_id)]


def the_topic(fake_api: FakeBotAPI) -> dict[str, Any]:
    created = fake_api.requests_of("createForumTopic")
    assert len(created) == 1, [r.summary() for r in created]
    return {"thread": int(created[0].result["message_thread_id"]), "name": created[0].params}


async def test_a_mail_becomes_a_ticket_and_the_engineers_answer_a_threaded_mail(
    bot_process_factory: BotProcessFactory,
    fake_api: FakeBotAPI,
    imap_url: str,
    smtp_server: SmtpInbox,
) -> None:
    fake_api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    bot = bot_process_factory(env=mail_env(imap_url, smtp_server))
    await bot.start()
    await run_crm(bot, "customer", "add", "Acme")
    await run_crm(bot, "contact", "add", "--customer", "1", "--email", "OPS@acme.kz")
    arrived = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    question = client_mail(
        "Our VM 42 does not boot since the morning.",
        date=arrived - timedelta(hours=5),  # the sender's clock is wrong: not the evidence
        attachment=("console.log", b"kernel panic"),
    )
    await deliver(imap_url, question, arrived=arrived)

    await eventually(
        lambda: bool(fake_api.requests_of("createForumTopic")), bot, fake_api, "the topic"
    )
    topic = the_topic(fake_api)
    assert "#1 · Acme" in topic["name"]["name"]
    await eventually(
        lambda: any("does not boot" in t for t in topic_texts(fake_api, topic["thread"])),
        bot,
        fake_api,
        "the mail is copied into the topic",
    )
    shown = next(t for t in topic_texts(fake_api, topic["thread"]) if "does not boot" in t)
    assert "ops@acme.kz" in shown and "VM does not boot" in shown
    await eventually(
        lambda: any(
            r.params.get("message_thread_id") == topic["thread"]
            for r in fake_api.requests_of("sendDocument")
        ),
        bot,
        fake_api,
        "the attachment is posted in the topic as a document",
    )
    ticket = bot.query("SELECT channel, customer_id, opened_at FROM tickets")
    assert ticket[0][:2] == ("email", 1)
    assert ticket[0][2].startswith(arrived.strftime("%Y-%m-%d %H:%M:%S"))
    for _ in range(100):  # marked read once recorded
        if any("\\Seen" in line for line in await flags(imap_url)):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(await flags(imap_url))

    fake_api.push_update(
        engineer_says(fake_api, "We rebooted the host; VM 42 is up.", thread_id=topic["thread"])
    )
    await eventually(lambda: len(smtp_server.received) == 1, bot, fake_api, "the answer is mailed")
    answer = smtp_server.received[0]
    assert answer["In-Reply-To"] == question["Message-ID"]
    assert question["Message-ID"] in answer["References"]
    assert answer["Subject"] == "Re: VM does not boot [#1]"
    assert answer["To"] == "ops@acme.kz"
    assert "support@desk.example" in answer["From"]
    assert "VM 42 is up" in answer.get_content()
    assert smtp_server.envelopes[0][1] == ["ops@acme.kz"]
    await eventually(
        lambda: bot.query("SELECT first_response_at FROM tickets")[0][0] is not None,
        bot,
        fake_api,
        "the first response is recorded",
    )

    # The client answers the answer: the same ticket, by In-Reply-To.
    await deliver(imap_url, client_mail("Thanks, works.", in_reply_to=answer["Message-ID"]))
    await eventually(
        lambda: (
            bot.query("SELECT count(*) FROM mail_messages WHERE direction='from_client'")[0][0] == 2
        ),
        bot,
        fake_api,
        "the client's second mail is recorded",
    )
    assert bot.query("SELECT count(*) FROM tickets")[0][0] == 1

    (accepted,) = bot.query("SELECT accepted_at FROM mail_messages WHERE direction='to_client'")
    (responded,) = bot.query("SELECT first_response_at FROM tickets")
    assert accepted == responded
    await bot.stop()
    report = json.loads(
        await run_crm(bot, "report", "--month", arrived.strftime("%Y-%m"), "--format", "json")
    )
    email = report["tickets"]["by_channel"]["email"]
    assert email["count"] == 1 and email["measured"] == 1 and email["breaches"] == []
    assert email["within_target_percent"] == 100
    assert 29 <= email["median_minutes"] <= 40


async def test_a_crash_before_the_seen_flag_makes_no_second_ticket(
    bot_process_factory: BotProcessFactory,
    fake_api: FakeBotAPI,
    imap_url: str,
    smtp_server: SmtpInbox,
) -> None:
    fake_api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    bot = bot_process_factory(env=mail_env(imap_url, smtp_server))
    await bot.start()
    await deliver(imap_url, client_mail("First", sender="someone@else.kz"))
    await eventually(
        lambda: bot.query("SELECT count(*) FROM tickets")[0][0] == 1, bot, fake_api, "a ticket"
    )
    await bot.restart(kill=True)
    # As if the crash came between the commit and the \Seen flag: the mail is unread again.
    await mark_unseen(imap_url)
    await deliver(imap_url, client_mail("Second", sender="someone@else.kz", subject="Other"))
    await eventually(
        lambda: bot.query("SELECT count(*) FROM mail_messages")[0][0] == 2,
        bot,
        fake_api,
        "the second mail is recorded",
    )
    # Each poll asks only for UIDs above the last one recorded: the first mail, unread again,
    # was never fetched again, and the second one was recorded by a poll after the restart.
    assert bot.query("SELECT count(*) FROM tickets")[0][0] == 2
    assert bot.query("SELECT count(*) FROM mail_messages")[0][0] == 2
    await bot.stop()
