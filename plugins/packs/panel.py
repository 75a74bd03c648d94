"""A member's prepaid packs in the panel (any staff): what they hold (uses left, last
valid day, each use with who and where), sell a pack, use a session. Selling and
using carry an idempotency key drawn into each form: a double tap acts once."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import HiddenField, SelectField
from wtforms.validators import DataRequired, Length

from core.sdk import (
    Actor,
    Location,
    Membership,
    NotFound,
    PremiaError,
    StaffUser,
    db,
    get_member,
    get_or_404,
    show_errors,
    staff_required,
    utcnow,
)
from plugins.packs import packs
from plugins.packs.models import Pack, PackUse


class SellForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=60)])
    pack_type = SelectField(
        _l("Pack"), validators=[DataRequired(_l("Choose a pack."))], validate_choice=False
    )  # the service says if it is on sale


class UseForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=60)])


def make_blueprint() -> Blueprint:
    bp = Blueprint("packs", __name__, url_prefix="/panel/packs")
    bp.get("/<code>")(member_packs)
    bp.post("/<code>/sell")(sell)
    bp.post("/<code>/<int:pack_id>/use")(use)
    return bp


@staff_required()
def member_packs(code: str) -> Any:
    return _render(db(), _member(code))


@staff_required()
def sell(code: str) -> Any:
    session = db()
    member = _member(code)
    form = SellForm()
    if not form.validate_on_submit():
        return _render(session, member, sell_form=form, status=422)
    try:
        pack = packs.sell_pack(
            session,
            member,
            form.pack_type.data,
            actor=Actor.staff(current_user.user.id),
            location_id=current_user.user.location_id,
            idempotency_key=form.key.data,
        )
        session.commit()
    except PremiaError as error:
        session.rollback()
        show_errors(form, error, fallback="pack_type")
        return _render(session, _member(code), sell_form=form, status=error.status)
    flash(
        ngettext(
            "%(pack)s sold: %(uses)s use.",
            "%(pack)s sold: %(uses)s uses.",
            pack.uses,
            pack=pack.name,
            uses=format_number(pack.uses),
        ),
        "success",
    )
    return redirect(url_for(".member_packs", code=member.code))


@staff_required()
def use(code: str, pack_id: int) -> Any:
    session = db()
    member = _member(code)
    pack = get_or_404(session, Pack, pack_id)
    if pack.member_id != member.id:
        abort(404)
    form = UseForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        made = packs.use_pack(
            session,
            pack,
            actor=Actor.staff(current_user.user.id),
            location_id=current_user.user.location_id,
            idempotency_key=form.key.data,
        )
        session.commit()
    except PremiaError as error:
        session.rollback()
        return _render(
            session, _member(code), refused={pack_id: str(error.message)}, status=error.status
        )
    flash(
        ngettext(
            "One use of %(pack)s recorded: %(left)s use left.",
            "One use of %(pack)s recorded: %(left)s uses left.",
            made.uses_left,
            pack=pack.name,
            left=format_number(made.uses_left),
        ),
        "success",
    )
    return redirect(url_for(".member_packs", code=member.code))


def _member(code: str) -> Membership:
    try:
        return get_member(db(), code)
    except NotFound:
        abort(404)


def _key() -> str:
    return f"panel-{uuid.uuid4().hex}"


def _who(session: Session, uses: list[PackUse]) -> tuple[dict[int, str], dict[int, str]]:
    """Staff and location names for a list of uses, in two queries (no N+1)."""
    staff_ids = {u.actor_id for u in uses if u.actor_kind == "staff" and u.actor_id}
    location_ids = {u.location_id for u in uses if u.location_id}
    staff = (
        dict(
            session.execute(
                select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(staff_ids))
            ).all()
        )
        if staff_ids
        else {}
    )
    places = (
        dict(
            session.execute(
                select(Location.id, Location.name).where(Location.id.in_(location_ids))
            ).all()
        )
        if location_ids
        else {}
    )
    return staff, places


def _render(
    session: Session,
    member: Membership,
    *,
    sell_form: SellForm | None = None,
    refused: dict[int, str] | None = None,
    status: int = 200,
) -> Any:
    owned = packs.packs_of(session, member)
    uses = list(
        session.scalars(select(PackUse).where(PackUse.member_id == member.id).order_by(PackUse.id))
    )
    by_pack: dict[int, list[PackUse]] = defaultdict(list)
    for item in uses:
        by_pack[item.pack_id].append(item)
    staff, places = _who(session, uses)
    now = utcnow()
    rows = [
        {
            "pack": pack,
            "uses": by_pack[pack.id],
            "expired": pack.expires_at is not None and pack.expires_at <= now,
            # expires_at is the local midnight after the last valid day
            "last_day": pack.expires_at - timedelta(seconds=1) if pack.expires_at else None,
            "key": _key(),
        }
        for pack in owned
    ]
    types = packs.pack_types(session)
    sell_form = sell_form or SellForm(formdata=None)
    sell_form.key.data = _key()  # a new attempt after an error is a new operation
    sell_form.pack_type.choices = [("", _("Choose a pack…"))] + [
        (kind["key"], kind["name"]) for kind in types
    ]
    return render_template(
        "packs/member.html",
        member=member,
        rows=rows,
        types=types,
        sell_form=sell_form,
        use_form=UseForm(formdata=None),
        refused=refused or {},
        who=lambda use: _actor_name(use, staff),
        where=places,
    ), status


def _actor_name(use: PackUse, staff: dict[int, str]) -> str:
    if use.actor_kind == "staff":
        return staff.get(use.actor_id) or _("Staff")
    if use.actor_kind == "token":
        return _("POS (API)")
    return _("System")
