"""Pay with points at the till (any staff): a member's bill, the most points it allows
(the merchant's cap), and the payment; once per idempotency key drawn into the form."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from babel.numbers import NumberFormatError, parse_decimal
from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import format_decimal, format_number, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.sdk import (
    Actor,
    InvalidInput,
    Membership,
    NotFound,
    PremiaError,
    WholeNumberField,
    db,
    format_money,
    get_member,
    money_locale,
    parse_amount,
    show_errors,
    staff_required,
)
from plugins.cashback import services

MAX_POINTS = 10**9


class PayForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=60)])
    bill_amount = StringField(
        _l("Bill amount"), validators=[DataRequired(_l("Type the bill amount.")), Length(max=30)]
    )
    points = WholeNumberField(
        _l("Points to use"),
        validators=[
            Optional(),
            NumberRange(1, MAX_POINTS, _l("The points must be a whole number greater than zero.")),
        ],
    )
    check = SubmitField(_l("See the maximum"))
    pay = SubmitField(_l("Pay with points"))


def make_blueprint() -> Blueprint:
    bp = Blueprint("cashback", __name__, url_prefix="/panel/cashback")
    bp.route("/<code>/pay", methods=["GET", "POST"])(pay)
    return bp


@staff_required()
def pay(code: str) -> Any:
    session = db()
    member = _member(code)
    settings = services.get_settings(session)
    form = PayForm()
    allowed = None
    if not form.is_submitted():
        return _render(member, settings, form)
    if not form.validate():
        return _render(member, settings, form, status=422)
    try:
        bill = _parse_bill(form.bill_amount.data)
        allowed = services.max_points_for_bill(settings, bill)
        if form.check.data or form.points.data is None:
            # Only asked for the maximum: offer what this member can use of it.
            form.points.data = min(allowed, member.balance) or None
            return _render(member, settings, form, allowed=allowed, bill=bill)
        payment = services.pay_with_points(
            session,
            member,
            bill,
            form.points.data,
            actor=Actor.staff(current_user.user.id),
            idempotency_key=form.key.data,
            location_id=current_user.user.location_id,
        )
        session.commit()
    except PremiaError as error:
        session.rollback()
        show_errors(form, error, fallback="points")
        return _render(_member(code), settings, form, allowed=allowed, status=error.status)
    session.refresh(member)
    currency = g.tenant.currency
    flash(
        ngettext(
            "Paid with points: %(points)s point (%(value)s). Left to pay: %(to_pay)s. "
            "New balance: %(balance)s points.",
            "Paid with points: %(points)s points (%(value)s). Left to pay: %(to_pay)s. "
            "New balance: %(balance)s points.",
            payment.points,
            points=format_number(payment.points),
            value=format_money(payment.value, currency),
            to_pay=format_money(payment.to_pay, currency),
            balance=format_number(member.balance),
        ),
        "success",
    )
    return redirect(url_for(".pay", code=member.code))


def _member(code: str) -> Membership:
    try:
        return get_member(db(), code)
    except NotFound:
        abort(404)


def _parse_bill(text: str) -> Decimal:
    """The bill as written in the merchant's locale: 45.000 or 45000 in Colombia."""
    cleaned = text.replace(" ", "").replace("\u00a0", "").lstrip("$").strip()
    try:
        if not cleaned or any(not (ch.isdigit() or ch in ".,") for ch in cleaned):
            raise NumberFormatError("not a number")
        amount = parse_decimal(cleaned, locale=money_locale(), strict=True)
    except NumberFormatError:
        raise InvalidInput(
            bill_amount=_l(
                "Give the amount as a number, e.g. %(example)s.",
                example=format_money(Decimal("45000"), g.tenant.currency),
            )
        ) from None
    return parse_amount(amount, field="bill_amount")


def _render(
    member: Membership,
    settings: dict[str, Any],
    form: PayForm,
    *,
    allowed: int | None = None,
    bill: Decimal | None = None,
    status: int = 200,
) -> Any:
    form.key.data = f"panel-{uuid.uuid4().hex}"  # each form shown is one operation
    currency = g.tenant.currency
    return render_template(
        "cashback/pay.html",
        member=member,
        form=form,
        allowed=allowed,
        bill=format_money(bill, currency) if bill is not None else None,
        percent=format_decimal(settings["max_pay_with_points_percent"].normalize()),
        point_value=format_money(settings["point_value"], currency),
    ), status
