"""A detractor's answer e-mailed to the merchant at once (when the settings ask): a
low score with a comment is often a complaint someone should answer today."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.sdk import (
    Membership,
    Tenant,
    build_message,
    external_url,
    render_mail,
    send_mail,
    tenant_job,
)
from plugins.nps.models import Survey


@tenant_job(queue="mail", plugin="nps")
def mail_detractor(session: Session, tenant: Tenant, survey_id: int) -> bool:
    survey = session.get(Survey, survey_id)
    if not tenant.email or survey is None or survey.score is None:
        return False
    member = session.get(Membership, survey.member_id)
    subject, text, html = render_mail(
        tenant,
        "nps/mail/detractor",
        None,  # the merchant's language
        survey=survey,
        member=member,
        answers_url=external_url("t.nps.index", tenant, band="detractor"),
    )
    send_mail(build_message(tenant, tenant.email, subject, text, html))
    return True
