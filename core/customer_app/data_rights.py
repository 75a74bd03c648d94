"""The person's rights over their data: download it all, delete the account.

Download: the account, every membership (with the merchant's name and what that
merchant recorded) and every ledger entry, as JSON or as a spreadsheet-safe CSV. An
entry's internal description is the merchant's, never the customer's: left out.

Deletion erases the person, not the merchants' books: the account's personal data
(names, phone, birthday, language, preferences, password, personal code) is cleared
and its e-mail becomes `deleted-<id>@deleted.invalid` (the reserved `.invalid`
domain receives no mail, and the address frees the real one for a new account);
every membership loses the names, document, phone and birthday the merchant
recorded, but keeps its code, balance and entries, so each merchant's ledger,
balances and figures stay exact and now belong to an anonymous member. Every
session of the account ends; a deleted account never signs in again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import and_, select
from sqlalchemy.orm import Session
from wtforms import EmailField, PasswordField

from core.customer_app import identities, sessions
from core.customer_app.faces import app_url, is_brand
from core.customer_app.sessions import current_customer, customer_required
from core.host.db import platform_session, tenant_session, utcnow
from core.host.errors import NotFound
from core.host.platform import current_platform
from core.loyalty.customers import update_search_text
from core.loyalty.ledger import Entry, kind_label
from core.loyalty.locations import Location
from core.loyalty.members import Customer, Membership
from core.web.i18n import money_locale
from core.web.passwords import verify_password
from core.web.request import db
from core.web.spreadsheet import csv_lines, delimiter_for
from tenants.models import Tenant

bp = Blueprint("app_data", __name__, url_prefix="/app")

ERASED_DOMAIN = "deleted.invalid"


def _moment(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def _day(value: Any) -> str | None:
    return value.isoformat() if value else None


def personal_data(
    session: Session, customer_id: int, *, tenant_id: int | None = None
) -> dict[str, Any]:
    """Everything kept about the person: the account, each membership with its merchant
    and its entries (oldest first, times in the merchant's zone). `session` is a
    platform session; three statements whatever the number of memberships. With
    `tenant_id` (a brand's own app), that merchant's membership alone: a brand's app
    never shows the person's other merchants."""
    only = [Membership.tenant_id == tenant_id] if tenant_id is not None else []
    customer = session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None:
        raise NotFound()
    rows = session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.customer_id == customer_id, *only)
        .order_by(Tenant.name, Membership.id)
    ).all()
    zones = {member.id: tenant.timezone for member, tenant in rows}
    entries: dict[int, list[dict[str, Any]]] = {member.id: [] for member, _tenant in rows}
    for entry, location in session.execute(
        select(Entry, Location.name)
        .outerjoin(
            Location, and_(Location.id == Entry.location_id, Location.tenant_id == Entry.tenant_id)
        )
        .join(
            Membership,
            and_(Membership.id == Entry.member_id, Membership.tenant_id == Entry.tenant_id),
        )
        .where(Membership.customer_id == customer_id, *only)
        .order_by(Entry.member_id, Entry.id)
    ):
        entries[entry.member_id].append(
            {
                "date": _moment(entry.created_at, zones[entry.member_id]),
                "kind": entry.kind,
                "what": kind_label(entry.kind, entry.label),
                "points": entry.points,
                "balance_after": entry.balance_after,
                "location": location,
                "reference": entry.reference,
            }
        )
    return {
        "account": {
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "birthday": _day(customer.birthday),
            "language": customer.language,
            "mail_preferences": dict(customer.mail_preferences or {}),
            "created_at": _moment(customer.created_at, "UTC"),
        },
        "memberships": [
            {
                "merchant": tenant.name,
                "code": member.code,
                "balance": member.balance,
                "first_name": member.first_name,
                "last_name": member.last_name,
                "document": member.document_id,
                "phone": member.phone,
                "birthday": _day(member.birthday),
                "joined_at": _moment(member.created_at, tenant.timezone),
                "entries": entries[member.id],
            }
            for member, tenant in rows
        ],
    }


def csv_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """The download as spreadsheet rows: one per membership (what the merchant
    recorded, the balance), then one per entry of it."""
    for membership in data["memberships"]:
        yield [
            membership["merchant"],
            membership["code"],
            membership["joined_at"],
            _("Membership"),
            membership["balance"],
            "",
            "",
            "",
            membership["first_name"],
            membership["last_name"],
            membership["document"],
            membership["phone"],
            membership["birthday"],
        ]
        for entry in membership["entries"]:
            yield [
                membership["merchant"],
                membership["code"],
                entry["date"],
                entry["what"],
                entry["points"],
                entry["balance_after"],
                entry["location"],
                entry["reference"],
                "",
                "",
                "",
                "",
                "",
            ]


CSV_HEADER = (
    _l("Merchant"),
    _l("Code"),
    _l("Date"),
    _l("What"),
    _l("Points"),
    _l("Balance after"),
    _l("Location"),
    _l("Reference"),
    _l("First name"),
    _l("Last name"),
    _l("Document"),
    _l("Phone"),
    _l("Birthday"),
)


def delete_account(session: Session, customer_id: int) -> None:
    """Erase the person's data on the account and every membership, keep the entries
    (see the module), end every session. `session` is a platform session; commit after."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.deleted_at.is_(None))
        .with_for_update()
    )
    if customer is None:
        raise NotFound()
    email = customer.email
    customer.email = f"deleted-{customer.id}@{ERASED_DOMAIN}"
    customer.password_hash = None
    customer.first_name = customer.last_name = ""
    customer.phone = customer.birthday = customer.language = None
    customer.personal_code = None
    customer.mail_preferences = {}
    customer.deleted_at = utcnow()
    members = session.scalars(
        select(Membership)
        .where(Membership.customer_id == customer.id)
        .with_for_update(of=Membership)
    ).all()
    for member in members:
        member.first_name = member.last_name = ""
        member.document_id = member.phone = member.birthday = None
        member.live_secret = None  # the app that held it is gone with the account
        update_search_text(member)
    session.flush()
    for member in members:
        _plugins_erase(session, member, email)
    identities.forget(session, customer.id)  # the providers' accounts and e-mails
    sessions.end_sessions(session, customer.id)


def _plugins_erase(session: Session, member: Membership, email: str) -> None:
    """The `member_erased` hook of every installed plugin, in a session scoped to the
    member's merchant on the deletion's own connection: one transaction
    for all (an error refuses the deletion), each plugin seeing only its tenant's rows."""
    platform = current_platform()
    on_this_connection = partial(platform.sessions, bind=session.connection())
    with tenant_session(on_this_connection, member.tenant_id) as scoped:
        scoped_member = scoped.get(Membership, member.id)
        tenant = scoped.get(Tenant, member.tenant_id)
        # Every installed plugin, active here or not: one switched off (or out of the
        # plan) still holds what it recorded about the person while it was on.
        platform.plugins.pm.hook.member_erased(
            session=scoped, tenant=tenant, member=scoped_member, email=email
        )
        scoped.flush()


# --- the pages ---------------------------------------------------------------------


class DeleteForm(FlaskForm):
    password = PasswordField(_l("Password"))
    email = EmailField(_l("E-mail"))


def _download(customer_id: int) -> dict[str, Any]:
    brand = g.tenant.id if is_brand() else None
    with platform_session(current_platform().sessions) as session:
        return personal_data(session, customer_id, tenant_id=brand)


def _attachment(body: Any, mimetype: str, extension: str) -> Response:
    name = f"my-data-{utcnow().date().isoformat()}.{extension}"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Language": str(get_locale()),
        },
    )


@bp.get("/my-data")
@customer_required
def overview() -> Any:
    return render_template("app/data_rights.html", form=DeleteForm(), customer=current_customer())


@bp.get("/my-data.json")
@customer_required
def download_json() -> Any:
    data = _download(current_customer().id)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return _attachment(body, "application/json; charset=utf-8", "json")


@bp.get("/my-data.csv")
@customer_required
def download_csv() -> Any:
    data = _download(current_customer().id)
    header = [str(label) for label in CSV_HEADER]
    lines = csv_lines(header, csv_rows(data), delimiter=delimiter_for(money_locale()))
    return _attachment("".join(lines).encode("utf-8"), "text/csv; charset=utf-8", "csv")


@bp.post("/my-data/delete")
@customer_required
def delete() -> Any:
    customer = current_customer()
    form = DeleteForm()
    # Failed confirmations count as failed sign-ins of the account (a stolen session
    # must not guess the password here either).
    limiter, limit = current_app.extensions["premia_login_limits"][:2]
    key = f"premia-app-login|{request.remote_addr}|{customer.email}"
    if not limiter.test(limit, key):
        flash(_("Too many failed attempts. Wait a minute and try again."), "error")
        return render_template("app/data_rights.html", form=form, customer=customer), 429
    if form.validate_on_submit():
        if _confirmed(customer, form):
            with platform_session(current_platform().sessions) as session:
                delete_account(session, customer.id)
                session.commit()
            sessions.log_out(db())
            flash(_("Your account was deleted."), "success")
            return redirect(app_url("app_accounts.login"))
        limiter.hit(limit, key)
        if customer.password_hash:
            form.password.errors = [_("Wrong password.")]
        else:
            form.email.errors = [_("Type your account's e-mail address.")]
    return render_template("app/data_rights.html", form=form, customer=customer), 422


def _confirmed(customer: Customer, form: DeleteForm) -> bool:
    """The person proves it is them: their password, or (an account with no password,
    such as a social one) their e-mail typed out."""
    if customer.password_hash:
        return verify_password(customer.password_hash, form.password.data or "")
    typed = (form.email.data or "").strip().lower()
    return bool(typed) and typed == customer.email
