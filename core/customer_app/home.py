"""The shared app's home: a card for every merchant where the person is a member."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

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
            .where(Membership.customer_id == customer.id)
            .order_by(Tenant.name)
        ).all()
    return render_template("app/home.html", cards=rows, customer=customer)
