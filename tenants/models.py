"""Tenant, Plan and the per-tenant plugin switches and settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.host.db import Base, TenantOwned, utcnow
from core.host.versions import Versioned


class Plan(Versioned, Base):
    """A commercial plan: data naming the plugins it allows."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Operators' values of the plugins' plan limits (see core.host.plugins.PlanLimit):
    # limit name → a number, or None for unlimited. A name absent takes the plugin's seed.
    limits: Mapped[dict[str, int | None]] = mapped_column(JSON, default=dict, server_default="{}")
    plugins: Mapped[list[PlanPlugin]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def plugin_names(self) -> set[str]:
        return {p.plugin for p in self.plugins}

    def version_scope(self) -> None:
        return None  # every merchant on the plan


class PlanPlugin(Versioned, Base):
    """A plugin a plan allows."""

    __tablename__ = "plan_plugins"
    __table_args__ = (UniqueConstraint("plan_id", "plugin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(60))
    plan: Mapped[Plan] = relationship(back_populates="plugins")

    def version_scope(self) -> None:
        return None  # every merchant on the plan


class Tenant(Versioned, Base):
    """A merchant (comercio)."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    logo: Mapped[str | None] = mapped_column(String(500))
    business_type: Mapped[str | None] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    whatsapp: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(10), default="es")
    domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    theme: Mapped[str] = mapped_column(String(60), default="default")
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by an operator: the merchant's panel, app and API refuse every request (403)
    # until reactivated; nothing of its data is touched (tenants.resolver.check_open).
    suspended_at: Mapped[datetime | None]

    plan: Mapped[Plan] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"

    def version_scope(self) -> int:
        return self.id


class TenantPlugin(Versioned, TenantOwned, Base):
    """A merchant's switch for one plugin; without a row, an allowed plugin is on."""

    __tablename__ = "tenant_plugins"
    __table_args__ = (UniqueConstraint("tenant_id", "plugin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plugin: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(default=True)


class TenantSetting(Versioned, TenantOwned, Base):
    """One namespace of a tenant's settings ("program" for the core, else a plugin's name)."""

    __tablename__ = "tenant_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "namespace"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class TenantDomain(TenantOwned, Base):
    """A merchant's own domain as it entered it, the token its DNS must show, and what
    the checks found. The domain is served (`Tenant.domain`) only once a check found both
    records; `tenants.domains` holds the rules."""

    __tablename__ = "tenant_domains"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253))
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last check that found both records.
    verified_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    # What the last check found wrong (tenants.domains.PROBLEMS), None when it passed.
    problem: Mapped[str | None] = mapped_column(String(40))
    # A served domain's first failed check since it last passed: the grace counts from here.
    failing_since: Mapped[datetime | None]
    # When the failure was reported to the merchant and the operators (once per failure).
    reported_at: Mapped[datetime | None]
    # When the grace ran out and the domain stopped being served.
    stopped_at: Mapped[datetime | None]
