"""Enrolling many people at once (an import of a merchant's customer list), in a
handful of set-based statements, and finding which of many are members already.

`enrol_in_bulk` makes each person a member as `create_member` does (the platform
account by e-mail, created if the person has none, with nothing but the e-mail; the
merchant's record on the membership; a fresh code; the program's welcome points,
the same entry and lot; an opening balance if the caller gives one, as `earn` would
write it after), but it is meant for rows a caller has validated
(`normalize_email`, names and lengths) and checked against the merchant's members
(`members_by_emails`, `members_by_documents`). Instead of one `member_created` per
member it announces `members_enrolled` once with all of them, so that listeners
queue their work (welcome e-mails) in bulk: a job per chunk, not one per person;
the entries are announced by `entries_recorded`, once per kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ARRAY, Connection, String, any_, bindparam, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.host.actors import Actor
from core.host.db import UTCDateTime, session_tenant_id, utcnow
from core.host.events import announce
from core.host.staging import stage
from core.loyalty.customers import fold, new_code, new_codes
from core.loyalty.ledger import SystemKey, open_balances_in_bulk
from core.loyalty.ledger.operations import _check_points
from core.loyalty.members import Customer, Membership
from core.loyalty.program import get_program

_STAGE = "premia_bulk_people"
_COLUMNS = (
    ("n", "INTEGER PRIMARY KEY"),
    ("email", "VARCHAR(254) NOT NULL UNIQUE"),
    ("first_name", "VARCHAR(120) NOT NULL"),
    ("last_name", "VARCHAR(120) NOT NULL"),
    ("document_id", "VARCHAR(40)"),
    ("phone", "VARCHAR(40)"),
    ("birthday", "DATE"),
    ("code", "VARCHAR(16) NOT NULL"),
    ("search_text", "VARCHAR(700) NOT NULL"),
    ("points", "INTEGER NOT NULL"),
    ("member_id", "INTEGER"),
)
_CODE_DRAWS = 10
# Each row's account, by e-mail: a subquery per row (one index lookup each, never pulled
# up into a join). A join of the batch with `customers` had PostgreSQL hash the whole
# table (every merchant's customers) for each batch (EXPLAIN ANALYZE: 104,000 accounts
# read for 5,000 rows; a growing table's statistics lag). OFFSET 0 fences it in.
_ACCOUNT = f"(SELECT c.id FROM customers c WHERE c.email = {_STAGE}.email)"


@dataclass(frozen=True)
class NewMember:
    """A person to enrol: a normalised e-mail and the merchant's record of them, and
    the points they open with (an import's opening balance; 0: none)."""

    email: str
    first_name: str = ""
    last_name: str = ""
    document_id: str | None = None
    phone: str | None = None
    birthday: date | None = None
    points: int = 0


def members_by_emails(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Normalised e-mail → member id, for those of `emails` that are this merchant's
    members (one statement; another merchant's member is absent alike)."""
    emails = list(set(emails))
    if not emails:
        return {}
    return dict(
        session.execute(
            select(Customer.email, Membership.id)
            .join(Membership, Membership.customer_id == Customer.id)
            .where(_one_of(session, Customer.email, emails))
            # The accounts are reached through the tenant's memberships joined here:
            # the accounts' own criteria would hash every member of the tenant each time.
            .execution_options(person_lookup=True)
        ).all()
    )


def members_by_documents(session: Session, documents: Iterable[str]) -> dict[str, int]:
    """Document → member id, for those of `documents` this merchant's members have."""
    documents = list(set(documents))
    if not documents:
        return {}
    return dict(
        session.execute(
            select(Membership.document_id, Membership.id).where(
                _one_of(session, Membership.document_id, documents)
            )
        ).all()
    )


def _one_of(session: Session, column: ColumnElement, values: list[str]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL one array parameter (`= ANY`), not thousands of
    placeholders for the driver to parse and the server to plan."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String)))
    return column.in_(values)


def enrol_in_bulk(
    session: Session,
    people: Sequence[NewMember],
    *,
    actor: Actor,
    joined_via: str = "import",
    announce_enrolled: bool = True,
    opening_kind: str | None = None,
    opening_key: Callable[[int], SystemKey] | None = None,
) -> list[int | None]:
    """Make each person a member of the session's tenant, with the program's welcome
    points, then their opening points (`NewMember.points`) as an entry of
    `opening_kind` under the key `opening_key(member_id)` (both needed when anyone
    opens with points); returns their member ids in order, None for a person who could
    not be (their e-mail or document became a member's meanwhile: a concurrent
    enrolment). The e-mails must be distinct. Announces `members_enrolled` after
    commit, unless `announce_enrolled=False` (a caller announcing more at once: an
    import's batch). Flushes the session first and expires it after."""
    if not people:
        return []
    if any(p.points for p in people) and (opening_kind is None or opening_key is None):
        raise ValueError("opening points need their entry kind and key")
    for person in people:
        if person.points:
            _check_points(person.points)
    tenant_id = session_tenant_id(session)
    session.flush()
    now = utcnow()
    conn = session.connection()
    codes = new_codes(len(people))
    stage(
        conn,
        _STAGE,
        _COLUMNS,
        (
            (
                n,
                p.email,
                p.first_name.strip(),
                p.last_name.strip(),
                (p.document_id or "").strip() or None,
                (p.phone or "").strip() or None,
                p.birthday,
                codes[n],
                # As `create_member` folds it, but the code's part (a code drawn
                # again below changes): the search text is "code " + this.
                fold(
                    " ".join(
                        [
                            (p.document_id or "").strip(),
                            p.email,
                            p.first_name.strip(),
                            p.last_name.strip(),
                        ]
                    )
                ),
                p.points,
                None,
            )
            for n, p in enumerate(people)
        ),
    )
    params = {"tenant": tenant_id}
    _draw_unique_codes(conn, tenant_id)
    conn.execute(
        text(
            "INSERT INTO customers (email, first_name, last_name, mail_preferences, created_at) "
            f"SELECT email, '', '', '{{}}', :now FROM {_STAGE} WHERE true ORDER BY email "
            "ON CONFLICT (email) DO NOTHING"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
        {"now": now},
    )
    # Each balance set in its INSERT (the welcome points and the opening points, known
    # beforehand), its entries written after by `open_balances_in_bulk`: an INSERT and
    # an UPDATE per member were a third of an import's database time. The sum cannot
    # pass the ledger's maximum (each part is at most MAX_POINTS_PER_OPERATION).
    # No conflict target: a code, an account or a document taken meanwhile (a
    # concurrent enrolment) leaves that row out, reported as None below.
    welcome = get_program(session)["welcome_points"]
    fence = " OFFSET 0" if conn.dialect.name == "postgresql" else ""  # SQLite: LIMIT first
    insert = (
        "INSERT INTO memberships (tenant_id, customer_id, code, balance, first_name, "
        "last_name, document_id, phone, birthday, search_text, joined_via, created_at) "
        "SELECT :tenant, s.customer_id, s.code, :welcome + s.points, s.first_name, "
        "s.last_name, s.document_id, s.phone, s.birthday, lower(s.code) || ' ' || "
        f"s.search_text, :via, :now FROM (SELECT {_STAGE}.*, {_ACCOUNT} AS customer_id FROM "
        f"{_STAGE}{fence}) s WHERE s.customer_id IS NOT NULL ORDER BY s.n "
        "ON CONFLICT DO NOTHING"
    )
    values = {**params, "welcome": welcome, "via": joined_via, "now": now}
    when = bindparam("now", type_=UTCDateTime())
    if conn.dialect.name == "postgresql":  # one statement: the ids from what it returns
        conn.execute(
            text(
                f"WITH made AS ({insert} RETURNING id, code) UPDATE {_STAGE} SET "
                f"member_id = made.id FROM made WHERE {_STAGE}.code = made.code"
            ).bindparams(when),
            values,
        )
    else:
        conn.execute(text(insert).bindparams(when), values)
        conn.execute(
            text(
                f"UPDATE {_STAGE} SET member_id = m.id FROM memberships m JOIN customers c "
                f"ON c.id = m.customer_id WHERE m.tenant_id = :tenant "
                f"AND m.code = {_STAGE}.code AND c.email = {_STAGE}.email"
            ),
            params,
        )
    ids = dict(conn.execute(text(f"SELECT n, member_id FROM {_STAGE}")).all())
    enrolled = [ids.get(n) for n in range(len(people))]
    if None in enrolled:
        # An account made above for a row then left out is not left behind (made now, and
        # nobody's member: as a refused `create_member` leaves nothing). Only then: a
        # statement over every account of the batch (1.7 s of 20,000 rows' 4.1 s).
        conn.execute(
            text(
                "DELETE FROM customers WHERE created_at = :now AND email IN (SELECT email "
                f"FROM {_STAGE} WHERE member_id IS NULL) AND NOT EXISTS (SELECT 1 FROM "
                "memberships m WHERE m.customer_id = customers.id)"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": now},
        )
    made = [member_id for member_id in enrolled if member_id is not None]
    # Expired before the entries are announced, not after: an announcement's tenant
    # (read in this transaction) expired now could not be read after the commit.
    session.expire_all()
    open_balances_in_bulk(
        session,
        [(member_id, p.points) for member_id, p in zip(enrolled, people, strict=True) if member_id],
        kind=opening_kind or "",
        key=opening_key or _no_key,
        actor=actor,
    )
    if announce_enrolled and made:
        announce(session, "members_enrolled", member_ids=made)
    return enrolled


def _no_key(member_id: int) -> SystemKey:
    raise ValueError("opening points need their key")


def _draw_unique_codes(conn: Connection, tenant_id: int) -> None:
    """Draw again the codes that collide with a member's or another row's (rare:
    31⁷ codes): a collision would leave the row out of the INSERT."""
    for _attempt in range(_CODE_DRAWS):
        clashing = (
            conn.execute(
                text(
                    f"SELECT n FROM {_STAGE} s WHERE EXISTS (SELECT 1 FROM memberships m "
                    "WHERE m.tenant_id = :tenant AND m.code = s.code) OR s.code IN "
                    f"(SELECT code FROM {_STAGE} GROUP BY code HAVING count(*) > 1)"
                ),
                {"tenant": tenant_id},
            )
            .scalars()
            .all()
        )
        if not clashing:
            return
        conn.execute(
            text(f"UPDATE {_STAGE} SET code = :code WHERE n = :n"),
            [{"n": n, "code": new_code()} for n in clashing],
        )
