"""Mail jobs: each sends at most once per key (a delivery row is written first)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import (
    Entry,
    MailLink,
    Membership,
    Redemption,
    Tenant,
    best_reward_before_expiry,
    build_message,
    current_platform,
    external_url,
    get_program,
    render_mail,
    send_mail,
    tenant_job,
    wants_mail,
)
from plugins.notifications.models import Delivery

SETTING_FOR = {
    "welcome": "on_member_created",
    "points_received": "on_points",
    "redemption_confirmed": "on_redemption",
    "points_expiring": "on_expiring",
    "tier_changed": "on_tier_changed",
    "redemption_requested": "merchant_on_request",
    "referral_paid": "on_points",  # points the member received, as any others
}


# The person's own choice (their profile's e-mail topics) of each customer e-mail; a
# welcome and a tier change belong to no topic: only the merchant's setting decides.
TOPIC_OF = {
    "points_received": "points",
    "redemption_confirmed": "redemptions",
    "points_expiring": "expiry",
    "referral_paid": "points",
}


def _settings(session: Session) -> dict[str, bool]:
    return current_platform().plugins.settings(session, "notifications")


def _send_once(
    session: Session,
    tenant: Tenant,
    key: str,
    to: str,
    template: str,
    language: str | None,
    links: Callable[[], list[MailLink]] | None = None,
    **context: Any,
) -> bool:
    if session.scalar(select(Delivery.id).where(Delivery.key == key)):
        return False
    session.add(Delivery(key=key, recipient=to, template=template))
    session.flush()  # a twin job now fails on the unique key instead of mailing twice
    if links is not None:  # asked only for a mail really sent: a survey per mail
        context["links"] = links()
    subject, text, html = render_mail(tenant, f"notifications/mail/{template}", language, **context)
    send_mail(build_message(tenant, to, subject, text, html, once_key=key))
    return True


@tenant_job(queue="mail", plugin="notifications")
def mail_member(
    session: Session, tenant: Tenant, member_id: int, template: str, key: str, data: dict[str, Any]
) -> bool:
    if not _settings(session)[SETTING_FOR[template]]:
        return False
    return _mail_member(session, tenant, member_id, template, key, data)


@tenant_job(queue="mail", plugin="notifications")
def mail_welcomes(session: Session, tenant: Tenant, member_ids: list[int]) -> int:
    """The welcome e-mail to each of many new members (an import's chunk), as
    `mail_member` sends it to one: the same key, so nobody is welcomed twice. Each
    sent one is committed before the next: a retry after a crash sends the rest."""
    if not _settings(session)[SETTING_FOR["welcome"]]:
        return 0
    sent = 0
    for member_id in member_ids:
        sent += _mail_member(session, tenant, member_id, "welcome", f"welcome:{member_id}", {})
        session.commit()
    return sent


@tenant_job(queue="mail", plugin="notifications")
def mail_points_received(session: Session, tenant: Tenant, entry_ids: list[int]) -> int:
    """The "points received" e-mail of each of many credits written together (a file of
    points), as `mail_member` sends it for one: the same key, so nobody is told twice.
    Each sent one is committed before the next: a retry after a crash sends the rest."""
    if not _settings(session)[SETTING_FOR["points_received"]]:
        return 0
    told = session.execute(
        select(Entry.id, Entry.member_id)
        .where(Entry.id.in_(entry_ids), Entry.points > 0)
        .order_by(Entry.id)
    ).all()
    sent = 0
    for entry_id, member_id in told:
        key = f"points_received:{entry_id}"
        sent += _mail_member(
            session, tenant, member_id, "points_received", key, {"entry_id": entry_id}
        )
        session.commit()
    return sent


def _mail_member(
    session: Session, tenant: Tenant, member_id: int, template: str, key: str, data: dict[str, Any]
) -> bool:
    member = session.get(Membership, member_id)
    if member is None or not wants_mail(member.customer, TOPIC_OF.get(template)):
        return False
    context: dict[str, Any] = {"member": member, "customer": member.customer}
    if "entry_id" in data:
        context["entry"] = session.get(Entry, data["entry_id"])
    if "redemption_id" in data:
        context["redemption"] = session.get(Redemption, data["redemption_id"])
    if "expires_at" in data:
        context["points"] = data["points"]
        context["expires_at"] = datetime.fromisoformat(data["expires_at"])
        context["reward"] = best_reward_before_expiry(session, member)
        if context["reward"] is not None and get_program(session)["customer_redemption_requests"]:
            context["reward_url"] = external_url("t.app_rewards.catalogue", tenant)
    if "tier_change" in data:
        context["change"] = data["tier_change"]
    if template == "referral_paid":
        context["points"], context["friend"] = data["points"], data["friend"]

    def links() -> list[MailLink]:
        return current_platform().plugins.ask(
            session,
            "mail_links",
            member=member,
            message=template,
            entry=context.get("entry"),
            redemption=context.get("redemption"),
        )

    return _send_once(
        session,
        tenant,
        key,
        member.customer.email,
        template,
        member.customer.language,
        links=links,
        **context,
    )


@tenant_job(queue="mail", plugin="notifications")
def mail_merchant_request(session: Session, tenant: Tenant, redemption_id: int) -> bool:
    if not tenant.email or not _settings(session)["merchant_on_request"]:
        return False
    redemption = session.get(Redemption, redemption_id)
    if redemption is None:
        return False
    return _send_once(
        session,
        tenant,
        f"redemption_requested:{redemption.id}",
        tenant.email,
        "redemption_requested",
        None,
        redemption=redemption,
        member=redemption.member,
        customer=redemption.member.customer,
    )
