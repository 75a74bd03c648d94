"""Schema migrations with Alembic: the core lineage plus one branch per plugin.

Version folders are gathered from the installed plugins (`<plugin>/migrations`),
so `premia db upgrade` brings any database to the heads of every branch.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from core.host.plugins import PluginHost

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(plugins: PluginHost) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    locations = [str(MIGRATIONS / "versions")] + [
        str(info.migrations_path) for info in plugins.infos.values() if info.migrations_path
    ]
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    return config


def upgrade(app: Flask, target: str = "heads") -> None:
    platform = app.extensions["premia"]
    config = alembic_config(platform.plugins)
    with platform.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def current_heads(app: Flask) -> set[str]:
    platform = app.extensions["premia"]
    with platform.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def script_heads(app: Flask) -> set[str]:
    config = alembic_config(app.extensions["premia"].plugins)
    return set(ScriptDirectory.from_config(config).get_heads())


def revision(
    app: Flask,
    message: str,
    *,
    branch: str | None = None,
    head: str = "core@head",
    autogenerate: bool = True,
    version_path: str | None = None,
) -> None:
    """Write a new migration (for developers: `premia db revision`)."""
    platform = app.extensions["premia"]
    config = alembic_config(platform.plugins)
    with platform.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(
            config,
            message=message,
            autogenerate=autogenerate,
            head=head,
            branch_label=branch,
            version_path=version_path,
        )
