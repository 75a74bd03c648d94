"""Every model of the core and of tenants, imported so that the metadata is complete.

Alembic's autogenerate and the tests compare the schema against this; plugins'
models are imported with the plugins themselves.
"""

from core.customer_app.identities import CustomerIdentity
from core.customer_app.sessions import CustomerSession
from core.host.outbox import OutboxRow
from core.loyalty.expiry import ExpiryRun
from core.loyalty.figures import DailyFigure
from core.loyalty.ledger import Allocation, Entry, Lot
from core.loyalty.locations import Location
from core.loyalty.member_totals import MemberTotals
from core.loyalty.members import Customer, Membership
from core.loyalty.purchases import Purchase, PurchaseLine
from core.loyalty.rewards import Redemption, Reward
from core.loyalty.staff import StaffUser
from core.operator.models import AuditEntry, DataExport, Operator, OperatorSession, RecoveryCode
from core.web.staff_sessions import StaffSession
from tenants.models import Plan, PlanPlugin, Tenant, TenantDomain, TenantPlugin, TenantSetting

__all__ = [
    "Allocation",
    "AuditEntry",
    "Customer",
    "CustomerIdentity",
    "CustomerSession",
    "DailyFigure",
    "DataExport",
    "Entry",
    "ExpiryRun",
    "Location",
    "Lot",
    "MemberTotals",
    "Membership",
    "Operator",
    "OperatorSession",
    "OutboxRow",
    "Plan",
    "PlanPlugin",
    "Purchase",
    "PurchaseLine",
    "RecoveryCode",
    "Redemption",
    "Reward",
    "StaffSession",
    "StaffUser",
    "Tenant",
    "TenantDomain",
    "TenantPlugin",
    "TenantSetting",
]
