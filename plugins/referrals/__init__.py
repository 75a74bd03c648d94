"""Referrals: members invite friends with a personal link; when a friend joins from it
and earns (or buys) for the first time, the member earns points, once per friend
(see referrals.py). A landing page, the member's invite page, a Referidos screen."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.sdk import (
    MANAGERS,
    Entry,
    Membership,
    MenuItem,
    PluginInfo,
    Purchase,
    SummaryLine,
    Tenant,
    Topic,
    enqueue,
    hookimpl,
)
from plugins.referrals import app, jobs, panel, referrals
from plugins.referrals.settings import ReferralSettings

PLUGIN = PluginInfo(
    name="referrals",
    sdk_version="1.6",
    title=_l("Referrals"),
    description=_l("Members earn points for each friend they bring."),
    plans=("free", "white-label"),
    settings_schema=ReferralSettings,
    entry_kinds=referrals.ENTRY_KINDS,
)


@hookimpl
def blueprints() -> list[Any]:
    return [panel.make_blueprint(), app.make_blueprint()]


@hookimpl
def notification_topics() -> list[Topic]:
    return [referrals.PAID]


@hookimpl
def member_joined_from_link(session: Session, tenant: Tenant, member: Membership, via: str) -> None:
    referrals.record(session, member, via)


@hookimpl
def entry_recorded(tenant: Tenant, entry: Entry, member: Membership) -> None:
    if referrals.earned(entry):
        enqueue(None, jobs.settle, tenant.id, member.id, entry.id)


# Credits written in bulk (a file of points) whose referrals one job settles.
SETTLE_CHUNK = 200


@hookimpl
def entries_recorded(tenant: Tenant, kind: str, entry_ids: list[int]) -> None:
    if referrals.earned_kind(kind):
        for start in range(0, len(entry_ids), SETTLE_CHUNK):
            enqueue(None, jobs.settle_many, tenant.id, entry_ids[start : start + SETTLE_CHUNK])


@hookimpl
def purchase_returned(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, entry: Entry | None
) -> None:
    referrals.undo_for_return(session, member, purchase)


@hookimpl
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.referrals.index", _l("Referrals"), roles=MANAGERS, order=65)]


@hookimpl
def activity_links(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.referrals.index", _l("Referrals"), roles=MANAGERS)]


@hookimpl
def app_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.referrals_app.index", _l("Invite friends"), order=45)]


@hookimpl
def card_lines(session: Session, tenant: Tenant, member: Membership) -> list[SummaryLine]:
    points = referrals.get_settings(session)["referrer_points"]
    return [SummaryLine(_l("Invite friends"), _l("%(points)d points per friend", points=points))]
