"""Every hook a Premia plugin can implement.

A plugin implements a hook by defining a function of the same name decorated
with `core.sdk.hookimpl`, taking any subset of the arguments below. Hooks
that take a `tenant` are called only for the plugins active for that tenant
(installed, allowed by its plan, and switched on). Hooks that announce
something that happened fire after the transaction commits; a plugin that
raises there is logged and the others still run. The purchase hooks are the
exception: they run inside the purchase's transaction, so what a plugin
writes there commits or rolls back with the purchase, and an error refuses it.
`enrol_at_first_points` is a question asked in a grant's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from datetime import date
    from decimal import Decimal

    from flask import Blueprint, Flask
    from markupsafe import Markup
    from sqlalchemy.orm import Session

    from core.host.contributions import (
        MailLink,
        MemberSegment,
        MenuItem,
        PeriodicJob,
        SummaryLine,
    )
    from core.host.topics import Topic
    from core.loyalty.ledger import Entry
    from core.loyalty.members import Membership
    from core.loyalty.purchases import PointsLine, Purchase, PurchaseReturn
    from core.loyalty.rewards import Redemption
    from tenants.models import Tenant

hookspec = pluggy.HookspecMarker("premia")


@hookspec
def blueprints() -> list[Blueprint]:
    """At start-up: Flask blueprints the plugin serves under each tenant's path.

    Blueprint names must start with the plugin's name. Every request to them
    answers 404 unless the plugin is active for the request's tenant.
    """


@hookspec
def startup(app: Flask) -> None:
    """At start-up: the app is built; a plugin may add what is app-wide rather than
    per tenant: routes outside the tenant's path (the POS API at `/api/`, which
    knows its tenant from the token), CLI commands (`app.cli`), extensions.

    Runs for every installed plugin; requests must check themselves that the
    plugin is active for their tenant.
    """


@hookspec
def periodic_jobs() -> list[PeriodicJob]:
    """At start-up: jobs the worker's scheduler runs on an interval or a cron schedule."""


@hookspec
def notification_topics() -> list[Topic]:
    """At start-up: the topics the plugin sends through `notify`, each with the
    context it carries (`core.host.topics.Topic(name, {key: type})`). Sending an
    undeclared topic, or a context that does not fit, is refused."""


@hookspec
def delivered_topics() -> list[str]:
    """At start-up: the names of the `notify` topics this channel delivers (e-mail,
    push…). A declared topic no installed plugin delivers is logged."""


@hookspec
def member_created(tenant: Tenant, member: Membership) -> None:
    """After commit: a person became a customer of `tenant`.

    Not fired for people enrolled together (an import of a customer list, by
    `enrol_in_bulk` or row by row): `members_enrolled` is, once for all of them."""


@hookspec
def members_enrolled(tenant: Tenant, member_ids: list[int]) -> None:
    """After commit: these people became customers of `tenant` together (an import of
    a customer list: thousands at once). What a listener does for each new member
    (a welcome e-mail) it queues in bulk here: a job per chunk of ids, not one per
    member, and never a send in the hook itself."""


@hookspec
def entry_recorded(tenant: Tenant, entry: Entry, member: Membership) -> None:
    """After commit: a ledger entry (earn, redeem, refund, adjust, welcome, …) was written.

    Not fired for the monthly expiry, which is set-based; see `points_expired`; nor
    for credits written in bulk (`credit_in_bulk`: an import's opening balances, a
    file of points): `entries_recorded` is, once for each batch.
    """


@hookspec
def entries_recorded(tenant: Tenant, kind: str, entry_ids: list[int]) -> None:
    """After commit: credits of one `kind` (earn, welcome, an import's opening…) were
    written together (`credit_in_bulk`: a file of points, an import's opening
    balances: thousands at once), each of which `entry_recorded` would have announced
    had it been written on its own. What a listener does for each entry (a "you got
    points" e-mail, a push, a webhook event, a referral's payout) it queues in bulk
    here: a job per chunk of ids, never a send in the hook itself; the job reads the
    entries (`Entry`) and does for each what `entry_recorded` does, under the same
    keys, so an entry is never told twice."""


@hookspec
def points_expired(tenant: Tenant, entry_count: int) -> None:
    """After commit: the periodic expiry wrote `entry_count` expire entries for `tenant`."""


@hookspec
def redemption_changed(tenant: Tenant, redemption: Redemption) -> None:
    """After commit: a redemption was made, requested, confirmed or cancelled."""


@hookspec
def happened(tenant: Tenant, event: str, data: dict[str, Any]) -> None:
    """After commit: something a plugin (or the core) owns happened that the merchant's
    other systems may want to hear of, beside the hooks above that tell the ledger's,
    members' and redemptions' own news: announce it with
    `announce(session, "happened", event=…, data=…)`.

    `event` is "<thing>.<past participle>": "member.updated", "coupon.claimed",
    "tier.changed", "survey.answered"… `data` is plain JSON data (str, int, bool,
    None, lists and dicts of them: ids, codes, names as stored), stable across releases
    (fields may be added, never renamed): `member_id` names the member concerned and `id`
    the occurrence, when there are. Listeners (webhooks) pass it on; they must not
    write to the announcer's records. Returns nothing.
    """


@hookspec
def notify(tenant: Tenant, member: Membership, topic: str, context: dict[str, Any]) -> None:
    """After commit: something should be told to a member (e-mail, push, …).

    `topic` names a declared message ("points_expiring", see `core.host.topics` and
    `notification_topics`) and `context` holds the plain data declared with it.
    The channels (notifications, push) decide whether and how to deliver it.
    """


@hookspec
def calculate_points(
    session: Session, tenant: Tenant, member: Membership, purchase: Purchase, base_points: int
) -> list[PointsLine] | None:
    """In the purchase's transaction: before anything is written, the points a
    purchase earns beyond the program's equivalence (`base_points`, 0 without one).

    `purchase` is not flushed yet: read its `amount`, `lines` (each with `sku`,
    `product_group`, `quantity`, `unit_price`), `location_id` and `created_at`.
    Return `PointsLine(kind, points, label)` items; each becomes its own ledger
    entry, so the member and the merchant see why they earned what they did
    ("Gold ×1.2", "Black Friday 5%"). Must not write anything: it is also asked
    for a quote (`quote_purchase`), where the purchase is never recorded and `member`
    may be someone who is no member yet (unsaved, `id` None).
    """


@hookspec
def purchase_recorded(
    session: Session,
    tenant: Tenant,
    member: Membership,
    purchase: Purchase,
    entries: list[Entry],
) -> None:
    """In the purchase's transaction: after its entries are written, the plugin
    keeps its own records (spend totals, punch cards, …). Raising refuses the purchase."""


@hookspec
def purchase_returned(
    session: Session,
    tenant: Tenant,
    member: Membership,
    purchase: Purchase,
    entry: Entry | None,
) -> None:
    """In the return's transaction: a purchase was returned and `entry` (None when
    nothing could be taken back) took its points back out; undo the plugin's own records."""


@hookspec
def purchase_partly_returned(
    session: Session,
    tenant: Tenant,
    member: Membership,
    purchase: Purchase,
    returned: PurchaseReturn,
    entry: Entry | None,
) -> None:
    """In the return's transaction: part of a purchase came back (`returned.amount`, and
    `returned.lines`: [{"line_id", "quantity"}] of `purchase.lines`, empty for a return
    by amount) and `entry` (None when nothing could be taken back) took that part's points
    back out; undo the plugin's own records for that part. The part that returns what is
    left of a purchase calls `purchase_returned` instead."""


@hookspec
def member_erased(session: Session, tenant: Tenant, member: Membership, email: str) -> None:
    """In the deletion's transaction: the person deleted their account, and `member`
    (their membership of `tenant`, already anonymised) keeps only its code, balance and
    entries. Erase or anonymise what the plugin keeps about the person (copies of
    their names, their former e-mail `email`…), never their points or figures.
    Called on every installed plugin, active for `tenant` or not (a plugin switched off
    keeps what it recorded while it was on). Raising refuses the deletion."""


@hookspec
def enrol_at_first_points(session: Session, tenant: Tenant) -> bool:
    """In the grant's transaction: whether the first points given to a person of the
    shared app who is no member of `tenant` yet (they showed the personal code of the
    shared app: at the till, or to the POS API) make them a member by themselves.

    Return True to enrol them with those points (welcome points apply once); without
    a plugin saying so, the till asks the cashier and the POS API answers 404, as for
    an unknown code. Must not write anything.
    """


@hookspec
def panel_menu(tenant: Tenant) -> list[MenuItem]:
    """While a panel page renders: the plugin's entries in the panel's menu.

    Return `core.sdk.MenuItem(endpoint, label, roles=…, order=…)` items
    pointing at the plugin's own blueprint; entries a user's role may not open
    are hidden (the plugin's views must still check the role themselves).
    """


@hookspec
def settings_links(tenant: Tenant) -> list[MenuItem]:
    """While a panel page renders: links to the plugin's own settings pages, listed on
    Configuración (e.g. the POS API's tokens), for settings a schema cannot hold.

    Return `core.sdk.MenuItem(endpoint, label, roles=…)` items pointing at the
    plugin's blueprint; links a user's role may not open are hidden (the plugin's
    views still check the role).
    """


@hookspec
def activity_links(tenant: Tenant) -> list[MenuItem]:
    """While a panel page renders: links shown at the top of Actividad to the plugin's
    own lists of what happened (survey answers, referrals), beside the ledger's movements.

    Return `core.sdk.MenuItem(endpoint, label, roles=…)` items pointing at the plugin's
    blueprint; links a user's role may not open are hidden (the plugin's views still
    check the role).
    """


@hookspec
def dashboard_widgets(session: Session, tenant: Tenant, since: date, until: date) -> list[Markup]:
    """While a panel page renders: HTML blocks for the dashboard (Inicio), below
    the core's figures, about the local dates [since, until] the merchant chose.

    Render them with the plugin's own templates (`render_template`), so a brand
    theme can restyle them; return `markupsafe.Markup`. `session` may be on the
    read-only replica (`PREMIA_DATABASE_REPLICA_URL`): read through it, never write.
    """


@hookspec
def member_summary(session: Session, tenant: Tenant, member: Membership) -> list[SummaryLine]:
    """While a panel page renders: short facts about `member` shown beside their balance
    where staff serve them (Fidelización), e.g. their tier or a punch card's progress.

    Return `core.sdk.SummaryLine(label, value)` items (translated label,
    value as text in the tenant's formats). Must not write anything; a plugin that
    raises is logged and left out.
    """


@hookspec
def member_facts(session: Session, tenant: Tenant, member: Membership) -> dict[str, Any]:
    """While the POS API answers: what the plugin keeps about `member`, as fields of
    their `GET /customers/{code}` (the till's member at a glance), e.g. the tiers
    plugin's `{"tier": {...}}`, the punch cards' `{"punch_cards": [...],
    "prizes_waiting": 2}`, the packs' `{"packs": [...]}`.

    Return a dict of JSON-able values (datetimes and Decimals allowed) keyed by the field
    names the API's document declares; the API merges the answers of the active plugins,
    and a field no plugin gives keeps its empty value (null, [] or 0). Must not write
    anything; an exception is the request's error.
    """


@hookspec(firstresult=True)
def points_payable(
    session: Session, tenant: Tenant, amount: Decimal, member: Membership | None
) -> tuple[int, Decimal] | None:
    """While the POS API answers: for a sale being quoted (`POST /purchases/quote`), for
    `member` or for someone who is no member (None), the most points that may pay a
    bill of `amount` under the merchant's rule (the cashback plugin's cap; for a member,
    no more than their balance), and the money those points pay.

    Return `(points, value)`, or None where the plugin lets nothing be paid with points;
    the first answer is used. Without one, paying with points is off and the quote says
    null. Must not write anything.
    """


@hookspec
def member_actions(session: Session, tenant: Tenant, member: Membership) -> list[MenuItem]:
    """While a panel page renders: links to the plugin's own pages about `member`,
    shown on their Fidelización page ("Pagar con puntos", "Bonos", "Tarjetas de sellos").

    Return `core.sdk.MenuItem(endpoint, label, roles=…, values={"code": member.code})`
    items pointing at the plugin's blueprint; links a user's role may not open are
    hidden (the plugin's views still check the role). Must not write anything; a
    plugin that raises is logged and left out.
    """


@hookspec
def app_menu(tenant: Tenant) -> list[MenuItem]:
    """While a customer app page renders: the plugin's entries in the app's menu on
    `tenant`'s pages ("Invite friends", "Surveys").

    Return `core.sdk.MenuItem("t.<blueprint>.<view>", label, order=…)` items pointing
    at the plugin's customer pages: a blueprint of its own (from `blueprints`) with
    `url_prefix="/app/<plugin>"`, served under each tenant's app like the core's, its
    views guarded by `core.sdk.customer_required`. `roles` is not used here.
    """


@hookspec
def card_lines(session: Session, tenant: Tenant, member: Membership) -> list[SummaryLine]:
    """While a customer app page renders: short facts shown to `member` on their card,
    under their balance, e.g. their tier or a punch card's progress.

    Return `core.sdk.SummaryLine(label, value)` items, written for the customer
    (translated label, value as text in the tenant's formats). Must not write
    anything; a plugin that raises is logged and left out.
    """


@hookspec
def member_joined_from_link(session: Session, tenant: Tenant, member: Membership, via: str) -> None:
    """In the joining's transaction: a person made themselves a new member of `tenant`
    in the customer app (registering and confirming their e-mail on its pages, signing
    in with Google or Facebook there, or its card's join button) after arriving from a
    link that carried `via`, a short text a plugin's page kept with
    `core.sdk.remember_arrival` (it travels in the confirmation link too, so it holds
    when the e-mail is opened elsewhere). Keep the plugin's own records; raising
    refuses the joining. Not called for a person who was a member already.
    """


@hookspec
def mail_links(
    session: Session,
    tenant: Tenant,
    member: Membership,
    message: str,
    entry: Entry | None,
    redemption: Redemption | None,
) -> list[MailLink]:
    """In the mail job's transaction: links added to an e-mail about to be sent to
    `member`, e.g. a satisfaction survey on the e-mail of points received.

    `message` names the e-mail ("points_received", "redemption_confirmed", …);
    `entry` or `redemption` is what it tells about, when it tells about one. Return
    `core.sdk.MailLink(text, label, url)` items (lazy translated text: the e-mail is
    rendered in the member's language; `url` absolute, see `core.sdk.external_url`).
    The plugin may write its own records here (they commit with the delivery); it is
    asked once per e-mail actually sent.
    """


@hookspec
def fill_demo(session: Session, tenant: Tenant) -> None:
    """In the demo's transaction: `premia demo` is creating the demo merchant (its
    members, purchases and rewards are written); the plugin adds examples of its own
    records through its own services (a coupon campaign and a few claims), so a
    newcomer sees it at work. Called for the plugins active for the demo merchant;
    raising fails the demo."""


@hookspec
def member_segments(session: Session, tenant: Tenant) -> list[MemberSegment]:
    """While a panel page renders: the groups of `tenant`'s members the plugin knows
    (the tiers plugin: each tier's members), so other plugins (push's Notificaciones)
    can address them without importing it; also asked by a job choosing an audience.

    Return `core.sdk.MemberSegment(key, label, member_ids)` items, `key` starting with
    the plugin's name, `member_ids` a SELECT of membership ids. Must not write anything.
    """


@hookspec
def app_scripts(tenant: Tenant) -> list[str]:
    """While a customer app page renders: URLs of scripts the plugin adds to every
    page of `tenant`'s app (loaded with `defer`, after the app's own), served by its
    own blueprint: e.g. push's offer to turn notifications on."""


@hookspec
def service_worker_scripts(tenant: Tenant) -> list[str]:
    """While a customer app page renders: the app's service worker, served like a page;
    URLs of scripts the worker imports (`importScripts`) for `tenant`'s app, served by
    the plugin's own blueprint under the app's scope: e.g. push's handler of `push` and
    `notificationclick` events. They change the worker's version, so phones pick up a
    new list."""


@hookspec
def brand_look(session: Session, tenant: Tenant) -> dict[str, Any] | None:
    """While anything a customer sees is drawn: for `tenant`'s app pages, manifest and
    icons, e-mails, printable card, and a plugin's pages or documents, at most once per
    request or job, the brand's choices over its theme's look.

    Return a dict of `core.sdk.BrandLook` fields to override (`colors` is merged into the
    theme's: primary, accent, text, background, on_primary, on_accent), or None.
    `session` is the request's or job's (it may be the platform's, reaching every
    tenant: filter by `tenant.id` yourself); `stylesheets` only when a request is being
    answered (they are URLs). Must not write anything; a plugin that raises is logged
    and left out (the theme's look is drawn).
    """
