"""Creating tenants and managing plans."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_currency_name
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host.db import scope
from core.host.errors import Conflict, InvalidInput, NotFound
from core.loyalty.staff import Role, StaffUser, create_staff, normalize_email
from core.web.i18n import LANGUAGES, country_codes
from tenants.models import Plan, PlanPlugin, Tenant

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")


def get_plan(session: Session, code: str) -> Plan:
    plan = session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        raise NotFound(_l("No plan with this code."), plan=_l("Unknown plan."))
    return plan


def set_plan_plugins(session: Session, plan: Plan, plugins: set[str]) -> None:
    """Make `plan` allow exactly `plugins`."""
    current = {p.plugin: p for p in plan.plugins}
    for name in set(current) - plugins:
        plan.plugins.remove(current[name])
    for name in sorted(plugins - set(current)):
        plan.plugins.append(PlanPlugin(plugin=name))
    session.flush()


def set_plan_limit(session: Session, plan: Plan, name: str, value: int | None) -> None:
    """Store an operator's value for a plan limit (None: unlimited)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(limit=_l("A limit is a whole number of at least 0, or unlimited."))
    plan.limits = {**(plan.limits or {}), name: value}  # a new dict: JSON columns track assignment
    session.flush()


def validate_profile(*, currency: str, country: str, timezone: str, language: str) -> None:
    errors = {}
    if not re.fullmatch(r"[A-Z]{3}", currency or "") or get_currency_name(currency) == currency:
        errors["currency"] = _l("Unknown currency code.")
    if (country or "") not in country_codes():
        errors["country"] = _l("Unknown country code.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = _l("Unknown time zone.")
    if language not in LANGUAGES:
        errors["language"] = _l("Unsupported language.")
    if errors:
        raise InvalidInput(**errors)


def create_tenant(
    session: Session,
    *,
    slug: str,
    name: str,
    plan: str,
    currency: str,
    country: str,
    timezone: str,
    owner_email: str,
    owner_password: str,
    owner_name: str = "",
    language: str = "es",
    domain: str | None = None,
    **profile: str | None,
) -> Tenant:
    """Create a merchant and its owner. `session` must be a platform session."""
    slug = (slug or "").strip().lower()
    if not SLUG.fullmatch(slug):
        raise InvalidInput(slug=_l("Use lower-case letters, digits and dashes."))
    if not (name or "").strip():
        raise InvalidInput(name=_l("The name is required."))
    currency, country = (currency or "").upper(), (country or "").upper()
    validate_profile(currency=currency, country=country, timezone=timezone, language=language)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(_l("This address is taken."), slug=_l("Taken."))
    domain = (domain or "").strip().lower() or None
    if domain and session.scalar(select(Tenant.id).where(Tenant.domain == domain)):
        raise Conflict(_l("This domain is taken."), domain=_l("Taken."))
    tenant = Tenant(
        slug=slug,
        name=name.strip(),
        plan=get_plan(session, plan),
        currency=currency,
        country=country,
        timezone=timezone,
        language=language,
        domain=domain,
        **profile,
    )
    session.add(tenant)
    session.flush()
    # The owner is created in a session of the new tenant's own.
    with Session(bind=session.connection()) as owner_session:
        scope(owner_session, tenant.id)
        create_staff(
            owner_session,
            email=owner_email,
            name=owner_name or name,
            password=owner_password,
            role=Role.OWNER,
        )
        owner_session.flush()
    return tenant


def owner_of(session: Session) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.role == Role.OWNER))


PROFILE_LIMITS = {
    "name": 160,
    "business_type": 80,
    "email": 254,
    "phone": 40,
    "whatsapp": 40,
    "description": 2000,
}
PROFILE_FIELDS = {*PROFILE_LIMITS, "logo", "country", "currency", "timezone", "language"}


def update_profile(session: Session, tenant: Tenant, **changes: str | None) -> Tenant:
    """Change the merchant's profile (name, logo, contact, country, currency, time zone,
    language), every field validated before any is written."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise InvalidInput(**{name: _l("Unknown field.") for name in unknown})
    values: dict[str, str | None] = {}
    errors = {}
    for name, limit in PROFILE_LIMITS.items():
        if name in changes:
            text = (changes[name] or "").strip()
            if len(text) > limit:
                errors[name] = _l("At most %(n)d characters.", n=limit)
            values[name] = text or None
    if "name" in changes and not values["name"]:
        errors["name"] = _l("The name is required.")
    if values.get("email"):
        try:
            values["email"] = normalize_email(values["email"])
        except InvalidInput as error:
            errors.update(error.fields)
    if "logo" in changes:
        values["logo"] = changes["logo"] or None
    profile = {
        "currency": (changes.get("currency", tenant.currency) or "").strip().upper(),
        "country": (changes.get("country", tenant.country) or "").strip().upper(),
        "timezone": (changes.get("timezone", tenant.timezone) or "").strip(),
        "language": (changes.get("language", tenant.language) or "").strip(),
    }
    try:
        validate_profile(**profile)
    except InvalidInput as error:
        errors.update(error.fields)
    if errors:
        raise InvalidInput(**errors)
    values.update({k: v for k, v in profile.items() if k in changes})
    for name, value in values.items():
        setattr(tenant, name, value)
    session.flush()
    return tenant
