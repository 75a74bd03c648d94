"""Staff accounts from the outside: a merchant signs up, confirms the e-mail,
resets a forgotten password.

Sign-up keeps nothing until the e-mail is confirmed: the form's data (with the
password already hashed) travels in a signed, expiring link, and the merchant
and its owner are created when the link is opened. No half-made merchants wait
in the database for a confirmation that never comes. Password-reset links are
signed too, carry a fragment of the current password hash (so a link dies once
used, or once the password changes otherwise) and expire in two hours. A new
password ends the user's other sessions.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host.errors import Conflict, InvalidInput, NotFound
from core.loyalty.staff import Role, StaffUser, check_password_strength, normalize_email
from core.web import links, mail, staff_sessions
from core.web.passwords import hash_password, verify_password
from core.web.staff_sessions import StaffSession
from tenants import services as tenant_services
from tenants.models import Tenant
from worker.jobs import enqueue, platform_job, tenant_job

SIGNUP_MAX_AGE = 48 * 3600
RESET_MAX_AGE = 2 * 3600


class AlreadyConfirmed(Conflict):
    reason = "already_confirmed"


# --- a program's login, from the platform's home page ------------------------

_PROGRAM_PATH = re.compile(r"/t/([^/?#\s]+)")


def find_program(session: Session, address: str) -> str:
    """The slug of the program at `address` ("cafe-central", or a link with
    "/t/cafe-central/" in it). `session` is a platform session.

    Whether a program exists is no secret (its login page answers at that address);
    who works where is, so this never looks anyone up by e-mail.
    """
    text = (address or "").strip().lower()
    in_link = _PROGRAM_PATH.search(text)
    slug = in_link.group(1) if in_link else text.strip("/")
    if not tenant_services.SLUG.fullmatch(slug):
        raise InvalidInput(program=_l("Use lower-case letters, digits and dashes."))
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is None:
        raise NotFound(
            _l("There is no program at this address."),
            program=_l("There is no program at this address."),
        )
    return slug


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"premia-{purpose}")


# --- sign-up -------------------------------------------------------------


def start_signup(session: Session, fields: dict[str, Any]) -> str:
    """Check a sign-up as far as it can be checked now and return its signed token.

    `session` is a platform session. Raises InvalidInput / Conflict like
    `create_tenant` would, so the form shows errors before any e-mail is sent.
    """
    slug = (fields.get("slug") or "").strip().lower()
    if not tenant_services.SLUG.fullmatch(slug):
        raise InvalidInput(slug=_l("Use lower-case letters, digits and dashes."))
    if not (fields.get("name") or "").strip():
        raise InvalidInput(name=_l("The name is required."))
    email = normalize_email(fields.get("email") or "")
    check_password_strength(fields.get("password") or "")
    currency = (fields.get("currency") or "").upper()
    country = (fields.get("country") or "").upper()
    tenant_services.validate_profile(
        currency=currency,
        country=country,
        timezone=fields.get("timezone") or "",
        language=fields.get("language") or "",
    )
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(_l("This address is taken."), slug=_l("This address is taken."))
    payload = {
        "slug": slug,
        "name": fields["name"].strip(),
        "email": email,
        "owner_name": (fields.get("owner_name") or "").strip(),
        "password_hash": hash_password(fields["password"]),
        "currency": currency,
        "country": country,
        "timezone": fields["timezone"],
        "language": fields["language"],
        "business_type": fields.get("business_type") or None,
    }
    return _serializer("signup").dumps(payload)


def send_signup_confirmation(token: str, email: str, language: str) -> None:
    """Queue the e-mail with the confirmation link (sent at once when embedded); the link
    is on the platform's public address, whatever host the form was posted to."""
    confirm_url = links.external_url("signup.confirm", token=token)
    enqueue(None, send_signup_mail, email, language, confirm_url)


@platform_job(queue="mail")
def send_signup_mail(email: str, language: str, confirm_url: str) -> None:
    sender = Tenant(
        name=current_app.config["PREMIA_PLATFORM_NAME"],
        theme="default",
        language=language,
        currency="EUR",
        timezone="UTC",
    )
    subject, text, html = mail.render_mail(
        sender, "mail/signup_confirm", language, confirm_url=confirm_url
    )
    mail.send(mail.build_message(sender, email, subject, text, html))


def confirm_signup(session: Session, token: str) -> Tenant:
    """Create the merchant (free plan) and its owner from a confirmation link.

    A link opened twice finds its merchant already made (Conflict with the
    reason "already_confirmed"); an expired or forged link is NotFound."""
    try:
        payload = _serializer("signup").loads(token, max_age=SIGNUP_MAX_AGE)
    except SignatureExpired:
        raise NotFound(_l("This confirmation link has expired; sign up again.")) from None
    except BadSignature:
        raise NotFound(_l("This confirmation link is not valid.")) from None
    existing = session.scalar(select(Tenant).where(Tenant.slug == payload["slug"]))
    if existing is not None:
        owner = _owner_with(session, existing, payload["email"])
        if owner is not None and owner.password_hash == payload["password_hash"]:
            raise AlreadyConfirmed(_l("Your account is already confirmed: log in."))
        raise Conflict(_l("This address is taken."), slug=_l("This address is taken."))
    tenant = tenant_services.create_tenant(
        session,
        slug=payload["slug"],
        name=payload["name"],
        plan="free",
        currency=payload["currency"],
        country=payload["country"],
        timezone=payload["timezone"],
        language=payload["language"],
        owner_email=payload["email"],
        owner_name=payload["owner_name"],
        # replaced below by the hash made at sign-up: the password never travelled
        owner_password=secrets.token_urlsafe(24),
        email=payload["email"],
        business_type=payload["business_type"],
    )
    owner = _owner_with(session, tenant, payload["email"])
    owner.password_hash = payload["password_hash"]
    session.flush()
    return tenant


def _owner_with(session: Session, tenant: Tenant, email: str) -> StaffUser | None:
    return session.scalar(
        select(StaffUser).where(
            StaffUser.tenant_id == tenant.id,
            StaffUser.email == email,
            StaffUser.role == Role.OWNER,
        )
    )


# --- password reset ------------------------------------------------------


def request_password_reset(session: Session, tenant: Tenant, email: str) -> None:
    """Queue a reset e-mail for this address after commit. Whether a staff user of the
    tenant has it is found out by the job, so that the request does the same work, and
    answers the same in the same time, either way (the page says the same too)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return
    enqueue(session, send_reset_mail, tenant.id, email)


@tenant_job(queue="mail")
def send_reset_mail(session: Session, tenant: Tenant, email: str) -> None:
    user = session.scalar(
        select(StaffUser).where(StaffUser.email == email, StaffUser.active.is_(True))
    )
    if user is None:
        return
    token = _serializer("reset").dumps({"user": user.id, "h": user.password_hash[-16:]})
    url = links.external_url("t.password.reset", tenant, token=token)
    subject, text, html = mail.render_mail(
        tenant, "mail/password_reset", tenant.language, user=user, reset_url=url
    )
    mail.send(mail.build_message(tenant, user.email, subject, text, html))


def user_for_reset(session: Session, token: str) -> StaffUser:
    """The staff user a reset link is for (NotFound once used, expired or forged)."""
    try:
        payload = _serializer("reset").loads(token, max_age=RESET_MAX_AGE)
    except (BadSignature, SignatureExpired):
        payload = None
    user = session.get(StaffUser, payload["user"]) if payload else None
    if user is None or not user.active or user.password_hash[-16:] != payload["h"]:
        raise NotFound(_l("This link has expired or was already used; ask for a new one."))
    return user


def set_password(
    session: Session, user: StaffUser, password: str, *, keep: StaffSession | None = None
) -> None:
    """A new password; every session of the user ends, but `keep` (the one that
    changed it, from the profile) which goes on under the new password."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    staff_sessions.end_sessions(session, user.id, keep=keep)
    if keep is not None:
        staff_sessions.keep_after_password_change(keep, user.password_hash)


def change_password(
    session: Session, user: StaffUser, current: str, new: str, *, keep: StaffSession | None = None
) -> None:
    """From the profile: the current password first."""
    if not verify_password(user.password_hash, current or ""):
        raise InvalidInput(current_password=_l("This is not your current password."))
    set_password(session, user, new, keep=keep)
