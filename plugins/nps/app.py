"""Encuestas in the customer app: the member's open surveys at this merchant, answered
here as from the e-mail's link (the menu entry shows only while one is open)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort
from sqlalchemy import select

from core.sdk import (
    Actor,
    Conflict,
    Membership,
    current_customer,
    customer_required,
    db,
    render_template,
)
from plugins.nps.models import Survey
from plugins.nps.survey_page import SurveyForm, submit
from plugins.nps.surveys import is_open, open_surveys


def make_blueprint() -> Blueprint:
    bp = Blueprint("nps_app", __name__, url_prefix="/app/surveys")
    bp.get("/")(index)
    bp.post("/<int:survey_id>")(answer_here)
    return bp


def my_membership() -> Membership | None:
    """The signed-in person's membership of the merchant being served, if any."""
    customer = current_customer()
    if customer is None:
        return None
    return db().scalar(select(Membership).where(Membership.customer_id == customer.id))


def has_open_survey() -> bool:
    member = my_membership()
    return member is not None and bool(open_surveys(db(), member))


@customer_required
def index() -> Any:
    member = my_membership()
    surveys = open_surveys(db(), member) if member else []
    return render_template(
        "nps/app.html",
        surveys=surveys,
        forms={s.id: SurveyForm(prefix=f"s{s.id}") for s in surveys},
    )


@customer_required
def answer_here(survey_id: int) -> Any:
    session = db()
    member = my_membership()
    survey = session.get(Survey, survey_id)
    # Another person's survey (or another merchant's: the session is this one's) is not found.
    if member is None or survey is None or survey.member_id != member.id:
        abort(404)
    form = SurveyForm(prefix=f"s{survey.id}")
    done = None
    if is_open(survey):
        try:
            done = submit(form, survey, Actor.customer(member.customer_id))
        except Conflict:
            session.rollback()
            session.refresh(survey)
    if done is None and is_open(survey):  # errors: the list again, this form showing them
        surveys = open_surveys(session, member)
        forms = {s.id: SurveyForm(prefix=f"s{s.id}", formdata=None) for s in surveys}
        forms[survey.id] = form
        return render_template("nps/app.html", surveys=surveys, forms=forms), 422
    expired = survey.answered_at is None and not is_open(survey)
    return render_template("nps/survey.html", survey=survey, form=form, done=done, expired=expired)
