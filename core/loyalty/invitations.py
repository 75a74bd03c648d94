"""Inviting a customer by e-mail: the merchant enrols them and Premia tells them.

The member is created at once (welcome points and all, as any new member), and
the invitation e-mail, with their customer code and a link to the merchant's app
(choose a password, land on the card), is sent from the mail queue once the
enrolment has committed.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from core.host.actors import Actor
from core.loyalty.customers import create_member
from core.loyalty.members import Membership
from core.web import links, mail
from tenants.models import Tenant
from worker.jobs import enqueue, tenant_job

TEMPLATE = "mail/invitation"
# The link lets the person choose a first password in the merchant's app
# (core.customer_app.accounts checks it): valid this long, and only while the
# account's e-mail is unconfirmed (choosing the password confirms it), so it works once.
LINK_MAX_AGE = 30 * 24 * 3600


def invite_member(
    session: Session,
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    document_id: str | None = None,
    phone: str | None = None,
    actor: Actor,
) -> Membership:
    """Enrol the person with this e-mail and e-mail them an invitation after commit."""
    member = create_member(
        session,
        email=email,
        first_name=first_name,
        last_name=last_name,
        document_id=document_id,
        phone=phone,
        joined_via="invitation",
        actor=actor,
    )
    enqueue(session, send_invitation, member.tenant_id, member.id)
    return member


def link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="premia-customer-invitation"
    )


def invitation_url(tenant: Tenant, member: Membership) -> str:
    """The link of an invitation e-mail: choose a password and land on the card, or, for
    a person whose account is confirmed already, sign in to the card."""
    if member.customer.email_confirmed_at is not None:
        return links.external_url("t.app_accounts.login", tenant)
    token = link_serializer().dumps(
        {"c": member.customer_id, "m": member.id, "t": member.tenant_id}
    )
    return links.external_url("t.app_accounts.invitation", tenant, token=token)


@tenant_job(queue="mail")
def send_invitation(session: Session, tenant: Tenant, member_id: int) -> bool:
    """The invitation e-mail to a member (their code, a link to choose a password and
    land on the card); a job of the mail queue, `send_invitation(tenant_id, member_id)`."""
    # Sent once per invitation; a worker dying mid-send may send it twice, which
    # beats keeping a delivery table in the core for one e-mail.
    member = session.get(Membership, member_id)
    if member is None:
        return False
    customer = member.customer
    subject, text, html = mail.render_mail(
        tenant,
        TEMPLATE,
        customer.language,
        member=member,
        customer=customer,
        # Choose a password and land on the card (or sign in, with a password already).
        card_url=invitation_url(tenant, member),
    )
    mail.send(mail.build_message(tenant, customer.email, subject, text, html))
    return True
