"""The points ledger: append-only entries, lots, and the member's balance.

Invariants, kept under concurrency on PostgreSQL:

* a member's balance equals the sum of their entries and the sum of the
  `remaining` of their lots, and is never negative (the database refuses a
  negative balance or lot too);
* a credit (earn, welcome, adjust up, …) creates a lot; a debit (redeem,
  expire, adjust down, …) consumes lots, soonest-expiring first, and records
  which lots it took (allocations) so that a refund puts back exactly those;
* an operation carrying an idempotency key is written once: a retry returns
  the first entry and writes nothing.

Every operation locks the member's row (SELECT … FOR NO KEY UPDATE) before
reading the balance, so operations on one member are serialised and operations
on different members run in parallel. NO KEY: the ledger changes no key of the
row, and a row of another table that refers to the member (a phone registered
for push, a coupon claimed) checks that reference with a key-share lock, which
FOR UPDATE would hold up for as long as the ledger's transaction lasts (an
expiry run, a campaign's grant). Services flush but never commit: the caller
owns the transaction.
"""

from core.loyalty.ledger.bulk import BulkCredit, credit_in_bulk, open_balances_in_bulk
from core.loyalty.ledger.entries import KIND_LABELS, Allocation, Entry, Kind, Lot, kind_label
from core.loyalty.ledger.expire import EVERY_MEMBER, MemberRange, due_ranges, expire_due
from core.loyalty.ledger.operations import (
    SystemKey,
    adjust,
    audit_member,
    check_credit,
    credit_locked,
    debit_locked,
    earn,
    give_welcome_points,
    history,
    lock_member,
    lock_member_by_code,
    lock_member_by_code_along,
    lock_presented_member,
    lock_presented_member_along,
    redeem,
    refund,
    stored_key,
    system_key,
)

__all__ = [
    "EVERY_MEMBER",
    "KIND_LABELS",
    "Allocation",
    "BulkCredit",
    "Entry",
    "Kind",
    "Lot",
    "MemberRange",
    "SystemKey",
    "adjust",
    "audit_member",
    "check_credit",
    "credit_in_bulk",
    "credit_locked",
    "debit_locked",
    "due_ranges",
    "earn",
    "expire_due",
    "give_welcome_points",
    "history",
    "kind_label",
    "lock_member",
    "lock_member_by_code",
    "lock_member_by_code_along",
    "lock_presented_member",
    "lock_presented_member_along",
    "open_balances_in_bulk",
    "redeem",
    "refund",
    "stored_key",
    "system_key",
]
