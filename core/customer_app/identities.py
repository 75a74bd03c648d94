"""Linked identities: the Google or Facebook accounts a person signs in with.

An identity is the provider's stable subject for the person (never their e-mail,
which they may change there), linked to one account. The rules of a social sign-in:
a known identity signs into its account; otherwise the provider's e-mail decides,
and only an e-mail the provider verified may open an existing account, or anyone
holding a provider account with someone else's address would take theirs over. A
person keeps at least one way to sign in (a password or an identity) at all times.

Identities are the person's, like their account: platform rows, never a merchant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.customer_app.sessions import end_sessions, find_customer
from core.host.db import Base, utcnow
from core.host.errors import Conflict, NotFound
from core.loyalty.members import Customer
from core.loyalty.staff import normalize_email


class CustomerIdentity(Base):
    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject"),
        # One account per provider and person: "unlink Google" names one row.
        UniqueConstraint("customer_id", "provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    # The provider's e-mail when the identity was linked, shown on "Sign-in methods".
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Profile:
    """Who the provider says signed in."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    first_name: str = ""
    last_name: str = ""


class SocialRefused(Conflict):
    """A social sign-in or link the rules refuse; the message says what to do instead."""

    reason = "social_refused"


def _person(session: Session, statement: object) -> Customer | None:
    return session.scalar(statement, execution_options={"person_lookup": True})


def find_identity(session: Session, provider: str, subject: str) -> CustomerIdentity | None:
    return session.scalar(
        select(CustomerIdentity).where(
            CustomerIdentity.provider == provider, CustomerIdentity.subject == subject
        )
    )


def identities_of(session: Session, customer_id: int) -> dict[str, CustomerIdentity]:
    """The person's linked identities by provider."""
    rows = session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
    )
    return {row.provider: row for row in rows}


def sign_in(session: Session, profile: Profile, provider_name: str) -> tuple[Customer, bool]:
    """The account `profile` signs into, and whether it was created now (a sign-up).

    Raises SocialRefused when the provider gave no e-mail, or an unverified one that
    is already an account's. Flushes; the caller commits."""
    identity = find_identity(session, profile.provider, profile.subject)
    if identity is not None:
        customer = find_customer(session, identity.customer_id)
        if customer is not None:
            return customer, False
        # Left on a deleted account: the person is a newcomer again.
        session.delete(identity)
        session.flush()
    if not profile.email:
        raise SocialRefused(
            _l(
                "%(provider)s did not share your e-mail address with us: sign up with "
                "your e-mail instead.",
                provider=provider_name,
            )
        )
    email = normalize_email(profile.email)
    existing = _person(session, select(Customer).where(Customer.email == email))
    if existing is not None:
        if existing.deleted_at is not None or not profile.email_verified:
            raise SocialRefused(
                _l(
                    "There is already an account with this e-mail. Sign in with your "
                    "password, then link %(provider)s under “Sign-in methods”.",
                    provider=provider_name,
                )
            )
        # The provider proved the person owns the address: it is their account.
        if existing.email_confirmed_at is None:
            # Whoever registered it unconfirmed may not be them: a password chosen then
            # (and any session it opened) must not outlive the owner's proof.
            existing.password_hash = None
            end_sessions(session, existing.id)
            existing.email_confirmed_at = utcnow()
        _add_identity(session, existing, profile)
        return existing, False
    # An address the provider did not prove is confirmed by its link, as a registration
    # by e-mail is: until then the account does not sign in (a merchant enrolling that
    # address must never hand its card to whoever typed it at the provider).
    customer = Customer(
        email=email,
        first_name=profile.first_name[:120],
        last_name=profile.last_name[:120],
        email_confirmed_at=utcnow() if profile.email_verified else None,
    )
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
            _add_identity(session, customer, profile)
    except IntegrityError:  # the same person signing up twice at once
        raise SocialRefused(_l("Something changed meanwhile: please try again.")) from None
    return customer, True


def link(session: Session, customer: Customer, profile: Profile, provider_name: str) -> bool:
    """Link `profile` to the signed-in person's account; False if it already was."""
    identity = find_identity(session, profile.provider, profile.subject)
    if identity is not None:
        if identity.customer_id == customer.id:
            return False
        raise SocialRefused(
            _l(
                "This %(provider)s account is already linked to another account.",
                provider=provider_name,
            )
        )
    if profile.provider in identities_of(session, customer.id):
        raise SocialRefused(
            _l(
                "You already linked a %(provider)s account: unlink it first.",
                provider=provider_name,
            )
        )
    try:
        with session.begin_nested():
            _add_identity(session, customer, profile)
    except IntegrityError:
        raise SocialRefused(_l("Something changed meanwhile: please try again.")) from None
    return True


def unlink(session: Session, customer_id: int, provider: str) -> None:
    """Unlink the person's `provider` identity, unless it is their last way to sign in."""
    # The account's row locked: two unlinks at once cannot both leave the other one.
    customer = _person(
        session, select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    identity = identities_of(session, customer_id).get(provider) if customer else None
    if identity is None:
        raise NotFound()
    others = session.scalar(
        select(func.count())
        .select_from(CustomerIdentity)
        .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.id != identity.id)
    )
    if not customer.password_hash and not others:
        raise SocialRefused(
            _l(
                "This is your only way to sign in: set a password or link another "
                "account before unlinking it."
            )
        )
    session.delete(identity)
    session.flush()


def forget(session: Session, customer_id: int) -> None:
    """Unlink every identity of an account being deleted (its providers may sign up anew)."""
    session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id))


def _add_identity(session: Session, customer: Customer, profile: Profile) -> None:
    session.add(
        CustomerIdentity(
            customer_id=customer.id,
            provider=profile.provider,
            subject=profile.subject,
            email=normalize_email(profile.email) if profile.email else None,
        )
    )
    session.flush()
