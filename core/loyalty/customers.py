"""Customers: enrolling a member, searching and listing members, their record's rules.

The models (Customer, Membership) and finding a member by code are in
core.loyalty.members, which says what a merchant sees of a person.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.host.actors import Actor
from core.host.errors import Conflict, InvalidInput
from core.host.events import announce
from core.loyalty import ledger
from core.loyalty.members import Customer, Membership
from core.loyalty.rewards import Redemption, Status
from core.loyalty.staff import normalize_email

T = TypeVar("T")

# No 0/O, 1/I/L: a code is read aloud at a till and typed on a phone.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 7


class _Dropped(dict):
    """`str.translate`'s table for `fold`: a code point → None for what folding drops
    (accents' combining marks; control characters: NUL above all, which PostgreSQL
    refuses in text), itself otherwise; each character decided once, when first met."""

    def __missing__(self, point: int) -> int | None:
        char = chr(point)
        kept = None if unicodedata.combining(char) or not char.isprintable() else point
        self[point] = kept
        return kept


_DROPPED = _Dropped()


def fold(text: str) -> str:
    """Lower-case without accents: "Núñez" and "nunez" fold alike."""
    # One `translate` (a dict look-up per character, in C) rather than two Unicode
    # look-ups per character in Python: fold was the import's largest cost per row.
    return unicodedata.normalize("NFKD", text or "").translate(_DROPPED).casefold()


def new_code() -> str:
    """A random code: one draw from the system's CSPRNG for the whole code (a draw
    per character was a system call each, 7 a member in a bulk enrolment)."""
    number = secrets.randbelow(len(CODE_ALPHABET) ** CODE_LENGTH)
    characters = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        characters.append(CODE_ALPHABET[digit])
    return "".join(characters)


# `new_codes`' map of random bytes to the alphabet: a byte below the largest multiple of
# the alphabet's size picks alphabet[byte % size] (each character equally likely); the
# bytes above are dropped (8 of 256 for 31 characters).
_KEEP = 256 - 256 % len(CODE_ALPHABET)
_BYTE_TO_CODE = bytes(
    ord(CODE_ALPHABET[b % len(CODE_ALPHABET)]) if b < _KEEP else 0 for b in range(256)
)
_DROP = bytes(range(_KEEP, 256))


def new_codes(count: int) -> list[str]:
    """`count` random codes, each drawn as `new_code` draws one (every character
    uniform over the alphabet, from the system's CSPRNG), mapped from one read of random
    bytes in C (`bytes.translate`): a Python loop per character was the largest part of
    a bulk enrolment's own Python."""
    wanted = count * CODE_LENGTH
    drawn = b""
    while len(drawn) < wanted:  # a few more bytes than needed: some are dropped
        more = wanted - len(drawn)
        drawn += secrets.token_bytes(more + more // 16 + 8).translate(_BYTE_TO_CODE, _DROP)
    text = drawn[:wanted].decode("ascii")
    return [text[n : n + CODE_LENGTH] for n in range(0, wanted, CODE_LENGTH)]


def _search_text(member: Membership) -> str:
    parts = [
        member.code,
        member.document_id or "",
        member.email,
        member.first_name,
        member.last_name,
    ]
    return fold(" ".join(parts))


def create_member(
    session: Session,
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    document_id: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
    joined_via: str = "staff",
    actor: Actor,
    announce_created: bool = True,
) -> Membership:
    """Make the person with this e-mail a member of the session's tenant.

    Their platform account is created if they have none; the names and fields given
    are this merchant's record, kept on the membership whether or not the account
    existed. Welcome points are given as configured, and `member_created` is
    announced after commit, unless `announce_created=False`: one of many enrolled
    together (an import's rows), whose caller announces `members_enrolled` for all.
    """
    email = normalize_email(email)
    document_id = (document_id or "").strip() or None
    customer = _account(session, email)
    _check_not_taken(session, customer, document_id)
    member = Membership(
        customer=customer,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        document_id=document_id,
        phone=(phone or "").strip() or None,
        birthday=validate_birthday(birthday),
        joined_via=joined_via,
    )
    for _attempt in range(10):
        member.code = new_code()
        try:
            with session.begin_nested():
                member.search_text = _search_text(member)
                session.add(member)
                session.flush()
            break
        except IntegrityError:
            # A concurrent request may have made this person or document a member
            # meanwhile (a clear 409 then); otherwise the code collided: draw again.
            _check_not_taken(session, customer, document_id)
            continue
    else:
        raise Conflict(_l("Could not create the customer, please try again."))
    ledger.give_welcome_points(session, member, actor=actor)
    if announce_created:
        announce(session, "member_created", member=member)
    return member


def member_by_email(session: Session, email: str) -> Membership | None:
    """This merchant's member with this (normalised) e-mail, or None: a person who is
    another merchant's member only is None alike (nothing of theirs is revealed).

    Two indexed lookups: the account by its e-mail, then the membership of the
    session's tenant (a relationship filter would scan the members)."""
    customer_id = session.scalar(
        select(Customer.id)
        .where(Customer.email == email)
        .execution_options(person_lookup=True)  # the membership below is the tenant's
    )
    if customer_id is None:
        return None
    return session.scalar(select(Membership).where(Membership.customer_id == customer_id))


def _account(session: Session, email: str) -> Customer:
    """The person's platform account, created if they have none (race-safe), with
    nothing but the e-mail: the rest is the person's own to fill in."""
    by_email = (
        select(Customer)
        .where(Customer.email == email)
        .execution_options(
            person_lookup=True  # the one person this merchant is about to enrol
        )
    )
    customer = session.scalar(by_email)
    if customer is not None:
        return customer
    try:
        with session.begin_nested():
            customer = Customer(email=email)
            session.add(customer)
            session.flush()
        return customer
    except IntegrityError:  # created by a concurrent request that committed first
        return session.scalars(by_email).one()


def _check_not_taken(session: Session, customer: Customer, document_id: str | None) -> None:
    if customer.id and session.scalar(
        select(Membership.id).where(Membership.customer_id == customer.id)
    ):
        raise Conflict(_l("This e-mail already belongs to a customer."), email=_l("Taken."))
    if document_id and session.scalar(
        select(Membership.id).where(Membership.document_id == document_id)
    ):
        raise Conflict(_l("This document already belongs to a customer."), document_id=_l("Taken."))


@dataclass(frozen=True)
class MemberFilter:
    """Narrowing a customer search; the defaults narrow nothing."""

    with_points: bool = False  # balance above zero
    joined_from: datetime | None = None  # included
    joined_before: datetime | None = None  # excluded
    pending_requests: bool = False  # has a redemption request waiting for the merchant


def find_members(
    session: Session,
    query: str,
    *,
    limit: int = 50,
    offset: int = 0,
    filters: MemberFilter | None = None,
    sort: str = "newest",
) -> list[Membership]:
    """Members matching a code, document, e-mail or name, accent- and case-insensitively,
    and `filters`; newest first, or with the highest balance first (`sort="balance"`)."""
    stmt = _matching(select(Membership), query, filters)
    if sort == "balance":
        stmt = stmt.order_by(Membership.balance.desc(), Membership.id.desc())
    else:
        stmt = stmt.order_by(Membership.created_at.desc(), Membership.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def count_members(session: Session, query: str = "", filters: MemberFilter | None = None) -> int:
    """How many members `find_members` would find without a limit."""
    return session.scalar(_matching(select(func.count(Membership.id)), query, filters))


def iter_members(
    open_session: Callable[[], AbstractContextManager[Session]],
    read: Callable[[Membership], T],
    query: str = "",
    filters: MemberFilter | None = None,
    *,
    batch: int = 1000,
) -> Iterator[T]:
    """`read(member)` for every matching member, oldest first, fetched `batch` at a time
    by id (an export of many thousands never holds them all, nor pages by OFFSET).

    Each batch is read in a session of `open_session()`, closed before its rows are
    yielded: a stream that waits on a slow client holds no transaction between
    batches (on SQLite a transaction holds the database's write lock, so every
    other request would wait on the download)."""
    after = 0
    while True:
        with open_session() as session:
            stmt = _matching(select(Membership), query, filters).where(Membership.id > after)
            members = list(session.scalars(stmt.order_by(Membership.id).limit(batch)))
            rows = [read(member) for member in members]
        yield from rows
        if len(members) < batch:
            return
        after = members[-1].id


def _matching(stmt: Any, query: str, filters: MemberFilter | None = None) -> Any:
    for word in fold(query or "").split():
        stmt = stmt.where(
            or_(
                Membership.code == word.upper(),
                Membership.search_text.contains(word, autoescape=True),
            )
        )
    filters = filters or MemberFilter()
    if filters.with_points:
        stmt = stmt.where(Membership.balance > 0)
    if filters.joined_from is not None:
        stmt = stmt.where(Membership.created_at >= filters.joined_from)
    if filters.joined_before is not None:
        stmt = stmt.where(Membership.created_at < filters.joined_before)
    if filters.pending_requests:
        stmt = stmt.where(
            Membership.id.in_(
                select(Redemption.member_id).where(Redemption.status == Status.REQUESTED)
            )
        )
    return stmt


def update_member(
    session: Session,
    member: Membership,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    document_id: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
) -> Membership:
    """Change this merchant's record of a member: each field given (None leaves it as it
    is), by the rules of `create_member` (a document no other member has, no birthday in
    the future); the search text follows."""
    document_id = (document_id or "").strip() or None
    if document_id and document_id != member.document_id:
        taken = session.scalar(
            select(Membership.id).where(
                Membership.document_id == document_id, Membership.id != member.id
            )
        )
        if taken:
            raise Conflict(
                _l("This document already belongs to a customer."), document_id=_l("Taken.")
            )
        member.document_id = document_id
    if first_name is not None and first_name.strip():
        member.first_name = first_name.strip()
    if last_name is not None and last_name.strip():
        member.last_name = last_name.strip()
    if phone is not None and phone.strip():
        member.phone = phone.strip()
    if birthday is not None:
        member.birthday = validate_birthday(birthday)
    update_search_text(member)
    session.flush()
    announce(session, "happened", event="member.updated", data={"member_id": member.id})
    return member


def update_search_text(member: Membership) -> None:
    member.search_text = _search_text(member)


def validate_birthday(value: date | None) -> date | None:
    if value and value > date.today():
        raise InvalidInput(birthday=_l("The birthday cannot be in the future."))
    return value
