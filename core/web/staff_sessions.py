"""Staff sessions kept on the server, so that they end when they should.

Flask's session cookie is signed, not revocable: a copy made before logout would
open the panel after it. So the cookie carries only a random token naming a row
here (its hash is stored: a copy of the table opens nothing). A session ends at
logout and when its user is deactivated; a password change (or reset) ends every
session opened with the old password, because each row keeps a stamp of the
password it was opened with: the one that changed the password is re-stamped
and stays. A session unused for `IDLE` ends too, and an hourly job forgets the
sessions that can open nothing any more.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import String, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.host.db import Base, TenantOwned, platform_session, tenant_fk, utcnow
from core.host.platform import current_platform
from worker.jobs import platform_job

# How often a session's last_seen_at is written (not on every request).
SEEN_EVERY = timedelta(minutes=5)
# A session unused this long ends (a forgotten tab on a shared counter PC).
IDLE = timedelta(days=30)


class StaffSession(TenantOwned, Base):
    __tablename__ = "staff_sessions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        tenant_fk("user_id", "staff_users", ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(index=True)
    password_stamp: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def password_stamp(password_hash: str) -> str:
    """A short fingerprint of a password hash (not the hash itself)."""
    return _digest(password_hash)[:16]


def open_session(session: Session, user_id: int, password_hash: str) -> tuple[StaffSession, str]:
    """A new session for a user who just logged in, and the token for their cookie."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=_digest(token), user_id=user_id, password_stamp=password_stamp(password_hash)
    )
    session.add(row)
    session.flush()
    return row, token


def find_session(session: Session, token: str) -> StaffSession | None:
    """The open session with this token (in the session's tenant), if it has not ended.
    The caller checks its user (active, password unchanged: `is_current`)."""
    return session.scalar(
        select(StaffSession).where(
            StaffSession.token_hash == _digest(token),
            StaffSession.ended_at.is_(None),
            StaffSession.last_seen_at > utcnow() - IDLE,
        )
    )


def is_current(row: StaffSession, password_hash: str) -> bool:
    """Whether the session was opened (or kept) with the user's present password."""
    return secrets.compare_digest(row.password_stamp, password_stamp(password_hash))


def end_session(row: StaffSession) -> None:
    row.ended_at = row.ended_at or utcnow()


def end_sessions(session: Session, user_id: int, *, keep: StaffSession | None = None) -> None:
    """End every open session of a user, but `keep` (the one asking, if it stays)."""
    stmt = update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.ended_at.is_(None)
    )
    if keep is not None:
        stmt = stmt.where(StaffSession.id != keep.id)
    session.execute(stmt.values(ended_at=utcnow()).execution_options(synchronize_session=False))


def keep_after_password_change(row: StaffSession, password_hash: str) -> None:
    """The session that changed its user's password stays open under the new one."""
    row.password_stamp = password_stamp(password_hash)


def seen(row: StaffSession) -> bool:
    """Note the session as used now; True if that changed the row (worth a commit)."""
    now = utcnow()
    if now - row.last_seen_at < SEEN_EVERY:
        return False
    row.last_seen_at = now
    return True


@platform_job(queue="bulk")
def forget_old_sessions() -> int:
    """Delete the sessions that ended or went unused for `IDLE`, of every tenant."""
    with platform_session(current_platform().sessions) as session:
        result = session.execute(
            delete(StaffSession)
            .where(
                (StaffSession.ended_at.is_not(None))
                | (StaffSession.last_seen_at <= utcnow() - IDLE)
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return result.rowcount
