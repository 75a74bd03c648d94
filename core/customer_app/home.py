"""The shared app's home: a card for every merchant where the person is a member,
with the merchant's name and logo, the balance and the points that expire soon.

Its cost does not grow with the memberships (a test counts the statements): one
statement reads the memberships with their merchants, one the soon-expiring lots
of all of them (`expiring.expiring_soon`). The plugins' card lines (`card_lines`)
are shown on each merchant's own card page only, not here: the hook is called per
member with a session scoped to that member's merchant, so here it would cost a
session and the plugins' own statements per membership; the home stays a summary,
and each card links to the merchant's page where they are.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from core.customer_app.expiring import expiring_soon
from core.customer_app.sessions import current_customer, customer_required
from core.host.db import platform_session
from core.host.platform import current_platform
from core.loyalty.members import Membership
from tenants.models import Tenant

bp = Blueprint("app_home", __name__, url_prefix="/app")


@bp.get("/")
@customer_required
def home() -> Any:
    customer = current_customer()
    # The one cross-merchant read of the app: the person's own memberships.
    with platform_session(current_platform().sessions) as session:
        rows = session.execute(
            select(Membership, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            # a merchant the operators suspended shows nothing until reactivated
            .where(Membership.customer_id == customer.id, Tenant.suspended_at.is_(None))
            .order_by(Tenant.name)
        ).all()
        expiring = expiring_soon(session, [(member, tenant) for member, tenant in rows])
    return render_template("app/home.html", cards=rows, expiring=expiring, customer=customer)
