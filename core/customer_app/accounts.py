"""Customer accounts by e-mail: registering, confirming the e-mail, a forgotten
password, and the password an invited person chooses.

An account is registered with its password at once but stays unconfirmed until its
e-mail is: an unconfirmed account does not sign in (the sign-in page offers a new
link instead), so nobody reads, under an e-mail they do not own, the cards that
merchants later enrol that e-mail at. On a merchant's pages the person becomes a
member of that merchant when the e-mail is confirmed (welcome points then, once).

Registering an e-mail that already has an account changes nothing: its owner is
e-mailed a link to choose a password instead, and the page says the same either way.

Links are signed and expiring (itsdangerous, as for staff) and single-use: each
carries a stamp of the account's password (`sessions.password_stamp`), so a link
dies once it set a password, or once the password changed otherwise; a confirmation
link is spent once the account is confirmed. A password reset confirms the e-mail
too (the link reached it), and a new password ends the person's other sessions.
Mails are rendered and sent by a job on the mail queue, after commit; the job finds
the account, so a request does the same work whether or not the e-mail is known.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from core.customer_app import arrivals
from core.customer_app.identities import identities_of
from core.customer_app.sessions import end_sessions, password_stamp
from core.host.actors import Actor
from core.host.db import platform_session, utcnow
from core.host.errors import Conflict, InvalidInput, NotFound
from core.host.platform import current_platform
from core.loyalty import invitations, joining
from core.loyalty.members import Customer, Membership
from core.loyalty.staff import check_password_strength, normalize_email
from core.web import links, mail
from core.web.passwords import hash_password
from tenants.models import Tenant
from worker.jobs import enqueue, platform_job

CONFIRM_MAX_AGE = 7 * 24 * 3600
RESET_MAX_AGE = 2 * 3600
NAME_MAX = 120


class AlreadyConfirmed(Conflict):
    reason = "already_confirmed"


class LinkNotValid(NotFound):
    """An expired, used or forged link; `payload` is what a genuine one said (expired or
    used), so that the page can offer a new link, else None."""

    reason = "link_not_valid"

    def __init__(self, message: Any, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.payload = payload


@dataclass(frozen=True)
class Registration:
    """What registering did: the account created (None when the e-mail already had one,
    whose owner is e-mailed instead)."""

    customer: Customer | None


# --- passwords -------------------------------------------------------------------


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn's list of the 30,000 passwords seen most in leaks, lower-cased.
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str) -> None:
    """Refuse a password that is too short or among the most common ones."""
    check_password_strength(password)  # the length staff passwords need too
    if password.lower() in _common_passwords() or len(set(password)) < 3:
        raise InvalidInput(
            password=_l("This password is one of the most used ones: choose another.")
        )


# --- finding an account ----------------------------------------------------------


def find_by_email(session: Session, email: str) -> Customer | None:
    """The account with this e-mail, deleted ones included (the address is taken)."""
    return session.scalar(
        select(Customer).where(Customer.email == email),
        execution_options={"person_lookup": True},  # the person's own account
    )


def _find(session: Session, customer_id: Any) -> Customer | None:
    if not isinstance(customer_id, int):
        return None
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id),
        execution_options={"person_lookup": True},
    )
    return customer if customer is not None and customer.deleted_at is None else None


# --- registering -----------------------------------------------------------------


def register(
    session: Session,
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    language: str | None = None,
    tenant: Tenant | None = None,
    via: str | None = None,
) -> Registration:
    """Register an account (unconfirmed) and e-mail its confirmation link after commit.

    On a merchant's pages (`tenant`) the confirmation also makes the person a member
    (`via`, the link they arrived from, see `arrivals`, travels in the link). An e-mail
    that already has an account is e-mailed a link to choose a password, and nothing
    changes. Raises InvalidInput for a bad e-mail, password or name."""
    email = normalize_email(email)
    check_password(password)
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if len(first_name) > NAME_MAX:
        raise InvalidInput(first_name=_l("At most %(n)d characters.", n=NAME_MAX))
    if len(last_name) > NAME_MAX:
        raise InvalidInput(last_name=_l("At most %(n)d characters.", n=NAME_MAX))
    # Hashed either way: the answer takes the same time whether the e-mail is known.
    password_hash = hash_password(password)
    tenant_id = tenant.id if tenant is not None else None
    if find_by_email(session, email) is not None:
        enqueue(session, send_account_mail, "existing", email, tenant_id, language, via)
        return Registration(None)
    customer = Customer(
        email=email,
        password_hash=password_hash,
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    session.add(customer)
    session.flush()
    enqueue(session, send_account_mail, "confirm", email, tenant_id, language, via)
    return Registration(customer)


def resend_confirmation(
    session: Session | None, email: str, tenant: Tenant | None, language: str | None
) -> None:
    """Queue a new confirmation link for this e-mail (sent only to an unconfirmed account
    with a password; nothing tells whether there is one)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return
    tenant_id = tenant.id if tenant is not None else None
    enqueue(session, send_account_mail, "confirm", email, tenant_id, language)


def confirm(
    session: Session, token: str, tenant: Tenant | None, via: str | None = None
) -> Customer:
    """Confirm the e-mail of the account a confirmation link is for, and on a merchant's
    pages make it a member there (arrived from the link the confirmation link names,
    else `via`). Opened again it is AlreadyConfirmed (and signs nobody
    in); expired, forged or for another merchant's pages it is LinkNotValid."""
    payload = _load(_serializer("confirm"), token, CONFIRM_MAX_AGE, tenant)
    customer = _find(session, payload.get("c"))
    if customer is None:
        raise LinkNotValid(_l("This link is not valid."))
    if customer.email_confirmed_at is not None:
        raise AlreadyConfirmed(_l("Your e-mail is already confirmed: sign in."))
    if password_stamp(customer.password_hash) != payload.get("h"):
        raise LinkNotValid(_l("This link has expired or was already used."), payload)
    customer.email_confirmed_at = utcnow()
    if tenant is not None:
        joining.join(
            session,
            customer,
            joined_via="app",
            actor=Actor.customer(customer.id),
            via=arrivals.valid(payload.get("v")) or via,
        )
    session.flush()
    return customer


# --- a forgotten password, an invitation -----------------------------------------


def request_reset(
    session: Session | None, email: str, tenant: Tenant | None, language: str | None
) -> None:
    """Queue a password-reset e-mail for this address (sent only if it has an account)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return
    tenant_id = tenant.id if tenant is not None else None
    enqueue(session, send_account_mail, "reset", email, tenant_id, language)


def customer_for_reset(session: Session, token: str, tenant: Tenant | None) -> Customer:
    """The account a reset link is for (LinkNotValid once used, expired or forged)."""
    payload = _load(_serializer("reset"), token, RESET_MAX_AGE, tenant)
    customer = _find(session, payload.get("c"))
    if customer is None or password_stamp(customer.password_hash) != payload.get("h"):
        raise LinkNotValid(_l("This link has expired or was already used."), payload)
    return customer


def reset_joins(token: str) -> bool:
    """Whether a (valid) reset link came from registering on a merchant's pages, so that
    choosing the password makes the person a member there too."""
    return bool(_serializer("reset").loads(token).get("j"))


def link_arrival(token: str) -> str | None:
    """The link a (valid) reset link's registration arrived from (`arrivals`), if any."""
    return arrivals.valid(_serializer("reset").loads(token).get("v"))


def member_for_invitation(session: Session, token: str, tenant: Tenant) -> Membership:
    """The membership an invitation link is for, in `session` (the tenant's own): its
    account's e-mail must still be unconfirmed (choosing the password confirms it)."""
    payload = _load(invitations.link_serializer(), token, invitations.LINK_MAX_AGE, tenant)
    member_id = payload.get("m")
    member = session.get(Membership, member_id) if isinstance(member_id, int) else None
    customer = member.customer if member is not None else None
    if (
        customer is None
        or customer.id != payload.get("c")
        or customer.deleted_at is not None
        or customer.email_confirmed_at is not None
    ):
        raise LinkNotValid(_l("This link has expired or was already used."), payload)
    return member


def set_password(session: Session, customer: Customer, password: str) -> None:
    """A new password (from a reset or an invitation link, which reached the e-mail, so
    it is confirmed too); every session of the person ends. Commit, then sign in."""
    check_password(password)
    customer.password_hash = hash_password(password)
    customer.email_confirmed_at = customer.email_confirmed_at or utcnow()
    session.flush()
    end_sessions(session, customer.id)


def invited_payload(token: str, tenant: Tenant) -> dict[str, Any] | None:
    """What a genuine invitation link says, expired or not (None when forged or for
    another merchant's pages): enough to send the person a new one."""
    try:
        payload = invitations.link_serializer().loads(token)
    except BadSignature:
        return None
    return payload if payload.get("t") == tenant.id else None


# --- links -----------------------------------------------------------------------


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=f"premia-customer-{purpose}"
    )


def _load(
    serializer: URLSafeTimedSerializer, token: str, max_age: int, tenant: Tenant | None
) -> dict[str, Any]:
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkNotValid(
            _l("This link has expired or was already used."), serializer.loads(token)
        ) from None
    except BadSignature:
        raise LinkNotValid(_l("This link is not valid.")) from None
    # A link is for the face it was sent from: one merchant's pages, or the shared app.
    if not isinstance(payload, dict) or payload.get("t") != (tenant.id if tenant else None):
        raise LinkNotValid(_l("This link is not valid."))
    return payload


def _link(kind: str, customer: Customer, tenant: Tenant | None, via: str | None = None) -> str:
    tenant_id = tenant.id if tenant is not None else None
    stamp = password_stamp(customer.password_hash)
    prefix = "t." if tenant is not None else ""
    if kind == "confirm":
        payload = {"c": customer.id, "h": stamp, "t": tenant_id}
        if via:
            payload["v"] = via
        token = _serializer("confirm").dumps(payload)
        return links.external_url(prefix + "app_accounts.confirm", tenant, token=token)
    payload = {"c": customer.id, "h": stamp, "t": tenant_id, "j": kind == "existing"}
    if via and kind == "existing":
        payload["v"] = via
    token = _serializer("reset").dumps(payload)
    return links.external_url(prefix + "app_accounts.reset", tenant, token=token)


def _sender(session: Session, tenant_id: int | None) -> Tenant | None:
    return session.get(Tenant, tenant_id) if tenant_id is not None else None


@platform_job(queue="mail")
def send_account_mail(
    kind: str, email: str, tenant_id: int | None, language: str | None, via: str | None = None
) -> None:
    """E-mail `kind` ("confirm", "reset", "existing") to the account with `email`, if it
    has one that needs it: from the merchant whose pages it was asked on (its name,
    theme and domain), else from the shared app; `via` (see `arrivals`) rides in the link."""
    with platform_session(current_platform().sessions) as session:
        customer = find_by_email(session, email)
        if customer is None or customer.deleted_at is not None:
            return
        if kind == "confirm" and (
            customer.email_confirmed_at
            or not (customer.password_hash or _signs_in_socially(session, customer))
        ):
            return  # confirmed already, or enrolled by a merchant (its invitation says so)
        tenant = _sender(session, tenant_id)
        # As in a tenant job: the templates and the brand's look read through this session
        # (a second connection would wait for its write lock on SQLite).
        g.db = session
        url = _link(kind, customer, tenant, arrivals.valid(via) if tenant else None)
        sender = tenant or _platform_sender()
        language = customer.language or language or sender.language
        subject, text, html = mail.render_mail(
            sender, f"mail/app_{kind}", language, customer=customer, url=url
        )
        mail.send(mail.build_message(sender, customer.email, subject, text, html))


def _signs_in_socially(session: Session, customer: Customer) -> bool:
    return bool(identities_of(session, customer.id))


def _platform_sender() -> Tenant:
    """The shared app's mails come from the platform itself (its name, the default theme)."""
    return Tenant(
        name=current_app.config["PREMIA_PLATFORM_NAME"],
        theme="default",
        language=current_app.config.get("BABEL_DEFAULT_LOCALE", "es"),
        currency="EUR",
        timezone="UTC",
    )
