"""Staff: the owner, admins and employees of a merchant."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.host.actors import Role
from core.host.db import Base, TenantOwned, tenant_fk, tenant_key, utcnow
from core.host.errors import Conflict, Forbidden, InvalidInput
from core.loyalty.locations import Location
from core.web.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from core.web.staff_sessions import end_sessions


class StaffUser(TenantOwned, Base):
    """A merchant's staff user (owner, admin, employee), optionally tied to a store."""

    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        tenant_key(),  # referenced by staff_sessions
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


def normalize_email(email: str) -> str:
    """The e-mail as Premia stores it (trimmed, lower-case); InvalidInput (field "email")
    for one that cannot be an address."""
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
    by: StaffUser | None = None,
) -> StaffUser:
    """A new staff member; `by` (the staff user doing it, None for the platform) must be
    a manager, and only an owner creates another owner."""
    email = normalize_email(email)
    check_password_strength(password)
    if role not in set(Role):
        raise InvalidInput(role=_l("Unknown role."))
    _check_manager(by, Role(role))
    _check_location(session, location_id)
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise Conflict(
            _l("There is already a staff member with this e-mail."),
            email=_l("There is already a staff member with this e-mail."),
        )
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


def update_staff(
    session: Session,
    user: StaffUser,
    *,
    by: StaffUser | None,
    **changes: object,
) -> StaffUser:
    """Change a staff member's name, e-mail, role, location, password or active flag.

    An admin may not change an owner nor make anyone an owner; the last active
    owner may be neither deactivated nor given another role (the merchant would
    be left without anyone who may manage owners). A deactivated user cannot log
    in, and their open sessions end (a later reactivation does not revive them); a
    new password ends them too (see core.web.staff_sessions).
    """
    allowed = {"name", "email", "role", "location_id", "password", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(**{name: _l("Unknown field.") for name in unknown})
    _check_manager(by, Role(user.role))
    values = dict(changes)
    if "email" in values:
        values["email"] = normalize_email(str(values["email"]))
        taken = session.scalar(
            select(StaffUser.id).where(
                func.lower(StaffUser.email) == values["email"], StaffUser.id != user.id
            )
        )
        if taken:
            raise Conflict(
                _l("There is already a staff member with this e-mail."),
                email=_l("There is already a staff member with this e-mail."),
            )
    if "name" in values:
        values["name"] = str(values["name"] or "").strip() or values.get("email", user.email)
    if "role" in values:
        if values["role"] not in set(Role):
            raise InvalidInput(role=_l("Unknown role."))
        values["role"] = Role(values["role"])
        _check_manager(by, values["role"])
    if "location_id" in values:
        _check_location(session, values["location_id"])
    if values.get("password"):
        check_password_strength(str(values["password"]))
        values["password_hash"] = hash_password(str(values.pop("password")))
    else:
        values.pop("password", None)
    stays_owner = values.get("role", user.role) == Role.OWNER and values.get("active", user.active)
    if user.role == Role.OWNER and user.active and not stays_owner:
        _keep_an_owner(session, user)
    for name, value in values.items():
        setattr(user, name, value)
    if values.get("active") is False or "password_hash" in values:
        end_sessions(session, user.id)
    session.flush()
    return user


def deactivate_staff(session: Session, user: StaffUser, *, by: StaffUser | None) -> StaffUser:
    return update_staff(session, user, by=by, active=False)


def _check_manager(by: StaffUser | None, target: Role) -> None:
    if by is None:  # the platform itself (tenant creation, the CLI, the demo)
        return
    if by.role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden(_l("Only owners and admins manage staff."))
    if target == Role.OWNER and by.role != Role.OWNER:
        raise Forbidden(
            _l("Only an owner can create or change an owner."),
            role=_l("Only an owner can create or change an owner."),
        )


def _check_location(session: Session, location_id: object) -> None:
    if location_id is None:
        return
    if (
        isinstance(location_id, bool)
        or not isinstance(location_id, int)
        or not 0 < location_id < 2**31
        or session.get(Location, location_id) is None
    ):
        raise InvalidInput(location_id=_l("Unknown location."))


def _keep_an_owner(session: Session, user: StaffUser) -> None:
    # Locks the active owners: two owners demoting each other at once cannot both pass.
    owners = session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.OWNER, StaffUser.active.is_(True))
        .with_for_update()
    ).all()
    if not set(owners) - {user.id}:
        raise Conflict(
            _l("The merchant needs at least one active owner."),
            active=_l("The merchant needs at least one active owner."),
        )


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
