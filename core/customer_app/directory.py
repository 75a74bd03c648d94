"""The shared app's directory: the merchants a person can find by city and join.

Listed are the merchants of the shared app (not a white-label brand, whose customers
join on its own domain) with an active location in the city; the cities are those of
their locations, written as merchants wrote them but found whatever their accents
and case. These are the app's cross-merchant reads of merchants' public facts (name,
logo, city), in a platform session; nothing here reads a person's data.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from core.host.errors import NotFound
from core.loyalty.customers import fold
from core.loyalty.locations import Location
from core.loyalty.members import Membership
from tenants.models import Tenant

# A brand (its own domain) is no merchant of the shared app; a suspended one is listed
# nowhere and nobody joins it.
_SHARED = and_(Tenant.domain.is_(None), Tenant.suspended_at.is_(None))


def _stores(session: Session) -> list[tuple[str, int]]:
    """(city, merchant id) of every active location of the shared app's merchants,
    the city with its spaces tidied, each pair once."""
    rows = session.execute(
        select(Location.city, Location.tenant_id)
        .join(Tenant, Tenant.id == Location.tenant_id)
        .where(Location.active.is_(True), Location.city.is_not(None), _SHARED)
        .distinct()
    )
    return [(" ".join(city.split()), tenant_id) for city, tenant_id in rows if fold(city).strip()]


def cities(session: Session) -> list[str]:
    """The cities where merchants of the shared app have a store, each once (written
    the way most of its merchants write it), in alphabetical order."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for city, _tenant_id in _stores(session):
        spellings[fold(city)][city] += 1
    names = [counts.most_common(1)[0][0] for counts in spellings.values()]
    return sorted(names, key=fold)


def merchants_in(session: Session, city: str) -> list[Tenant]:
    """The merchants of the shared app with an active store in `city` (accents, case
    and spaces aside), by name."""
    wanted = fold(" ".join((city or "").split()))
    if not wanted:
        return []
    tenant_ids = {tenant_id for name, tenant_id in _stores(session) if fold(name) == wanted}
    if not tenant_ids:
        return []
    return list(
        session.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)).order_by(Tenant.name))
    )


def shared_merchant(session: Session, slug: str) -> Tenant:
    """The merchant of the shared app with this slug; NotFound for a brand or none."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug, _SHARED))
    if tenant is None:
        raise NotFound(_l("This merchant is not on the shared app."))
    return tenant


def member_of(session: Session, customer_id: int, tenants: list[Tenant]) -> set[int]:
    """The ids of those of `tenants` the person is a member of."""
    if not tenants:
        return set()
    return set(
        session.scalars(
            select(Membership.tenant_id).where(
                Membership.customer_id == customer_id,
                Membership.tenant_id.in_([t.id for t in tenants]),
            )
        )
    )
