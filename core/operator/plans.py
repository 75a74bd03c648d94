"""Plans as data, edited by operators: which plugins each plan allows and each plan's
limits (the plugins' `PlanLimit`s; a value left to the seed takes the plugin's)."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host.errors import InvalidInput
from core.host.plugins import PlanLimit, PluginHost
from core.operator import audit
from core.operator.models import Operator
from tenants.models import Plan
from tenants.services import set_plan_limit, set_plan_plugins


@dataclass(frozen=True)
class LimitValue:
    limit: PlanLimit
    value: int | None  # None: unlimited
    stored: bool  # an operator's value (else the plugin's seed)


def all_plans(session: Session) -> list[Plan]:
    return list(session.scalars(select(Plan).order_by(Plan.id)))


def limit_values(plugins: PluginHost, plan: Plan) -> list[LimitValue]:
    stored = plan.limits or {}
    return [
        LimitValue(
            limit, stored[name] if name in stored else limit.seeds.get(plan.code), name in stored
        )
        for name, limit in sorted(plugins.limits().items())
    ]


def parse_limit(text: str) -> int | None:
    """A limit as typed: a whole number of at least 0, or empty / "unlimited" for none."""
    text = (text or "").strip().lower()
    if text in ("", "unlimited"):
        return None
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(limit=_l("A limit is a whole number of at least 0, or unlimited."))
    return int(text)


def edit_plugins(
    session: Session,
    plugins: PluginHost,
    plan: Plan,
    names: set[str],
    *,
    by: Operator,
    address: str | None,
) -> None:
    """Make `plan` allow exactly `names` among the installed plugins; the names it lists
    of plugins not installed here (another deployment's) are kept, the form not showing them."""
    installed = set(plugins.infos)
    current = plan.plugin_names
    if names - installed - current:
        raise InvalidInput(plugins=_l("Unknown plugin."))
    names = (names & installed) | (current - installed)
    before = sorted(current)
    set_plan_plugins(session, plan, names)
    if before != sorted(names):
        audit.record(
            session,
            by,
            "plan_plugins",
            address=address,
            target=plan.code,
            before=before,
            after=sorted(names),
        )


def edit_limit(
    session: Session,
    plugins: PluginHost,
    plan: Plan,
    name: str,
    value: int | None,
    *,
    by: Operator,
    address: str | None,
) -> None:
    if name not in plugins.limits():
        raise InvalidInput(limit=_l("Unknown limit."))
    before = (plan.limits or {}).get(name, "seed")
    set_plan_limit(session, plan, name, value)
    audit.record(
        session,
        by,
        "plan_limit",
        address=address,
        target=plan.code,
        limit=name,
        before=before,
        after=value,
    )
