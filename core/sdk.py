"""The plugin SDK: the one module a Premia plugin imports from the platform.

Everything a plugin may use is named here: the hook marker and the types hooks
take and return, the base and helpers for its own models, the platform's models
it may read, the services it may call (members, points, purchases, rewards,
settings, jobs, notifications, rendering, the panel's form helpers, the current
tenant and session) and the errors it may raise or catch. Everything else in
`core/`, `tenants/` and `worker/` is private: it may change in any release, and
`tests/core/test_sdk.py` fails on a plugin that imports it.

Versions: `SDK_VERSION` is "MAJOR.MINOR". A minor release only adds names; a
major one removes or changes some. A plugin declares the version it was written
for in `PluginInfo(sdk_version=...)`, and start-up refuses a plugin of another
major, or of a later minor than this host's, naming both versions.

Constants (the other names are documented where they are defined):

- ``SDK_VERSION``: this front door's version, "MAJOR.MINOR".
- ``MANAGERS``: the roles that manage a merchant (owner, admin), for `staff_required`.
- ``EVERYONE``: every staff role, employees included.
- ``MAX_POINTS_PER_OPERATION``: the most points one operation may move.
- ``MAX_AMOUNT``: the largest purchase amount Premia stores.
- ``KIND_LABELS``: the core's ledger entry kinds and their translated labels.
- ``UNVERSIONED``: the execution option (`{UNVERSIONED: True}`) of an UPDATE or
  DELETE of a `Versioned` model that no per-process cache cares about (an API token's
  last use): it publishes no new version.
- ``MAIL_TOPICS``: the e-mail topics a person may refuse in the customer app's
  profile (points, redemptions, expiry, news) and their translated labels; ask
  `wants_mail(customer, topic)` before e-mailing a member about one, and
  `wants_push(customer, topic)` before a push notification about one (the same
  topics, chosen apart in the profile).
"""

# ruff: noqa: I001, RUF022  (grouped by concept, not alphabetically)

# Declaring a plugin and its hooks.
from core.host.plugins import SDK_VERSION, PlanLimit, PluginError, PluginInfo, hookimpl

# What hooks return: menu and settings links, summary lines, periodic jobs, points lines.
from core.loyalty.purchases import PointsLine

# A plugin's own models: the declarative base, tenant ownership, its keys, time.
from core.host.db import Base, TenantOwned, UTCDateTime, tenant_fk, tenant_key, utcnow

# A row per-process caches keep (a write publishes a new version of its tenant), and
# how a cache reads those versions (core.host.versions).
from core.host.versions import UNVERSIONED, Versioned
from core.host.versions import keys as version_keys
from core.host.versions import start as start_versions
from core.host.versions import version as version_of

# The platform's models a plugin may read.
from tenants.models import Plan, PlanPlugin, Tenant, TenantPlugin, TenantSetting
from core.loyalty.members import Membership
from core.loyalty.ledger import KIND_LABELS, Entry, Kind, kind_label
from core.loyalty.purchases import MAX_AMOUNT, Purchase, PurchaseLine, PurchaseReturn
from core.loyalty.purchases import Status as PurchaseStatus
from core.loyalty.rewards import Redemption, Reward
from core.loyalty.rewards import Status as RedemptionStatus
from core.loyalty.locations import Location
from core.loyalty.staff import Role, StaffUser

# Who did something: staff, the member, the system, an API token.
from core.host.contributions import MailLink, MemberSegment, MenuItem, PeriodicJob, SummaryLine
from core.host.actors import Actor

# Members: find, list, enrol (a person of the shared app too, or one joining by their own
# choice: join_merchant; many at once: an import), lock for a points operation.
from core.loyalty.customers import (
    count_members,
    create_member,
    find_members,
    member_by_email,
    update_member,
)
from core.loyalty.staff import normalize_email
from core.loyalty.bulk_enrolment import (
    NewMember,
    enrol_in_bulk,
    members_by_documents,
    members_by_emails,
)
from core.loyalty.invitations import send_invitation
from core.loyalty.members import get_member
from core.loyalty.ledger import lock_member, lock_member_by_code, lock_presented_member
from core.loyalty.ledger import lock_member_by_code_along, lock_presented_member_along
from core.loyalty.members import ReadAlong, account_loaded
from core.loyalty.joining import member_at_first_points
from core.loyalty.joining import join as join_merchant

# What e-mails a person wants (the customer app's profile): a channel asks before sending.
from core.loyalty.members import MAIL_TOPICS, wanting_push, wants_mail, wants_push

# Points: earn (many credits at once too), redeem, refund, adjust, history; keys that make
# an operation idempotent.
from core.loyalty.ledger import (
    BulkCredit,
    SystemKey,
    adjust,
    credit_in_bulk,
    earn,
    history,
    redeem,
    refund,
    stored_key,
    system_key,
)

# Purchases: record one (the equivalence plus plugins' points; its line items), quote one
# without writing, return it whole or in part (returned items), amounts, spend.
from core.loyalty.purchases import (
    ReturnedItem,
    WriteAlong,
    earned_entries,
    get_purchase,
    give_points,
    parse_amount,
    purchase_by_reference,
    quote_purchase,
    record_purchase,
    return_part,
    return_purchase,
    spend,
    spend_by_member,
)
from core.loyalty.purchases import Item as PurchaseItem

# Rewards: the catalogue and redemptions.
from core.loyalty.rewards import (
    active_rewards,
    create_reward,
    get_redemption,
    get_reward,
    redeem_reward,
    update_reward,
)
from core.loyalty.rewards import cancel as cancel_redemption
from core.loyalty.rewards import confirm as confirm_redemption

# The program and per-tenant settings (a plugin's namespace is its name).
from core.loyalty.program import MAX_POINTS_PER_OPERATION, get_program, update_program
from core.host.settings import every_setting_of, known_settings, load_settings, save_settings

# After commit: announce a hook, notify a member, enqueue a job; jobs themselves.
from core.host.events import announce, notify

# The notification topics a plugin sends (declared) and the error of one that does not fit.
from core.host.topics import Topic, TopicError
from worker.jobs import enqueue, platform_job, tenant_job

# Sessions: the request's, one scoped to a tenant, the platform's (jobs across tenants);
# for pages that only read (reports, exports), the request's or a tenant's on the
# replica when there is one (core/host/replica.py).
from core.web.request import db, reading_db
from core.host.replica import reading_session
from tenants.resolver import check_open, current_tenant
from core.host.db import (
    credential_lookup,
    driver_connection,
    platform_session,
    scope,
    session_tenant_id,
    tenant_session,
)
from core.host.staging import write_rows
from core.host.platform import current_platform, plan_limit

# Rendering with the tenant's theme and language: pages, e-mails, money, dates.
from flask import render_template
from core.web.mail import build_message, render_mail
from core.web.mail import send as send_mail
from core.web.links import external_url
from core.web.spreadsheet import csv_lines, delimiter_for, safe_cell
from core.web.uploads import upload_folder

# A brand's look (colours, font, stylesheet, icon, sender, footer, links): every surface a
# customer sees draws with it; `brand_look(tenant)` answers the theme's look overridden by
# the brand's choices (hook `brand_look`), `theme_look` the theme's alone, `brand_preview`
# draws with another look for a while (a preview before saving).
from core.web.brand import BrandLook, theme_look
from core.web.brand import look as brand_look
from core.web.brand import previewing as brand_preview

# Reading the CSV files merchants upload (Excel's dialects, the locale's numbers and dates).
from core.web.csv_reader import (
    CsvTable,
    UnreadableFile,
    header_key,
    match_columns,
    open_csv,
    parse_day,
    parse_number,
)
from core.web.i18n import format_money, money_locale
from core.loyalty.expiry import best_reward_before_expiry, members_with_points_expiring, month_start
from core.loyalty.activity import local_day_range

# A merchant's brand outside the app (wallet passes): its theme's colours, its logo file.
from core.web.brand import brand_colors, logo_file

# The panel: role checks and form helpers.
from core.panel.access import EVERYONE, MANAGERS, staff_required
from core.panel.formkit import WholeNumberField, get_or_404, save_with_image, show_errors

# The customer app: who is signed in, and pages only for them.
from core.customer_app.faces import app_url, is_brand
from core.customer_app.sessions import current_customer, customer_required
from core.customer_app.arrivals import remember as remember_arrival

# Errors a plugin may raise or catch (the web answers them in the user's language).
from core.host.errors import (
    BalanceLimit,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InsufficientPoints,
    InvalidInput,
    MerchantSuspended,
    NotFound,
    OutOfStock,
    PremiaError,
)
from core.loyalty.purchases import NoPointsByAmount, NothingToReturn
from core.loyalty.program import PointsByAmountOnly
from core.web.request import handle_premia_error

__all__ = [
    # declaring a plugin
    "SDK_VERSION",
    "PlanLimit",
    "PluginError",
    "PluginInfo",
    "hookimpl",
    # what hooks return
    "MailLink",
    "MemberSegment",
    "MenuItem",
    "PeriodicJob",
    "PointsLine",
    "SummaryLine",
    # a plugin's own models
    "Base",
    "TenantOwned",
    "UTCDateTime",
    "tenant_fk",
    "tenant_key",
    "utcnow",
    "UNVERSIONED",
    "Versioned",
    "start_versions",
    "version_keys",
    "version_of",
    # the platform's models
    "Entry",
    "KIND_LABELS",
    "Kind",
    "Location",
    "MAX_AMOUNT",
    "Membership",
    "Plan",
    "PlanPlugin",
    "Purchase",
    "PurchaseLine",
    "PurchaseReturn",
    "PurchaseStatus",
    "Redemption",
    "RedemptionStatus",
    "Reward",
    "Role",
    "StaffUser",
    "Tenant",
    "TenantPlugin",
    "TenantSetting",
    "kind_label",
    # who did it
    "Actor",
    # members
    "count_members",
    "create_member",
    "find_members",
    "member_by_email",
    "members_by_emails",
    "members_by_documents",
    "enrol_in_bulk",
    "NewMember",
    "normalize_email",
    "send_invitation",
    "update_member",
    "get_member",
    "MAIL_TOPICS",
    "wanting_push",
    "wants_mail",
    "wants_push",
    "lock_member",
    "lock_member_by_code",
    "lock_member_by_code_along",
    "ReadAlong",
    "WriteAlong",
    "account_loaded",
    "lock_presented_member",
    "lock_presented_member_along",
    "member_at_first_points",
    "join_merchant",
    # points
    "SystemKey",
    "adjust",
    "earn",
    "credit_in_bulk",
    "BulkCredit",
    "history",
    "redeem",
    "refund",
    "stored_key",
    "system_key",
    # purchases
    "earned_entries",
    "get_purchase",
    "give_points",
    "parse_amount",
    "PurchaseItem",
    "purchase_by_reference",
    "quote_purchase",
    "record_purchase",
    "ReturnedItem",
    "return_part",
    "return_purchase",
    "spend",
    "spend_by_member",
    # rewards
    "active_rewards",
    "cancel_redemption",
    "confirm_redemption",
    "create_reward",
    "get_redemption",
    "get_reward",
    "redeem_reward",
    "update_reward",
    # program and settings
    "MAX_POINTS_PER_OPERATION",
    "get_program",
    "every_setting_of",
    "known_settings",
    "load_settings",
    "save_settings",
    "update_program",
    # after commit, jobs
    "Topic",
    "TopicError",
    "announce",
    "enqueue",
    "notify",
    "platform_job",
    "tenant_job",
    # sessions and the current tenant
    "credential_lookup",
    "current_platform",
    "plan_limit",
    "current_tenant",
    "check_open",
    "db",
    "reading_db",
    "reading_session",
    "platform_session",
    "scope",
    "session_tenant_id",
    "driver_connection",
    "tenant_session",
    "write_rows",
    # rendering
    "build_message",
    "csv_lines",
    "delimiter_for",
    "safe_cell",
    # reading uploaded CSV files
    "CsvTable",
    "UnreadableFile",
    "header_key",
    "match_columns",
    "open_csv",
    "parse_day",
    "parse_number",
    "external_url",
    "format_money",
    "local_day_range",
    "money_locale",
    "month_start",
    "best_reward_before_expiry",
    "members_with_points_expiring",
    "brand_colors",
    "logo_file",
    "render_mail",
    "render_template",
    "send_mail",
    "upload_folder",
    # a brand's look
    "BrandLook",
    "brand_look",
    "brand_preview",
    "theme_look",
    # the panel
    "EVERYONE",
    "MANAGERS",
    "WholeNumberField",
    "get_or_404",
    "save_with_image",
    "show_errors",
    "staff_required",
    # the customer app
    "app_url",
    "current_customer",
    "customer_required",
    "is_brand",
    "remember_arrival",
    # errors
    "BalanceLimit",
    "Conflict",
    "Forbidden",
    "IdempotencyMismatch",
    "InsufficientPoints",
    "InvalidInput",
    "MerchantSuspended",
    "NoPointsByAmount",
    "NothingToReturn",
    "NotFound",
    "OutOfStock",
    "PointsByAmountOnly",
    "PremiaError",
    "handle_premia_error",
]
