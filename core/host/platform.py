"""The running platform's parts, one set per Flask app: database, plugins, jobs."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from redis import Redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.host.plugins import PluginHost
from core.host.replica import Replica
from tenants.models import Tenant
from worker.runners import InProcessRunner, RqRunner


@dataclass
class Platform:
    engine: Engine
    sessions: sessionmaker[Session]
    plugins: PluginHost
    jobs: InProcessRunner | RqRunner
    redis: Redis | None = None
    replica: Replica | None = None  # PREMIA_DATABASE_REPLICA_URL's, for reads only


def current_platform() -> Platform:
    """The running app's platform: engine, session factory, plugin host, jobs, Redis."""
    return current_app.extensions["premia"]


def plan_limit(tenant: Tenant, name: str) -> int | None:
    """The cap `tenant`'s plan puts on the plan limit `name` (a plugin's `PlanLimit`);
    None when unlimited. The plugin counts its own use against it."""
    return current_platform().plugins.limit(tenant, name)
