"""The plugin host: discovery, per-tenant activation, and calling hooks.

Plugins are found through the `premia.plugins` entry-point group, built-in
ones included, exactly as a third party's would be. The entry point names a
module (or object) with a `PLUGIN` attribute of type `PluginInfo` and hook
implementations marked with `hookimpl`.

A plugin declares the version of the front door (`core.sdk`) it was written for;
start-up refuses one this host cannot serve (see `SDK_VERSION`).

Installed is not active: a plugin is active for a tenant when it is installed,
the tenant's plan allows it, and the tenant has not switched it off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import marshmallow as ma
import pluggy
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import hookspecs
from core.host.db import Base, current_transaction, session_tenant_id
from core.host.errors import InvalidInput
from core.host.events import call_robustly
from core.host.settings import load_settings, save_settings
from core.host.topics import TopicError, Topics
from tenants.models import Tenant, TenantPlugin

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("premia")
# The version of the plugin front door, core.sdk, "MAJOR.MINOR": a minor release only
# adds names, a major one removes or changes some. A plugin written for X.Y runs on a
# host whose major is X and whose minor is Y or later.
SDK_VERSION = "1.6"
ENTRY_POINT_GROUP = "premia.plugins"
# Hook implementations of the core itself, registered under this name, always run.
ALWAYS_ACTIVE = frozenset({"core"})


class PluginError(RuntimeError):
    """A plugin breaks the rules of the host; raised at start-up."""


@dataclass(frozen=True)
class PlanLimit:
    """A quantity a plan caps for one plugin (coupon claims a month, push sends a month…).

    The seed values are the plugin's; an operator's value stored on the plan (`Plan.limits`)
    wins over them. `None` means unlimited, and so does a plan the seeds do not name.
    """

    name: str
    """"<plugin>.<what>", e.g. "coupons.codes_per_month"."""
    label: Any
    """What is counted, a lazy translated string (the operator console shows it)."""
    seeds: dict[str, int | None] = field(default_factory=dict)
    """Plan code → the limit in that plan."""


@dataclass(frozen=True)
class PluginInfo:
    """What a plugin declares about itself (its module's `PLUGIN`)."""

    name: str
    """Identifier; prefixes its tables, blueprints, templates folder, settings and jobs."""
    title: Any
    """Human name, usually a lazy translated string."""
    description: Any = ""
    """One sentence for the operator console and the merchant's settings."""
    plans: tuple[str, ...] = ()
    """The seed plans that include it; operators may change plans afterwards."""
    settings_schema: type[ma.Schema] | None = None
    """Marshmallow schema of its settings, with defaults (namespace: its name)."""
    entry_kinds: dict[str, Any] = field(default_factory=dict)
    """The ledger entry kinds it writes, with their (lazy, translated) labels."""
    limits: tuple[PlanLimit, ...] = ()
    """The quantities plans cap for it, with each plan's seed value."""
    sdk_version: str = SDK_VERSION
    """The version of `core.sdk` the plugin was written for (e.g. "1.1"); declare it, so that
    a later host whose front door changed refuses the plugin instead of breaking it."""
    package_path: Path | None = field(default=None, compare=False)
    """Filled in by the host: the folder the plugin lives in."""

    @property
    def migrations_path(self) -> Path | None:
        path = self.package_path and self.package_path / "migrations"
        return path if path and path.is_dir() else None

    @property
    def templates_path(self) -> Path | None:
        path = self.package_path and self.package_path / "templates"
        return path if path and path.is_dir() else None


class PluginHost:
    """One per application (never module-global, so tests can build several)."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("premia")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.blueprint_owner: dict[str, str] = {}
        self.entry_kinds: dict[str, Any] = {}  # kind → label, from every plugin
        self._session_factory: Any = None
        self.topics = Topics()  # the core's; plugins' are added by `check`
        # The core's own plan limits (an own domain…), next to the plugins'.
        self.core_limits: tuple[PlanLimit, ...] = ()

    # --- discovery -----------------------------------------------------

    def load_entry_points(self, names: set[str] | None = None) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if names is not None and ep.name not in names:
                continue
            plugin = ep.load()
            info = self.register(plugin)
            if info.name != ep.name:
                raise PluginError(f"entry point {ep.name!r} declares plugin {info.name!r}")

    def register(self, plugin: ModuleType | Any) -> PluginInfo:
        info = getattr(plugin, "PLUGIN", None)
        if not isinstance(info, PluginInfo):
            raise PluginError(f"{plugin!r} has no PLUGIN = PluginInfo(...)")
        if info.name in self.infos:
            raise PluginError(f"plugin {info.name!r} is installed twice")
        if not info.name.isidentifier() or info.name != info.name.lower():
            raise PluginError(f"plugin name {info.name!r} must be a lower-case identifier")
        try:
            hash(plugin)
        except TypeError:
            # pluggy selects plugins by identity in sets (`subset_hook_caller`).
            raise PluginError(
                f"plugin {info.name!r} must be a module or a hashable object"
            ) from None
        if not sdk_compatible(info.sdk_version):
            raise PluginError(
                f"plugin {info.name} was written for Premia SDK {info.sdk_version}, "
                f"this Premia offers SDK {SDK_VERSION}"
            )
        for limit in info.limits:
            if not limit.name.startswith(f"{info.name}."):
                raise PluginError(
                    f"plugin {info.name}: limit {limit.name!r} must start with {info.name}."
                )
        module_file = getattr(plugin, "__file__", None)
        if module_file:
            info = _with_path(info, Path(module_file).parent)
        self.infos[info.name] = info
        self.pm.register(plugin, name=info.name)
        self.entry_kinds.update(info.entry_kinds)
        return info

    def check(self) -> None:
        """Refuse at start-up a plugin whose hooks or owned names are wrong."""
        self.pm.check_pending()
        for name, info in self.infos.items():
            module = self.pm.get_plugin(name)
            package = getattr(module, "__name__", "")
            for mapper in Base.registry.mappers:
                cls = mapper.class_
                if package and (cls.__module__ + ".").startswith(package + "."):
                    table = mapper.local_table.name
                    if not table.startswith(f"{name}_"):
                        raise PluginError(f"plugin {name}: table {table!r} must start with {name}_")
            if info.templates_path:
                folders = {p.name for p in info.templates_path.iterdir()}
                if folders - {name}:
                    raise PluginError(f"plugin {name}: templates must sit under templates/{name}/")
        self._gather_topics()

    def _gather_topics(self) -> None:
        """Declare the plugins' notification topics; refuse a channel that delivers an
        undeclared one; log the topics nobody delivers (they would go unheard)."""
        self.topics = Topics()
        for impl in self.pm.hook.notification_topics.get_hookimpls():
            for topic in impl.function() or []:
                try:
                    self.topics.declare(topic)
                except TopicError as error:
                    raise PluginError(f"plugin {impl.plugin_name}: {error}") from None
        delivered: set[str] = set()
        for impl in self.pm.hook.delivered_topics.get_hookimpls():
            names = set(impl.function() or [])
            if names - set(self.topics.declared):
                raise PluginError(
                    f"plugin {impl.plugin_name}: delivers undeclared topics "
                    f"{sorted(names - set(self.topics.declared))}"
                )
            delivered |= names
        for name in sorted(set(self.topics.declared) - delivered):
            log.warning("notify topic %r is delivered by no installed plugin", name)

    def blueprints(self) -> list[tuple[str, Any]]:
        found = []
        for impl in self.pm.hook.blueprints.get_hookimpls():
            for blueprint in impl.function() or []:
                owner = impl.plugin_name
                if blueprint.name != owner and not blueprint.name.startswith(f"{owner}_"):
                    raise PluginError(
                        f"plugin {owner}: blueprint {blueprint.name!r} must be named {owner}[_…]"
                    )
                self.blueprint_owner[blueprint.name] = owner
                found.append((owner, blueprint))
        return found

    def periodic_jobs(self) -> list[Any]:
        jobs = []
        for impl in self.pm.hook.periodic_jobs.get_hookimpls():
            for job in impl.function() or []:
                if not job.name.startswith(f"{impl.plugin_name}."):
                    raise PluginError(
                        f"plugin {impl.plugin_name}: job {job.name!r} must start with "
                        f"{impl.plugin_name}."
                    )
                jobs.append(job)
        return jobs

    # --- activation ----------------------------------------------------

    def allowed(self, tenant: Tenant) -> set[str]:
        return tenant.plan.plugin_names & set(self.infos)

    def limits(self) -> dict[str, PlanLimit]:
        """The core's and every installed plugin's plan limits, by name."""
        found = {limit.name: limit for limit in self.core_limits}
        found.update((limit.name, limit) for info in self.infos.values() for limit in info.limits)
        return found

    def limit(self, tenant: Tenant, name: str) -> int | None:
        """The cap `tenant`'s plan puts on `name` (None: unlimited): the plan's stored
        value, else the plugin's seed for that plan."""
        declared = self.limits().get(name)
        if declared is None:
            raise KeyError(f"no installed plugin declares the plan limit {name!r}")
        stored = tenant.plan.limits or {}
        if name in stored:
            return stored[name]
        return declared.seeds.get(tenant.plan.code)

    def active(self, session: Session, tenant: Tenant) -> set[str]:
        switched_off = set(
            session.scalars(
                select(TenantPlugin.plugin).where(
                    TenantPlugin.tenant_id == tenant.id, TenantPlugin.enabled.is_(False)
                )
            )
        )
        return self.allowed(tenant) - switched_off

    def switch(self, session: Session, tenant: Tenant, name: str, enabled: bool) -> None:
        """A merchant turns a plugin on or off, within what the plan allows."""
        if enabled and name not in self.allowed(tenant):
            raise InvalidInput(plugin=f"{name} is not in this plan")
        row = session.scalar(
            select(TenantPlugin).where(
                TenantPlugin.tenant_id == tenant.id, TenantPlugin.plugin == name
            )
        )
        if row is None:
            session.add(TenantPlugin(tenant_id=tenant.id, plugin=name, enabled=enabled))
        else:
            row.enabled = enabled
        session.flush()
        session.info.pop("premia_audience", None)

    # --- settings ------------------------------------------------------

    def settings(self, session: Session, name: str) -> dict[str, Any]:
        """A plugin's settings for the session's tenant, defaults filled in."""
        schema = self.infos[name].settings_schema
        return load_settings(session, name, schema) if schema else {}

    def save_settings(self, session: Session, name: str, changes: dict[str, Any]) -> dict:
        """Validate and store changes to a plugin's settings (InvalidInput if refused)."""
        schema = self.infos[name].settings_schema
        if schema is None:
            raise InvalidInput(plugin=f"{name} has no settings")
        return save_settings(session, name, schema(), changes)

    # --- calling hooks -------------------------------------------------

    def caller(self, active: set[str], hook: str) -> pluggy.HookCaller:
        """pluggy's caller of `hook` restricted to the plugins in `active`."""
        outside = [plugin for name, plugin in self.pm.list_name_plugin() if name not in active]
        return self.pm.subset_hook_caller(hook, remove_plugins=outside)

    def call(self, active: set[str], hook: str, **kwargs: Any) -> list[Any]:
        """Call `hook` on the plugins in `active`, each on its own: one that fails is
        logged and left out (see events.call_robustly)."""
        return call_robustly(self.pm, self.caller(active, hook), kwargs)

    def ask(self, session: Session, hook: str, **kwargs: Any) -> list[Any]:
        """Call an in-transaction hook (calculate_points, purchase_recorded…) on the
        plugins active for the session's tenant. Errors propagate: they are part of
        the transaction. The tenant is passed as `tenant`; results are flattened
        when the hook returns lists, in the order the plugins were installed."""
        tenant, active = self.audience(session, session_tenant_id(session))
        caller = self.caller(active, hook)
        answer = caller(tenant=tenant, session=session, **kwargs)
        if caller.spec and caller.spec.opts.get("firstresult"):
            return [] if answer is None else [answer]
        results: list[Any] = []
        for result in reversed(answer):  # pluggy calls the last installed first
            if isinstance(result, list):
                results.extend(result)
            else:
                results.append(result)
        return results

    def known_audience(
        self, session: Session, tenant: Tenant, plan_plugins: set[str], switched_off: set[str]
    ) -> set[str]:
        """The plugins active for `tenant`, from its plan's plugins and its switched-off
        ones as the caller read them in the session's current transaction (the API reads
        them with the token, in the same statement); `audience` then answers from them."""
        active = (plan_plugins & set(self.infos)) - switched_off | ALWAYS_ACTIVE
        current_transaction(session)
        session.info["premia_audience"] = (session.get_transaction(), tenant, active)
        return active

    def audience(self, session: Session, tenant_id: int) -> tuple[Tenant | None, set[str]]:
        """The tenant and the plugins that hear its announcements, read in the
        announcing transaction (no second session after the commit), once per
        outermost transaction. (None, no plugin) for a tenant that is gone (an
        outbox row outlives its merchant: it keeps no key to it)."""
        current_transaction(session)  # begins one if none has begun
        transaction = session.get_transaction()
        cached = session.info.get("premia_audience")
        if cached is not None and cached[0] is transaction and cached[1].id == tenant_id:
            return cached[1], cached[2]
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return None, set()
        active = self.active(session, tenant) | ALWAYS_ACTIVE
        session.info["premia_audience"] = (transaction, tenant, active)
        return tenant, active


def sdk_compatible(version: str, host: str = SDK_VERSION) -> bool:
    """Whether a plugin written for SDK `version` runs on SDK `host`: same major, and a
    minor no later than the host's (a later minor may use names this host lacks)."""
    try:
        major, minor = (int(part) for part in version.split("."))
    except (AttributeError, ValueError):
        return False
    host_major, host_minor = (int(part) for part in host.split("."))
    return major == host_major and minor <= host_minor


def _with_path(info: PluginInfo, path: Path) -> PluginInfo:
    return replace(info, package_path=path)
