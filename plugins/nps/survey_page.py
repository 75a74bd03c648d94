"""The survey page a member opens from the e-mail's signed link, without signing in:
in the merchant's theme and the member's own language, answered once."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from flask import Blueprint, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from core.sdk import (
    Actor,
    Conflict,
    InvalidInput,
    Membership,
    db,
    render_template,
    show_errors,
    utcnow,
)
from plugins.nps.models import Survey
from plugins.nps.surveys import MAX_COMMENT, answer, is_open, survey_for_token


class SurveyForm(FlaskForm):
    score = RadioField(
        _l("How likely are you to recommend us to a friend?"),
        choices=[(n, str(n)) for n in range(11)],
        coerce=int,
        validators=[InputRequired(_l("Choose a score from 0 to 10."))],
    )
    comment = TextAreaField(
        _l("Anything you want to tell us? (optional)"),
        validators=[Optional(), Length(max=MAX_COMMENT)],
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("nps_survey", __name__, url_prefix="/surveys")
    bp.route("/<token>", methods=["GET", "POST"])(answer_page)
    return bp


def submit(form: SurveyForm, survey: Survey, actor: Actor) -> Survey | None:
    """Answer `survey` from a valid form; None (errors shown in the form) otherwise."""
    if not form.validate_on_submit():
        return None
    session = db()
    try:
        answered = answer(session, survey.id, form.score.data, form.comment.data, actor=actor)
    except InvalidInput as error:
        session.rollback()
        show_errors(form, error)
        return None
    session.commit()
    return answered


def answer_page(token: str) -> Any:
    session = db()
    survey = survey_for_token(session, token)  # NotFound: a forged or foreign link
    member = session.get(Membership, survey.member_id)
    language = member.customer.language if member and member.customer else None
    with force_locale(language) if language else nullcontext():
        form = SurveyForm()
        done = None
        if is_open(survey):
            try:
                done = submit(form, survey, Actor.customer(member.customer_id))
            except Conflict:
                session.rollback()
                session.refresh(survey)  # answered meanwhile (another tab), or expired
        page = render_template(
            "nps/survey.html",
            survey=survey,
            form=form,
            done=done,
            expired=survey.answered_at is None and survey.expires_at <= utcnow(),
        )
    refused = request.method == "POST" and done is None and is_open(survey)
    return page, 422 if refused else 200
