"""Credits in bulk: many members' points in a handful of set-based statements (an
import's opening balances, a file of points), keeping every invariant of the ledger.

Each credit is one entry and one lot, as `earn` writes them, with its own
idempotency key: a credit whose key is already in the ledger is not written again.
The members are locked (in id order) before their keys are looked for, so two
batches carrying the same keys at once write each once, as `earn` does. A member
named twice in one batch gets two entries, each with its running `balance_after`.

`open_balances_in_bulk` writes the entries of members just enrolled (by
`enrol_in_bulk`) whose INSERT set their balance already: one write per member
instead of an INSERT then an UPDATE (the balances' UPDATE was a fifth of the
database's time in an import of 100,000 customers: never HOT, six indexes a row).

`entry_recorded` is not announced per entry: after commit, each batch announces
`entries_recorded` once per kind with its entries' ids, whose listeners queue
their per-entry work (e-mails, pushes, webhook events, referral payouts) a chunk of
entries per job: the same end as entries written one by one, without 100,000 calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from core.host.actors import Actor
from core.host.db import UTCDateTime, session_tenant_id, utcnow
from core.host.errors import BalanceLimit
from core.host.events import announce
from core.host.staging import stage
from core.loyalty.ledger.entries import Kind
from core.loyalty.ledger.operations import (
    MAX_BALANCE,
    SystemKey,
    _check_points,
    _fingerprint,
    _opening_fingerprints,
    system_key,
)
from core.loyalty.program import expiry_for, get_program

_STAGE = "premia_bulk_credits"
_COLUMNS = (
    ("n", "INTEGER PRIMARY KEY"),
    ("member_id", "INTEGER NOT NULL"),
    ("points", "INTEGER NOT NULL"),
    ("kind", "VARCHAR(30) NOT NULL"),
    ("idempotency_key", "VARCHAR(200) NOT NULL UNIQUE"),
    ("fingerprint", "VARCHAR(64)"),
    ("description", "TEXT"),
    ("reference", "VARCHAR(120)"),
    ("entry_id", "INTEGER"),
)


@dataclass(frozen=True)
class BulkCredit:
    """One credit of a batch: `points` (> 0) to the member `member_id` of the session's
    tenant, under a system key (`system_key`) of its own."""

    member_id: int
    points: int
    idempotency_key: SystemKey
    description: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class _Credit:
    """A credit as staged: its kind and request fingerprint settled."""

    member_id: int
    points: int
    kind: str
    idempotency_key: SystemKey
    fingerprint: str | None
    description: str | None = None
    reference: str | None = None


def credit_in_bulk(
    session: Session,
    credits: Sequence[BulkCredit],
    *,
    kind: str,
    actor: Actor,
    fingerprinted: bool = True,
) -> set[str]:
    """Write the credits whose keys the ledger does not hold yet, each an entry of
    `kind` and a lot (expiring as the program says), and move the balances; returns
    the keys written. `fingerprinted=False` writes entries without a request
    fingerprint, as the ledger's own grants are (welcome points): no request replays
    them. All or nothing: BalanceLimit if a balance would pass the
    ledger's maximum, InvalidInput for points out of range, ValueError for a member
    that is not the tenant's or a key given twice. Flushes the session first and
    expires it after (cached balances are stale)."""
    return _write(
        session,
        [
            _Credit(
                c.member_id,
                c.points,
                str(kind),
                c.idempotency_key,
                # As `earn` computes it: a later `earn` with the same key is a replay.
                _fingerprint(
                    "credit", c.member_id, kind, c.points, None, None, c.description, c.reference
                )
                if fingerprinted
                else None,
                c.description,
                c.reference,
            )
            for c in credits
        ],
        actor=actor,
        enrolled=False,
    )


def open_balances_in_bulk(
    session: Session,
    openings: Sequence[tuple[int, int]],
    *,
    kind: str,
    key: Callable[[int], SystemKey],
    actor: Actor,
) -> set[str]:
    """The entries and lots of members enrolled in this transaction whose balance
    their INSERT set to the program's welcome points plus an opening balance
    (`openings`: (member id, opening points ≥ 0) pairs; every such member, also those
    opening with nothing). Each member gets the welcome entry `give_welcome_points`
    would write (same kind, key, no fingerprint), then an entry of `kind` for the
    opening points under `key(member_id)`, as `earn` would write it; each
    `balance_after` runs up to the balance. The members are neither locked (nobody
    else sees them before the commit) nor updated. ValueError if a balance is not
    exactly what these credits add up to (balance = sum of entries, always). Returns
    the keys written."""
    welcome = get_program(session)["welcome_points"]
    fingerprint = _opening_fingerprints(kind)
    credits = []
    for member_id, points in openings:
        if welcome:
            credits.append(
                _Credit(member_id, welcome, Kind.WELCOME, system_key("welcome", member_id), None)
            )
        if points:
            credits.append(
                _Credit(
                    member_id,
                    points,
                    str(kind),
                    key(member_id),
                    fingerprint(member_id, points),
                )
            )
    return _write(session, credits, actor=actor, enrolled=True)


def _write(
    session: Session, credits: Sequence[_Credit], *, actor: Actor, enrolled: bool
) -> set[str]:
    """Stage the credits and write them: entries, lots, and (unless `enrolled`: the
    balances hold them already) the balances moved."""
    tenant_id = session_tenant_id(session)
    keys = set()
    for credit in credits:
        _check_points(credit.points)
        if not isinstance(credit.idempotency_key, SystemKey):
            raise ValueError("a bulk credit carries a system key")
        keys.add(credit.idempotency_key)
    if len(keys) != len(credits):
        raise ValueError("a key given twice in one batch")
    if not credits:
        return set()
    session.flush()
    program = get_program(session)
    now = utcnow()
    conn = session.connection()
    stage(
        conn,
        _STAGE,
        _COLUMNS,
        (
            (
                n,
                c.member_id,
                c.points,
                c.kind,
                c.idempotency_key,
                c.fingerprint,
                c.description,
                c.reference,
                None,
            )
            for n, c in enumerate(credits)
        ),
    )
    params = {"tenant": tenant_id}
    postgres = conn.dialect.name == "postgresql"
    totals = f"(SELECT member_id, sum(points) AS points FROM {_STAGE} GROUP BY member_id)"
    if enrolled:
        # Members of this transaction's own: their balance is the sum of these credits.
        matching, named = conn.execute(
            text(
                "SELECT count(m.id), count(*) FROM "
                f"{totals} t LEFT JOIN memberships m ON m.tenant_id = :tenant "
                "AND m.id = t.member_id AND m.balance = t.points"
            ),
            params,
        ).one()
        if matching != named:
            raise ValueError("an opening balance unlike the member's, or not the tenant's member")
        # The balance before this member's first credit, plus the credits so far.
        before = "m.balance - sum(s.points) OVER (PARTITION BY s.member_id)"
    else:
        # Lock the members, in id order (as every batch does: no deadlock between two).
        lock = " FOR NO KEY UPDATE" if postgres else ""
        locked = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT m.id FROM memberships m WHERE m.tenant_id = "
                f":tenant AND m.id IN (SELECT member_id FROM {_STAGE}) ORDER BY m.id{lock}) "
                "AS locked"
            ),
            params,
        ).scalar_one()
        named = conn.execute(text(f"SELECT count(DISTINCT member_id) FROM {_STAGE}")).scalar_one()
        if locked != named:
            raise ValueError("a bulk credit names a member who is not the tenant's")
        # Under the locks: what an earlier batch (or `earn`) wrote is seen and left alone.
        conn.execute(
            text(
                f"DELETE FROM {_STAGE} WHERE EXISTS (SELECT 1 FROM ledger_entries e "
                f"WHERE e.tenant_id = :tenant AND e.idempotency_key = {_STAGE}.idempotency_key)"
            ),
            params,
        )
        over = conn.execute(
            text(
                f"SELECT count(*) FROM memberships m JOIN {totals} t ON t.member_id = m.id "
                "WHERE m.tenant_id = :tenant AND m.balance + t.points > :most"
            ),
            {**params, "most": MAX_BALANCE},
        ).scalar_one()
        if over:
            raise BalanceLimit()
        before = "m.balance"
    # Each entry's balance after it: the balance before the batch plus the batch's
    # credits to that member so far, in the batch's order; then each entry's lot.
    entries = (
        "INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after, "
        "actor_kind, actor_id, description, reference, idempotency_key, fingerprint, "
        "confirmed_large, created_at) "
        f"SELECT :tenant, s.member_id, s.kind, s.points, {before} + sum(s.points) OVER "
        "(PARTITION BY s.member_id ORDER BY s.n), :actor_kind, :actor_id, s.description, "
        f"s.reference, s.idempotency_key, s.fingerprint, :false, :now FROM {_STAGE} s "
        "JOIN memberships m ON m.tenant_id = :tenant AND m.id = s.member_id ORDER BY s.n"
    )
    lots = (
        "INSERT INTO ledger_lots (tenant_id, member_id, entry_id, points, remaining, "
        "expires_at, created_at) SELECT :tenant, member_id, {entry}, points, points, "
        ":expires, :now FROM {source} ORDER BY {entry}"
    )
    moved = (
        "UPDATE memberships SET balance = memberships.balance + t.points FROM {totals} t "
        "WHERE memberships.tenant_id = :tenant AND memberships.id = t.member_id"
    )
    values = {
        **params,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "false": False,
        "now": now,
        "expires": expiry_for(program, now),
    }
    times = (bindparam("now", type_=UTCDateTime()), bindparam("expires", type_=UTCDateTime()))
    if postgres:
        # One statement: the entries, their lots from what the INSERT returns, and the
        # balances moved by the same (all of one snapshot: the entries read the
        # balances before the UPDATE).
        move = (
            ""
            if enrolled
            else ", moved AS ("
            + moved.format(
                totals="(SELECT member_id, sum(points) AS points FROM written GROUP BY member_id)"
            )
            + ")"
        )
        written = conn.execute(
            text(
                "WITH written AS "
                f"({entries} RETURNING id, member_id, points, kind, idempotency_key), "
                "lots AS ("
                + lots.format(entry="id", source="written")
                + f"){move} SELECT idempotency_key, id, kind FROM written ORDER BY id"
            ).bindparams(*times),
            values,
        ).all()
    else:
        conn.execute(text(entries).bindparams(times[0]), values)
        conn.execute(
            text(
                f"UPDATE {_STAGE} SET entry_id = e.id FROM ledger_entries e "
                f"WHERE e.tenant_id = :tenant AND e.idempotency_key = {_STAGE}.idempotency_key"
            ),
            params,
        )
        conn.execute(text(lots.format(entry="entry_id", source=_STAGE)).bindparams(*times), values)
        if not enrolled:
            conn.execute(text(moved.format(totals=totals)), params)
        written = conn.execute(
            text(f"SELECT idempotency_key, entry_id, kind FROM {_STAGE} ORDER BY entry_id")
        ).all()
    session.expire_all()
    by_kind: dict[str, list[int]] = {}
    for _key, entry_id, entry_kind in written:
        by_kind.setdefault(entry_kind, []).append(entry_id)
    for entry_kind, entry_ids in by_kind.items():
        announce(session, "entries_recorded", kind=entry_kind, entry_ids=entry_ids)
    return {key for key, _id, _kind in written}
