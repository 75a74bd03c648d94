"""Joining a merchant: a person of the shared app becomes a member, by themselves (the
app's join button) or at the till (the personal code they show).

The personal code identifies a person, not a membership: the shared app shows it
where they are no member yet, and a merchant's cashier who scans or types it may
enrol them. It is drawn from the member codes' alphabet but is longer
(`PERSONAL_CODE_LENGTH` against `customers.CODE_LENGTH`), so the till never takes one
for the other, and long enough that nobody finds a person by guessing codes (31^12,
about 59 bits). A merchant learns nothing of the person from it before they are a
member: the till's offer shows the code alone, and the POS API answers an unknown
code and a personal code alike (404) unless the first points enrol the person there.

Only a confirmed account joins (its e-mail proven by a link, a reset or a provider):
otherwise anyone could sign up with someone else's e-mail and hand it to merchants.
"""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.host.actors import Actor
from core.host.errors import Conflict, Forbidden, NotFound
from core.host.platform import current_platform
from core.loyalty.customers import CODE_ALPHABET, create_member
from core.loyalty.members import Customer, Membership

PERSONAL_CODE_LENGTH = 12
_SEPARATORS = str.maketrans("", "", " -")


def new_personal_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(PERSONAL_CODE_LENGTH))


def as_personal_code(text: str) -> str | None:
    """`text` as a personal code (spaces and dashes a person typed dropped, upper case),
    or None when it cannot be one: a member code never is."""
    code = (text or "").translate(_SEPARATORS).upper()
    if len(code) != PERSONAL_CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
        return None
    return code


def spaced(code: str) -> str:
    """The code as shown to be read aloud: "ABCD EFGH JKMN"."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def personal_code(session: Session, customer: Customer) -> str:
    """The person's personal code, drawn the first time it is needed (platform session;
    the caller commits). Two first views at once keep the same code. Forbidden for an
    account whose e-mail is not confirmed (see the module)."""
    _check_confirmed(customer)
    for _attempt in range(10):
        if customer.personal_code:
            return customer.personal_code
        try:
            with session.begin_nested():
                session.execute(
                    update(Customer)
                    .where(Customer.id == customer.id, Customer.personal_code.is_(None))
                    .values(personal_code=new_personal_code())
                )
        except IntegrityError:  # another person's code: draw again
            continue
        session.refresh(customer, ["personal_code"])
    raise Conflict(_l("Could not create your code, please try again."))


def find_newcomer(session: Session, code: str) -> Customer:
    """The person whose personal code this is (NotFound otherwise), in the session's
    tenant: a deliberate lookup of one person, who showed their code to be enrolled."""
    code = as_personal_code(code)
    customer = None
    if code is not None:
        customer = session.scalar(
            select(Customer).where(Customer.personal_code == code),
            execution_options={"person_lookup": True},
        )
    if customer is None or customer.deleted_at is not None or not customer.email_confirmed_at:
        raise NotFound(_l("No customer with this code."))
    return customer


def membership_of(session: Session, customer: Customer) -> Membership | None:
    """The person's membership of the session's tenant, if they have one."""
    return session.scalar(select(Membership).where(Membership.customer_id == customer.id))


def join(
    session: Session,
    customer: Customer,
    *,
    joined_via: str,
    actor: Actor,
    via: str | None = None,
) -> Membership:
    """Make `customer` a member of the session's tenant, with the welcome points; a
    person who is a member already stays as they are (joining twice gives nothing).
    They chose to join (the app's button, or their code shown at the till). `via`: the
    link they arrived from (`customer_app.arrivals`), told to the plugins
    (`member_joined_from_link`) when they are a new member."""
    member = membership_of(session, customer)
    if member is not None:
        return member
    _check_confirmed(customer)
    try:
        with session.begin_nested():
            # They chose to join: the merchant's record starts from what the person says
            # of themselves in their profile (later changes reach it as the profile says).
            member = create_member(
                session,
                email=customer.email,
                first_name=customer.first_name or "",
                last_name=customer.last_name or "",
                phone=customer.phone,
                birthday=customer.birthday,
                joined_via=joined_via,
                actor=actor,
            )
    except Conflict:  # a concurrent join committed first
        member = membership_of(session, customer)
        if member is None:
            raise
        return member
    if via:
        current_platform().plugins.ask(session, "member_joined_from_link", member=member, via=via)
    return member


def _check_confirmed(customer: Customer) -> None:
    if customer.email_confirmed_at is None:
        raise Forbidden(_l("Confirm your e-mail address first: open the link we sent you."))


def joins_at_first_points(session: Session) -> bool:
    """Whether, for the session's tenant, the first points given to a person of the
    shared app make them a member by themselves (a plugin says so: `enrol_at_first_points`)."""
    return any(current_platform().plugins.ask(session, "enrol_at_first_points"))


def member_at_first_points(
    session: Session, code: str, *, joined_via: str, actor: Actor
) -> Membership:
    """For a grant to `code` that is no member's: the person of that personal code,
    enrolled now, where the merchant's first points enrol by themselves; NotFound
    otherwise, as for any unknown code (nothing says the person exists)."""
    if as_personal_code(code) is None or not joins_at_first_points(session):
        raise NotFound(_l("No customer with this code."))
    return join(session, find_newcomer(session, code), joined_via=joined_via, actor=actor)
