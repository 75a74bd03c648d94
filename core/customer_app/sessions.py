"""Customer sessions: who is signed in to the customer app, kept on the server.

A customer's session is not a staff user's: it lives in a cookie of its own
(`COOKIE`), never in Flask's session cookie that Flask-Login uses for staff, so a
customer cookie never opens the panel and a staff cookie never opens the app.
As for staff (core.web.staff_sessions), the cookie holds only a random token
naming a row here (its hash is stored), so logout ends it for every copy, and a
password change ends every session opened with the old password. Accounts are
platform-wide (one per person), so the rows are the platform's, not a tenant's;
a cookie is still per host, so a brand's domain has sessions of its own.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import current_app, g, redirect, request
from sqlalchemy import ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.customer_app.faces import app_url
from core.host.db import Base, platform_session, utcnow
from core.host.platform import current_platform
from core.loyalty.members import Customer
from core.web.request import db
from tenants.resolver import brand_url
from worker.jobs import platform_job

COOKIE = "member_session"
# A phone stays signed in a long time; unused this long, the session ends.
IDLE = timedelta(days=90)
SEEN_EVERY = timedelta(minutes=5)
NO_PASSWORD = "-"  # the stamp of an account without a password (social or invited)


class CustomerSession(Base):
    __tablename__ = "customer_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    password_stamp: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def password_stamp(password_hash: str | None) -> str:
    return _digest(password_hash)[:16] if password_hash else NO_PASSWORD


def _lookup(session: Session, statement: Any) -> Any:
    # The account is the person's, not the tenant's: on a merchant's page (a
    # tenant-scoped session) it is found even before they are a member there.
    return session.scalar(statement, execution_options={"person_lookup": True})


def find_customer(session: Session, customer_id: int) -> Customer | None:
    """The account with this id, whoever's page is being served (not a deleted one)."""
    customer = _lookup(session, select(Customer).where(Customer.id == customer_id))
    return customer if customer is not None and customer.deleted_at is None else None


def log_in(session: Session, customer: Customer) -> None:
    """Open a session for `customer`; the response sets its cookie. Commit after."""
    token = secrets.token_urlsafe(32)
    session.add(
        CustomerSession(
            token_hash=_digest(token),
            customer_id=customer.id,
            password_stamp=password_stamp(customer.password_hash),
        )
    )
    session.flush()
    g.customer = customer
    g.customer_cookie = token


def log_out(session: Session) -> None:
    """End the request's session on the server; the response forgets the cookie."""
    row = _current_row(session)
    if row is not None:
        row.ended_at = row.ended_at or utcnow()
    g.customer = None
    g.customer_cookie = ""


def end_sessions(session: Session, customer_id: int, *, keep_current: bool = False) -> None:
    """End every session of an account (a password change, a deletion); the request's
    own stays open when `keep_current` (it is re-stamped with the new password)."""
    keep = _current_row(session) if keep_current else None
    statement = update(CustomerSession).where(
        CustomerSession.customer_id == customer_id, CustomerSession.ended_at.is_(None)
    )
    if keep is not None:
        statement = statement.where(CustomerSession.id != keep.id)
        customer = find_customer(session, customer_id)
        keep.password_stamp = password_stamp(customer.password_hash if customer else None)
    session.execute(
        statement.values(ended_at=utcnow()).execution_options(synchronize_session=False)
    )


def _current_row(session: Session) -> CustomerSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return session.scalar(
        select(CustomerSession).where(
            CustomerSession.token_hash == _digest(token),
            CustomerSession.ended_at.is_(None),
            CustomerSession.last_seen_at > utcnow() - IDLE,
        )
    )


def current_customer() -> Customer | None:
    """The person signed in to the customer app on this request, or None."""
    if "customer" not in g:
        g.customer = _load(db())
    return g.customer


def _load(session: Session) -> Customer | None:
    try:
        row = _current_row(session)
        if row is None:
            return None
        customer = find_customer(session, row.customer_id)
        if customer is None or not secrets.compare_digest(
            row.password_stamp, password_stamp(customer.password_hash)
        ):
            return None
        if utcnow() - row.last_seen_at >= SEEN_EVERY:
            row.last_seen_at = utcnow()
        return customer
    finally:
        # The read ends here (objects stay loaded): the app's pages that read across
        # merchants open a platform session of their own, which on SQLite (the embedded
        # default, one writer at a time) would wait forever behind this one's lock.
        session.commit()


def customer_required(view: Callable) -> Callable:
    """Sign in first: a visitor goes to the app's sign-in page and comes back here."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if current_customer() is None:
            # Back to the page as the browser saw it (on a brand's domain, without /t/<slug>).
            back = brand_url(request.full_path)
            return redirect(app_url("app_accounts.login", next=back))
        return view(*args, **kwargs)

    return checked


def set_cookie(response: Any) -> Any:
    """After a request that signed in or out: write or forget the customer's cookie."""
    token = g.get("customer_cookie")
    if token is None:
        return response
    if token:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(IDLE.total_seconds()),
            secure=request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE", False),
            httponly=True,
            samesite="Lax",
        )
    else:
        response.delete_cookie(COOKIE)
    return response


@platform_job(queue="bulk")
def forget_old_sessions() -> int:
    """Delete the customer sessions that ended or went unused for `IDLE`."""
    with platform_session(current_platform().sessions) as session:
        result = session.execute(
            delete(CustomerSession)
            .where(
                (CustomerSession.ended_at.is_not(None))
                | (CustomerSession.last_seen_at <= utcnow() - IDLE)
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return result.rowcount
