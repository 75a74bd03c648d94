"""Fidelización: the cashier's screen. Find a customer (QR scan, code, document,
e-mail or name), see their balance and history, give points for a purchase amount
or as points, hand over a reward, and confirm or cancel their pending requests.

Built for a phone first: scan, type the amount, confirm. The QR a customer shows
holds their bare member code (e.g. `7KQ2M9X`); the scanner (static/scanner.js,
decoding with the jsQR npm package served below) puts it in the search box, and
an exact code opens the customer at once. The customer app's QR holds a live code
instead (`7KQ2M9X-492039`, core.loyalty.live_codes): it opens the customer as well,
and this staff session remembers for a few minutes that the customer showed it, for
merchants who redeem only with the live QR. A person of the shared app who is no
member yet shows their personal code instead (core.loyalty.joining): it opens an
offer to enrol them with the first points, in one tap.

Every form that gives or takes points carries an idempotency key drawn when the
page is rendered, so a double tap or a resubmitted form writes once. Confirming
or cancelling a request is idempotent by its state.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import NumberFormatError, parse_decimal
from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask import session as web_session
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from core.host.actors import Actor
from core.host.errors import NotFound, PremiaError
from core.loyalty import joining
from core.loyalty.activity import ActivityFilter, activity_page
from core.loyalty.customers import count_members, find_members
from core.loyalty.live_codes import StaleLiveCode
from core.loyalty.members import Customer, Membership, find_member, get_member
from core.loyalty.program import (
    MAX_POINTS_PER_OPERATION,
    get_program,
    is_large_grant,
    may_give_points,
    smallest_earning_amount,
)
from core.loyalty.purchases import give_points, record_purchase
from core.loyalty.rewards import (
    Redemption,
    Status,
    active_rewards,
    get_reward,
    redeem_reward,
)
from core.panel import menu
from core.panel.access import MANAGERS, can, staff_required
from core.panel.actions import member_actions
from core.panel.requests import DecideForm, decide_request
from core.panel.summary import member_summary
from core.web.i18n import format_money, money_locale, money_places
from core.web.request import db

menu.register(menu.MenuItem("t.panel_loyalty.index", _l("Loyalty"), order=20))

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
DECODER = ("jsqr/dist", "jsQR.js")  # pinned in package.json / package-lock.json
RESULTS = 20
HISTORY = 20
MAX_ID = 2**31 - 1
NEGATIVE = re.compile(r"^[^\d]*?[-\u2212]\s*\d")  # "-5000", "$ -5.000", "−5000"


def new_key() -> str:
    return f"panel-{uuid.uuid4().hex}"


class GiveForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=60)])
    mode = RadioField(
        _l("Give"),
        choices=[("amount", _l("Purchase amount")), ("points", _l("Points"))],
        default="amount",
    )
    amount = StringField(_l("Purchase amount"), validators=[Optional(), Length(max=30)])
    points = IntegerField(
        _l("Points"),
        validators=[
            Optional(),
            NumberRange(
                1,
                MAX_POINTS_PER_OPERATION,
                _l("The points must be a whole number greater than zero."),
            ),
        ],
    )
    description = StringField(
        _l("Description"),
        validators=[Optional(), Length(max=200)],
        description=_l("Invoice number or reason; only staff see it."),
    )
    # Re-posted by the confirmation of a large grant: the points staff saw and confirmed.
    confirm_points = IntegerField(validators=[Optional()], widget=HiddenInput())


class RedeemForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=60)])
    reward = IntegerField(validators=[InputRequired()])


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_loyalty", __name__, url_prefix="/panel/loyalty")
    bp.get("/")(index)
    bp.get("/decoder.js")(decoder)
    bp.get("/<code>")(member_page)
    bp.get("/join/<code>")(newcomer_page)
    bp.post("/join/<code>")(enrol)
    bp.post("/<code>/give")(give)
    bp.post("/<code>/redeem")(redeem)
    bp.post("/<code>/requests/<int:redemption_id>/<any(confirm, cancel):action>")(decide)
    return bp


@staff_required()
def index() -> Any:
    query = (request.args.get("q") or "").strip()[:200]
    session = db()
    members, total = [], 0
    if query:
        try:  # a scanned QR or a typed code: straight to the customer
            member, live = find_member(session, query)
            if live:
                _saw_live_code(member)
            return redirect(url_for(".member_page", code=member.code))
        except StaleLiveCode as error:  # a photo, a screenshot: never a search
            flash(str(error.message), "error")
            return redirect(url_for(".index"))
        except NotFound:
            pass
        newcomer = _newcomer_url(session, query)
        if newcomer is not None:  # the shared app's personal code: the person, to enrol
            return redirect(newcomer)
        members = find_members(session, query, limit=RESULTS)
        total = len(members) if len(members) < RESULTS else count_members(session, query)
    return render_template("panel/loyalty/index.html", query=query, members=members, total=total)


@staff_required()
def decoder() -> Any:
    """The QR decoder from node_modules (installed by `npm ci`), never from a CDN."""
    folder, name = DECODER
    return send_from_directory(
        NODE_MODULES / folder, name, max_age=86400, mimetype="text/javascript"
    )


@staff_required()
def member_page(code: str) -> Any:
    return _render_member(db(), _member(code))


@staff_required()
def give(code: str) -> Any:
    session = db()
    member = _member(code)
    form = GiveForm()
    if not form.validate_on_submit():
        return _render_member(session, member, give_form=form, status=422)
    return _grant(
        session, member, form, lambda **page: _render_member(session, _member(code), **page)
    )


@staff_required()
def newcomer_page(code: str) -> Any:
    """A person of the shared app who is no member here: the offer to enrol them with
    their first points (a member already goes to their page, as a member code does)."""
    session = db()
    try:
        return redirect(url_for(".member_page", code=get_member(session, code).code))
    except NotFound:
        pass
    person = _newcomer(code)
    member = joining.membership_of(session, person)
    if member is not None:
        return redirect(url_for(".member_page", code=member.code))
    return _render_newcomer(session, person)


@staff_required()
def enrol(code: str) -> Any:
    """The offer taken: the person becomes a member (welcome points once) and gets the
    points, in one transaction; a refused grant enrols nobody."""
    session = db()
    person = _newcomer(code)
    form = GiveForm()
    if not form.validate_on_submit():
        return _render_newcomer(session, person, give_form=form, status=422)
    actor = Actor.staff(current_user.user.id)
    new = joining.membership_of(session, person) is None
    member = joining.join(session, person, joined_via="till", actor=actor)

    def again(**page: Any) -> Any:
        session.expire_all()  # the enrolment was rolled back with the grant
        known = joining.membership_of(session, person)
        if known is not None:
            return _render_member(session, known, **page)
        return _render_newcomer(session, person, **page)

    return _grant(session, member, form, again, joined=new)


def _grant(
    session: Session,
    member: Membership,
    form: GiveForm,
    again: Callable[..., Any],
    *,
    joined: bool = False,
) -> Any:
    """Give what a valid give form says to `member` and commit; on a refusal or a large
    grant to confirm, roll back and answer `again(**page)` (the page, anew). `joined`:
    the member was enrolled in this transaction (said once it is committed)."""
    program = get_program(session)
    # The mode as posted; whether this person may give plain points, and whether the
    # note is kept, are the program's rules, applied by the commands below.
    by_amount = bool(program.get("points_per_amount")) and form.mode.data != "points"
    actor, location = Actor.staff(current_user.user.id), current_user.user.location_id
    confirmed = form.confirm_points.data  # the large grant's points, as staff confirmed them
    try:
        if by_amount:
            amount = _parse_amount(form.amount.data, form)
            _purchase, entries = record_purchase(
                session,
                member,
                amount,
                actor=actor,
                location_id=location,
                description=form.description.data,
                idempotency_key=form.key.data,
                confirmed_large=confirmed is not None,
            )
            given = sum(entry.points for entry in entries)
        else:
            if form.points.data is None and may_give_points(
                program, employee=not can(*MANAGERS)
            ):  # else: the rule's refusal
                form.points.errors = [_("Type the points to give.")]
                raise _FormInvalid()
            entry = give_points(
                session,
                member,
                form.points.data,
                actor=actor,
                location_id=location,
                description=form.description.data,
                idempotency_key=form.key.data,
                confirmed_large=confirmed is not None,
            )
            given = entry.points
        # Written, not yet committed: every rule's points (tiers, cashback…) are known.
        # A large grant commits only once staff confirmed exactly these points.
        if is_large_grant(program, given) and confirmed != given:
            session.rollback()
            return again(
                status=200,
                large_grant={
                    "points": given,
                    "threshold": program["large_grant_points"],
                    "amount": amount if by_amount else None,
                    "form": form,
                },
            )
        session.commit()
    except _FormInvalid:
        session.rollback()
        return again(give_form=form, status=422)
    except PremiaError as error:
        session.rollback()
        _show_errors(form, error, "amount" if by_amount else "points")
        return again(give_form=form, status=error.status)
    session.refresh(member)
    name = member.display_name
    if joined:
        flash(_("%(name)s is now a member.", name=name), "success")
    figures = {
        "points": format_number(given),
        "name": name,
        "balance": format_number(member.balance),
    }
    if by_amount and not given:
        # Still a purchase (tiers count the spend, punch cards a stamp), but no points
        # were given: not a success to announce in green, and the cashier learns why.
        minimum = smallest_earning_amount(program, money_places(g.tenant.currency))
        flash(
            _(
                "The purchase of %(amount)s was recorded without points: purchases earn "
                "points from %(minimum)s (%(rate)s).",
                amount=format_money(amount, g.tenant.currency),
                minimum=format_money(minimum, g.tenant.currency),
                rate=_rate(program["points_per_amount"]),
            ),
            "warning",
        )
    elif by_amount:
        flash(
            ngettext(
                "%(points)s point given to %(name)s for a purchase of %(amount)s. "
                "Balance: %(balance)s",
                "%(points)s points given to %(name)s for a purchase of %(amount)s. "
                "Balance: %(balance)s",
                given,
                amount=format_money(amount, g.tenant.currency),
                **figures,
            ),
            "success",
        )
    else:
        flash(
            ngettext(
                "%(points)s point given to %(name)s. Balance: %(balance)s",
                "%(points)s points given to %(name)s. Balance: %(balance)s",
                given,
                **figures,
            ),
            "success",
        )
    return redirect(url_for(".member_page", code=member.code))


@staff_required()
def redeem(code: str) -> Any:
    session = db()
    member = _member(code)
    form = RedeemForm()
    if not form.validate_on_submit():
        return _render_member(session, member, redeem_form=form, status=422)
    try:
        if not 0 < form.reward.data <= MAX_ID:
            raise NotFound()
        reward = get_reward(session, form.reward.data)
        redemption = redeem_reward(
            session,
            member,
            reward,
            actor=Actor.staff(current_user.user.id),
            location_id=current_user.user.location_id,
            idempotency_key=form.key.data,
            live_code=_showed_live_code(member),
        )
        session.commit()
    except PremiaError as error:
        session.rollback()
        if isinstance(error, NotFound):
            error = NotFound(_l("This reward is not available."))
        _show_errors(form, error, "reward")
        return _render_member(session, _member(code), redeem_form=form, status=error.status)
    session.refresh(member)
    flash(
        ngettext(
            "%(name)s redeemed %(reward)s for %(points)s point. Balance: %(balance)s",
            "%(name)s redeemed %(reward)s for %(points)s points. Balance: %(balance)s",
            redemption.points,
            reward=redemption.reward.name,
            name=member.display_name,
            points=format_number(redemption.points),
            balance=format_number(member.balance),
        ),
        "success",
    )
    return redirect(url_for(".member_page", code=member.code))


@staff_required()
def decide(code: str, redemption_id: int, action: str) -> Any:
    member = _member(code)
    decide_request(member, redemption_id, action)
    return redirect(url_for(".member_page", code=member.code))


# --- helpers ---------------------------------------------------------------


class _FormInvalid(Exception):
    pass


LIVE_CODE_HOLDS = 600  # seconds a scanned live QR vouches for the customer at this till


def _saw_live_code(member: Membership) -> None:
    seen = dict(web_session.get("live_codes", {}))
    now = int(time.time())
    seen = {k: at for k, at in seen.items() if now - at < LIVE_CODE_HOLDS}
    seen[f"{member.tenant_id}:{member.id}"] = now
    web_session["live_codes"] = seen


def _showed_live_code(member: Membership) -> bool:
    """Whether this staff session scanned the member's live QR in the last minutes."""
    at = web_session.get("live_codes", {}).get(f"{member.tenant_id}:{member.id}")
    return at is not None and time.time() - at < LIVE_CODE_HOLDS


def _member(code: str) -> Membership:
    try:
        return get_member(db(), code)
    except NotFound:
        abort(404)


def _newcomer(code: str) -> Customer:
    try:
        return joining.find_newcomer(db(), code)
    except NotFound:
        abort(404)


def _newcomer_url(session: Session, query: str) -> str | None:
    """Where a personal code leads: the person's member page, else the offer to enrol
    them; None for anything else (an unknown code is searched like any text)."""
    try:
        person = joining.find_newcomer(session, query)
    except NotFound:
        return None
    member = joining.membership_of(session, person)
    if member is not None:
        return url_for(".member_page", code=member.code)
    return url_for(".newcomer_page", code=person.personal_code)


def _choose_mode(program: dict[str, Any]) -> bool:
    """Whether the give form offers plain points beside the purchase amount: with an
    equivalence, to whoever the program lets give them (`program.may_give_points`)."""
    return bool(program.get("points_per_amount")) and may_give_points(
        program, employee=not can(*MANAGERS)
    )


def _parse_amount(text: str | None, form: GiveForm) -> Decimal:
    """An amount as written in the merchant's locale: 45.000 or 45000 in Colombia."""
    text = (text or "").strip()
    if not text:
        form.amount.errors = [_("Type the purchase amount.")]
        raise _FormInvalid()
    if NEGATIVE.match(text):  # a minus sign is not a badly written number: say what it is
        form.amount.errors = [_("The amount must be greater than zero.")]
        raise _FormInvalid()
    cleaned = "".join(ch for ch in text if ch.isdigit() or ch in ".,")
    try:
        if cleaned != text.replace(" ", "").lstrip("$").strip():
            raise NumberFormatError("not a number")
        return parse_decimal(cleaned, locale=money_locale(), strict=True)
    except NumberFormatError:
        form.amount.errors = [
            _(
                "Give the amount as a number, e.g. %(example)s.",
                example=format_money(Decimal("45000"), g.tenant.currency),
            )
        ]
        raise _FormInvalid() from None


def _show_errors(form: FlaskForm, error: PremiaError, fallback: str) -> None:
    if not error.fields:
        form.form_errors.append(str(error.message))
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if not hasattr(field, "errors"):
            field = getattr(form, fallback)
        field.errors = [*field.errors, str(message)]


def _rate(equivalence: dict[str, Any] | None) -> str:
    """The program's equivalence as the cashier reads it: "1 point per $ 1.000"."""
    if not equivalence:
        return ""
    points = equivalence["points"]
    return ngettext(
        "%(points)s point per %(amount)s",
        "%(points)s points per %(amount)s",
        points,
        points=format_number(points),
        amount=format_money(Decimal(equivalence["amount"]), g.tenant.currency),
    )


def _pending(session: Session, member: Membership) -> list[Redemption]:
    return list(
        session.scalars(
            select(Redemption)
            .where(Redemption.member_id == member.id, Redemption.status == Status.REQUESTED)
            .order_by(Redemption.id)
        )
    )


def _render_member(
    session: Session,
    member: Membership,
    *,
    give_form: GiveForm | None = None,
    redeem_form: RedeemForm | None = None,
    status: int = 200,
    large_grant: dict[str, Any] | None = None,
) -> Any:
    """The customer's page; with `large_grant`, a confirmation of it first (the posted
    form's values and key re-posted, so confirming twice still gives once)."""
    history, _more = activity_page(session, ActivityFilter(member_id=member.id), limit=HISTORY)
    context = _give_context(session, give_form, large_grant)
    context.update(
        {
            "member": member,
            "redeem_error": (
                redeem_form.form_errors + (redeem_form.reward.errors or []) if redeem_form else []
            ),
            "rewards": active_rewards(session),
            "pending": _pending(session, member),
            # Activity's rows: a request's debit says whether it is pending or was cancelled.
            "history": history,
            "redeem_key": new_key,
            "decide_form": DecideForm(formdata=None),
        }
    )
    context["summary"] = member_summary(session, member)  # last: plugin code
    context["actions"] = member_actions(session, member)
    return render_template("panel/loyalty/member.html", **context), status


def _render_newcomer(
    session: Session,
    person: Customer,
    *,
    give_form: GiveForm | None = None,
    status: int = 200,
    large_grant: dict[str, Any] | None = None,
) -> Any:
    """The offer to enrol a person of the shared app: their code alone (nothing of the
    person shows before they are a member) and the give form that enrols them."""
    context = _give_context(session, give_form, large_grant)
    context["code"] = person.personal_code
    context["spaced"] = joining.spaced(person.personal_code)
    context["automatic"] = joining.joins_at_first_points(session)
    return render_template("panel/loyalty/newcomer.html", **context), status


def _give_context(
    session: Session, give_form: GiveForm | None, large_grant: dict[str, Any] | None
) -> dict[str, Any]:
    """What the give form (and a large grant's confirmation) needs to render."""
    if large_grant is not None:
        posted = large_grant["form"]
        large_grant["fields"] = {
            "key": posted.key.data,
            "mode": posted.mode.data or "",
            "amount": posted.amount.data or "",
            "description": posted.description.data or "",
            "points": "" if posted.points.data is None else posted.points.data,
            "confirm_points": large_grant["points"],
        }
    program = get_program(session)
    give_form = give_form or GiveForm(formdata=None)
    give_form.key.data = new_key()  # a new attempt after an error is a new operation
    equivalence = program.get("points_per_amount")
    return {
        "program": program,
        "equivalence": equivalence,
        "choose_mode": _choose_mode(program),
        "rate": _rate(equivalence),
        "give_form": give_form,
        "large_grant": large_grant,
    }
