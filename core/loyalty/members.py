"""Members: a person's platform account (Customer) and their membership of one
merchant (Membership), and finding a member by the code on their card.

The membership carries the customer code (what the QR says), unique in the
merchant, the cached balance that the ledger keeps equal to the sum of the
member's entries, and everything the merchant recorded about the person (names,
document, phone, birthday). The account keeps the e-mail and only what the person
entered themselves: a merchant never sees it, or one merchant could learn what
another recorded (enrol an e-mail, read back the name someone else typed).

The models live apart from the services over them (core.loyalty.customers) so that
the ledger and rewards, which need the member, do not import those services.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Select,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    inspect,
    select,
)
from sqlalchemy.orm import Mapped, Session, lazyload, mapped_column, relationship

from core.host.db import Base, ReachedThroughTenant, TenantOwned, tenant_key, utcnow
from core.host.driver import EntityRead
from core.host.errors import NotFound
from core.loyalty import live_codes


class Customer(ReachedThroughTenant, Base):
    """A person's platform account, shared by all the merchants they belong to.

    A merchant sees a person only through their membership of that merchant: of the
    account, only the e-mail (which the merchant typed too)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # The names the person gave themselves (the customer app): never shown to a merchant.
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    language: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The customer app: the account is confirmed once its e-mail is (a link, a reset,
    # a provider's verified e-mail); phone and birthday as the person gave them.
    email_confirmed_at: Mapped[datetime | None] = mapped_column()
    phone: Mapped[str | None] = mapped_column(String(40))
    birthday: Mapped[date | None] = mapped_column(Date)
    # Topics the person does not want by e-mail ({"points": false, …}); absent = wanted.
    mail_preferences: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    # Shown on the shared app's card where the person is no member yet: a merchant's
    # cashier scans it to enrol them. Never a member code (another alphabet length).
    personal_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    # Set when the person deleted their account: personal data erased, entries kept.
    deleted_at: Mapped[datetime | None] = mapped_column()

    @classmethod
    def tenant_criteria(cls, tenant_id: int) -> Any:
        return cls.id.in_(select(Membership.customer_id).where(Membership.tenant_id == tenant_id))


# What a person may choose not to receive by e-mail (the app's profile); a message of
# no topic (a welcome, a merchant's own notice) is not the person's to switch off.
MAIL_TOPICS: dict[str, Any] = {
    "points": _l("Points I receive"),
    "redemptions": _l("My reward redemptions"),
    "expiry": _l("Points about to expire"),
    "news": _l("News and offers"),
}


def wants_push(customer: Customer, topic: str | None = None) -> bool:
    """Whether the person wants a push notification on their phones about `topic` (one
    of `MAIL_TOPICS`, the same topics as e-mail; None for a message of no topic). Kept
    beside the e-mail choices, under "push:<topic>". A deleted account receives nothing."""
    if customer.deleted_at is not None:
        return False
    prefs = customer.mail_preferences or {}
    return topic is None or prefs.get(f"push:{topic}", True) is not False


def wanting_push(topic: str | None = None) -> ColumnElement[bool]:
    """`wants_push` as SQL, for a query of memberships: a send to thousands of people
    filters them in the database rather than loading each account."""
    wanted = Customer.deleted_at.is_(None)
    if topic is not None:
        # Only an explicit `false` says no (absent or anything else: wanted), as above.
        choice = Customer.mail_preferences[f"push:{topic}"].as_boolean()
        wanted = and_(wanted, choice.is_not(False))
    return Membership.customer.has(wanted)


def wants_mail(customer: Customer, topic: str | None = None) -> bool:
    """Whether the person wants an e-mail about `topic` (one of `MAIL_TOPICS`; None for
    a message of no topic). A deleted account receives nothing."""
    if customer.deleted_at is not None:
        return False
    return topic is None or (customer.mail_preferences or {}).get(topic, True) is not False


class Membership(TenantOwned, Base):
    """A customer of one merchant."""

    __tablename__ = "memberships"
    __table_args__ = (
        tenant_key(),
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "customer_id"),
        UniqueConstraint("tenant_id", "document_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        # Inicio's customers who joined today, counted live: without it, a pass over
        # every membership (52 ms of 200,000 on a loaded machine).
        Index("ix_memberships_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    code: Mapped[str] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(default=0)
    first_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    document_id: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    birthday: Mapped[date | None] = mapped_column(Date)
    # Lower-cased, accent-free "code document email first last", for search.
    search_text: Mapped[str] = mapped_column(String(700), default="")
    joined_via: Mapped[str] = mapped_column(String(20), default="staff")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The seed of the app's rotating QR (core.loyalty.live_codes), drawn when the app
    # first shows the card; only the signed-in person's app ever receives it.
    live_secret: Mapped[str | None] = mapped_column(String(32))

    customer: Mapped[Customer] = relationship(lazy="joined")

    @property
    def email(self) -> str:
        return self.customer.email

    @property
    def full_name(self) -> str:
        """The names this merchant recorded (never the account's: see the module)."""
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        """What the merchant's screens and e-mails call the member: their names, else
        the e-mail."""
        return self.full_name or self.email


def normalize_code(code: str) -> str:
    return (code or "").strip().upper()


def get_member(session: Session, code: str, *, for_update: bool = False) -> Membership:
    """The member with this code (NotFound otherwise): the static code or the app's live
    code (`core.loyalty.live_codes`; StaleLiveCode when its window has passed).
    `for_update` locks the row and reads it afresh (use `ledger.lock_member_by_code`,
    which remembers the lock)."""
    return find_member(session, code, for_update=for_update)[0]


def find_member(
    session: Session, code: str, *, for_update: bool = False
) -> tuple[Membership, bool]:
    """`get_member`, and whether the code was a live one (the app's rotating QR, shown
    now): a merchant may require one for redemptions."""
    member, live, _along = find_member_along(session, code, for_update=for_update)
    return member, live


def find_member_along(
    session: Session,
    code: str,
    *,
    for_update: bool = False,
    along: ReadAlong | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[Membership, bool, Any]:
    """`find_member`, and the row of `along` its statement joined (None where none
    matched): a caller's own row read in the same round trip."""
    code = normalize_code(code)
    live = live_codes.parse(code)
    if live is not None:
        code = live[0]
    member = found = None
    if code.isalnum() and len(code) <= 16:  # anything else is no code of ours
        if for_update and session.get_bind().dialect.driver == "psycopg":
            read = _locking_read(along).first(session, {**(params or {}), "code": code})
            if read is not None:
                member, found = read if along is not None else (read[0], None)
        elif along is None:
            member = session.scalar(_by_code(for_update=for_update), {"code": code})
        else:
            row = session.execute(
                _by_code_along(along, for_update), {**(params or {}), "code": code}
            ).first()
            member, found = row if row is not None else (None, None)
    if member is None:
        raise NotFound(_l("No customer with this code."))
    if live is not None and not live_codes.verify(member.live_secret, live[1]):
        raise live_codes.StaleLiveCode()
    return member, live is not None, found


@dataclass(frozen=True, eq=False)
class ReadAlong:
    """A row of the caller's that a member's statement reads too, outer-joined on
    `onclause` (its bind parameters given with each call): built once by the caller.
    A tenant-owned model is scoped like every other (core.host.db)."""

    entity: type
    onclause: Any


# Built once per ReadAlong (kept with it, so its id is never another's).
_along_statements: dict[tuple[int, bool], tuple[ReadAlong, Select]] = {}


def _by_code_along(along: ReadAlong, for_update: bool) -> Select:
    key = (id(along), for_update)
    known = _along_statements.get(key)
    if known is not None:
        return known[1]
    statement = (
        select(Membership, along.entity)
        .outerjoin(along.entity, along.onclause)
        .where(Membership.code == bindparam("code"))
        .execution_options(person_lookup=True)
    )
    if for_update:
        statement = _locking(statement)
    _along_statements[key] = (along, statement)
    return statement


@functools.cache
def _by_code(*, for_update: bool) -> Select:
    # Built once: the POS API finds a member by code on every request.
    statement = select(Membership).where(Membership.code == bindparam("code"))
    # The member's own account is joined by its id, with no filter of every account
    # of the tenant's members (the membership is the tenant's already): that filter
    # made PostgreSQL read all of the tenant's memberships on every lookup.
    statement = statement.execution_options(person_lookup=True)
    if for_update:
        statement = _locking(statement)
    return statement


# Built once per ReadAlong (None: the member alone), kept with it like the above.
_locking_reads: dict[int, tuple[ReadAlong | None, EntityRead]] = {}


def _locking_read(along: ReadAlong | None) -> EntityRead:
    """The member by code, locked, (and `along`'s row) read through the driver: the
    till doors' lock, once per request, where the ORM's execution cost twice the
    statement's Python (core.host.driver). The same statement as `_locking`'s."""
    known = _locking_reads.get(id(along))
    if known is not None:
        return known[1]

    def shape(statement: Select) -> Select:
        statement = statement.select_from(Membership)
        if along is not None:
            statement = statement.outerjoin(along.entity, along.onclause)
        return statement.where(Membership.code == bindparam("code")).with_for_update(
            of=Membership, key_share=True
        )

    entities = (Membership,) if along is None else (Membership, along.entity)
    read = EntityRead(entities, shape, person_lookup=True)
    _locking_reads[id(along)] = (along, read)
    return read


def _locking(statement: Select) -> Select:
    """The member locked for a change of balance, read afresh, without their account:
    a sale needs the membership alone, and loading the account cost a tenth of an
    earn's Python CPU. Whatever reads `member.customer` later in the transaction
    loads it then (after the commit, in a transaction of its own: the hooks told after
    a sale ask for it only where it is loaded, see `account_loaded`)."""
    return (
        statement.with_for_update(of=Membership, key_share=True)
        .options(lazyload(Membership.customer))
        .execution_options(populate_existing=True)
    )


def account_loaded(member: Membership) -> Customer | None:
    """The member's account where it is loaded already, else None (no statement): for
    work told after a commit that may skip what it would ask the account."""
    return None if "customer" in inspect(member).unloaded else member.customer
