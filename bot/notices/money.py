"""Words for credit claims and object-storage trials (terms A 5.13 / B 5.9, B 3)."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot import money_buttons
from bot.desk import Desk, Origin
from bot.i18n import pick_locale
from crm.models import Contact, Purpose
from crm.usecases import notices as n


def _locale(contact: Contact) -> str:
    return pick_locale(contact.chosen_language, contact.telegram_language)


def _tell_managers(desk: Desk, text: str, markup: dict[str, object] | None = None) -> None:
    for manager_id in sorted(desk.settings.manager_ids):
        desk.outbox.send_message(manager_id, text, purpose=Purpose.NOTICE, reply_markup=markup)


async def which_month(notice: n.ClaimWhichMonth, desk: Desk, origin: Origin) -> None:
    if not notice.months:
        desk.reply(
            origin,
            _(
                "No outage of your services is on record, so no credit is due. If a month "
                "had one, write /claim YYYY-MM."
            ),
        )
        return
    desk.reply(
        origin,
        _("Which month do you claim the service credit for? Months with an outage:"),
        money_buttons.claim_months(notice.months),
    )


async def already_claimed(notice: n.ClaimAlreadyMade, desk: Desk, origin: Origin) -> None:
    text = _("The credit of {month} was already claimed on {date}; the managers have it.")
    desk.reply(origin, text.format(month=notice.month, date=desk.local(notice.claimed_at)))


async def claim_told(notice: n.CreditClaimTold, desk: Desk, origin: Origin) -> None:
    with desk.i18n.use_locale(desk.settings.engineer_language):
        text = _("💰 {customer} claims the SLA credit of {month} for: {services}.").format(
            customer=notice.customer_name,
            month=notice.month,
            services=", ".join(f"{s.name} ({s.id})" for s in notice.services),
        )
    _tell_managers(desk, text)


async def trial_requested(notice: n.TrialRequested, desk: Desk, origin: Origin) -> None:
    desk.reply(
        origin,
        _(
            "Your request for a free object storage trial is sent to the managers; "
            "you will hear their decision here."
        ),
    )
    with desk.i18n.use_locale(desk.settings.engineer_language):
        text = _(
            "🧪 Trial request #{id}: {customer} (client {client}) asks for a free object "
            "storage trial of {days} days (terms B 3)."
        ).format(
            id=notice.request.id,
            customer=notice.customer_name,
            client=notice.contact.full_name,
            days=desk.settings.sla_config().trial_days,
        )
        markup = money_buttons.trial_decision(notice.request.id, _("Approve"), _("Refuse"))
    _tell_managers(desk, text, markup.model_dump(exclude_none=True))


async def trial_not_granted(notice: n.TrialNotGranted, desk: Desk, origin: Origin) -> None:
    since = desk.local(notice.since)
    if notice.reason == "trial_pending":
        text = _("Your trial request of {date} is still with the managers.")
    elif notice.reason == "used_storage":
        text = _(
            "A free trial is only for customers who have not used object storage (terms B 3); "
            "your company has used it since {date}."
        )
    else:
        text = _("A free trial is granted once (terms B 3); your company had it from {date}.")
    desk.reply(origin, text.format(date=since))


async def trial_needs_link(notice: n.TrialNeedsLink, desk: Desk, origin: Origin) -> None:
    desk.reply(
        origin,
        _("Trials are for linked customers: open the invitation link from your manager first."),
    )


async def trial_decided(notice: n.TrialDecided, desk: Desk, origin: Origin) -> None:
    request = notice.request
    approved = request.status == "approved"
    days = desk.settings.sla_config().trial_days
    for contact in notice.contacts:
        with desk.i18n.use_locale(_locale(contact)):
            if approved:
                text = _(
                    "Your free object storage trial is approved: {days} days from the "
                    "service's activation. Unless you switch it off, it becomes paid after."
                ).format(days=days)
            else:
                text = _("Your request for a free object storage trial was not approved.")
        desk.send_to(contact.telegram_user_id, text)
    with desk.i18n.use_locale(desk.settings.engineer_language):
        if approved:
            text = _(
                "✅ Trial request #{id} of {customer} approved by {manager}. Add the service: "
                "python -m crm service add --customer {customer_id} --type object_storage "
                "--fee FEE --trial"
            )
        else:
            text = _("❌ Trial request #{id} of {customer} refused by {manager}.")
        text = text.format(
            id=request.id,
            customer=notice.customer_name,
            manager=notice.manager_name,
            customer_id=request.customer_id,
        )
    desk.reply(origin, text)


def decided_refusal(notice: n.TrialAlreadyDecided, desk: Desk) -> str:
    if notice.status == "approved":
        text = _("This request was already approved ({date}).")
    elif notice.status == "refused":
        text = _("This request was already refused ({date}).")
    else:
        return _("There is no such trial request.")
    return text.format(date=desk.local(notice.decided_at))


async def trial_decided_already(notice: n.TrialAlreadyDecided, desk: Desk, origin: Origin) -> None:
    """The alert of the button says it (bot/handlers/manager/trial.py); nothing to send."""
