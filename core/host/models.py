"""Every model of the core and of tenants, imported so that the metadata is complete.

Alembic's autogenerate and the tests compare the schema against this; plugins'
models are imported with the plugins themselves.
"""

from core.customers import Customer, Membership
from core.expiry import ExpiryRun
from core.figures import DailyFigure
from core.ledger import Allocation, Entry, Lot
from core.locations import Location
from core.purchases import Purchase, PurchaseLine
from core.rewards import Redemption, Reward
from core.staff import Operator, StaffUser
from core.staff_sessions import StaffSession
from tenants.models import Plan, PlanPlugin, Tenant, TenantPlugin, TenantSetting

__all__ = [
    "Allocation", "Customer", "DailyFigure", "Entry", "ExpiryRun", "Location", "Lot", "Membership",
    "Operator", "Plan", "PlanPlugin", "Purchase", "PurchaseLine", "Redemption", "Reward",
    "StaffSession", "StaffUser", "Tenant", "TenantPlugin", "TenantSetting",
]
