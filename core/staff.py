"""Staff: the owner, admins and employees of a merchant, and platform operators."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, TenantOwned, tenant_fk, utcnow
from core.errors import Conflict, InvalidInput
from core.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EMPLOYEE = "employee"


class StaffUser(TenantOwned, Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        tenant_fk("location_id", "locations"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(160))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.EMPLOYEE)
    location_id: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


class Operator(Base):
    """A platform operator: manages tenants and plans, sees no tenant's panel."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email or len(email) > 254:
        raise InvalidInput(email=_l("Enter a valid e-mail address."))
    return email


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_LENGTH:
        raise InvalidInput(
            password=_l("The password needs at least %(n)d characters.", n=MIN_LENGTH)
        )


def create_staff(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    role: Role | str = Role.EMPLOYEE,
    location_id: int | None = None,
) -> StaffUser:
    email = normalize_email(email)
    check_password_strength(password)
    if role not in set(Role):
        raise InvalidInput(role=_l("Unknown role."))
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise Conflict(_l("There is already a staff member with this e-mail."))
    user = StaffUser(
        email=email,
        name=name.strip() or email,
        password_hash=hash_password(password),
        role=Role(role),
        location_id=location_id,
    )
    session.add(user)
    session.flush()
    return user


def authenticate_staff(session: Session, email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None (whatever the cause)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not (ok and user and user.active):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def create_operator(session: Session, email: str, password: str) -> Operator:
    email = normalize_email(email)
    check_password_strength(password)
    if session.scalar(select(Operator.id).where(Operator.email == email)):
        raise Conflict(_l("There is already an operator with this e-mail."))
    operator = Operator(email=email, password_hash=hash_password(password))
    session.add(operator)
    session.flush()
    return operator
