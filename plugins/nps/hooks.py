"""Hook implementations: the survey link on members' e-mails, the menus, Inicio's widget."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import update
from sqlalchemy.orm import Session

from core.sdk import (
    MANAGERS,
    Entry,
    MailLink,
    Membership,
    MenuItem,
    Redemption,
    Tenant,
    hookimpl,
)
from plugins.nps import app, panel
from plugins.nps.models import Survey
from plugins.nps.surveys import offer, survey_link

# The e-mails that may carry a survey: one about a visit.
SURVEYED = {"points_received", "redemption_confirmed"}


@hookimpl
def mail_links(
    session: Session,
    tenant: Tenant,
    member: Membership,
    message: str,
    entry: Entry | None,
    redemption: Redemption | None,
) -> list[MailLink]:
    if message not in SURVEYED:
        return []
    survey = offer(session, member, entry=entry, redemption=redemption)
    if survey is None or survey.answered_at is not None:
        return []
    if survey.bonus:
        text = _l(
            "How was your visit? Answer a one-question survey and earn %(points)d points.",
            points=survey.bonus,
        )
    else:
        text = _l("How was your visit? Answer a one-question survey.")
    return [MailLink(text=text, label=_l("Answer the survey"), url=survey_link(tenant, survey))]


@hookimpl
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    return [MenuItem("t.nps.index", _l("Surveys"), roles=MANAGERS, order=45)]


@hookimpl
def activity_links(tenant: Tenant) -> list[MenuItem]:
    # Actividad lists the answers too, as the merchants' documents ask.
    return [MenuItem("t.nps.index", _l("Survey answers"), roles=MANAGERS)]


@hookimpl
def app_menu(tenant: Tenant) -> list[MenuItem]:
    # Only while a survey waits for the member's answer.
    if not app.has_open_survey():
        return []
    return [MenuItem("t.nps_app.index", _l("Surveys"), order=50)]


@hookimpl
def dashboard_widgets(session: Session, tenant: Tenant, since: date, until: date) -> list[Markup]:
    return [panel.widget(session, tenant, since, until)]


@hookimpl
def member_erased(session: Session, tenant: Tenant, member: Membership, email: str) -> None:
    # A comment is the person's own words: it goes; the score stays in the figures.
    session.execute(update(Survey).where(Survey.member_id == member.id).values(comment=None))
