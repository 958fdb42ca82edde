"""A manager's Approve / Refuse under a client's trial request (terms B 3)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery
from sqlalchemy.ext.asyncio import AsyncSession

from bot import money_buttons
from bot.desk import Desk
from bot.incoming import telegram_user
from bot.notices import tell
from bot.notices.money import decided_refusal
from bot.settings import BotSettings
from crm.trials import TrialService
from crm.usecases import notices as n
from crm.usecases.trials import decide_trial


async def decided(
    query: CallbackQuery,
    callback_data: money_buttons.TrialDecision,
    session: AsyncSession,
    desk: Desk,
) -> None:
    manager = telegram_user(query.from_user)
    outcome = await decide_trial(
        TrialService(session), callback_data.request_id, callback_data.approve, manager
    )
    refusal = outcome.refusal
    if isinstance(refusal, n.TrialAlreadyDecided):
        await query.answer(decided_refusal(refusal, desk), show_alert=True)
        return
    await query.answer()
    await tell(desk, outcome, query)


def get_router(settings: BotSettings) -> Router:
    router = Router(name="manager_trial")
    router.callback_query.filter(F.from_user.id.in_(settings.manager_ids))
    router.callback_query.register(decided, money_buttons.TrialDecision.filter())
    return router
