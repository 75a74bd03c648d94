"""`premia import customers SLUG FILE [--update] [--invite]` and `premia import points
SLUG FILE`: the panel's import from the command line, run here and now, the report printed."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy import select

from core.sdk import PremiaError, Tenant, current_platform, platform_session, tenant_session
from plugins.csv_import import importing, jobs
from plugins.csv_import.models import CUSTOMERS, POINTS, REFUSED, Import, ImportRow


def _tenant_id(slug: str) -> int:
    with platform_session(current_platform().sessions) as session:
        found = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if found is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return found


def _run(slug: str, kind: str, file: Path, update: bool = False, invite: bool = False) -> None:
    platform = current_platform()
    tenant_id = _tenant_id(slug)
    if "csv_import" not in _active(tenant_id):
        raise click.ClickException(f"the csv_import plugin is not active for {slug!r}")
    folder = importing.upload_folder(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}.csv"
    shutil.copyfile(file, path)
    with tenant_session(platform.sessions, tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        with force_locale(tenant.language):
            try:
                imported = importing.accept(
                    session, tenant, kind=kind, path=path, filename=Path(file).name
                )
                importing.start(session, imported, update_existing=update, invite=invite)
            except PremiaError as error:
                path.unlink(missing_ok=True)
                fields = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
                raise click.ClickException(f"{error.message} ({fields})") from None
            import_id = imported.id
            session.commit()
            # Here and now, resumable all the same; invitations still leave from the mail queue.
            importing.run(session, tenant, imported, after=jobs.after_run)
    _report(tenant_id, import_id)


def _active(tenant_id: int) -> set[str]:
    platform = current_platform()
    with tenant_session(platform.sessions, tenant_id) as session:
        return set(platform.plugins.active(session, session.get(Tenant, tenant_id)))


def _report(tenant_id: int, import_id: int) -> None:
    with tenant_session(current_platform().sessions, tenant_id) as session:
        imported = session.get(Import, import_id)
        tenant = session.get(Tenant, tenant_id)
        with force_locale(tenant.language):
            click.echo(
                f"import {imported.id} ({imported.kind}): {imported.status}, "
                f"{imported.done}/{imported.total} rows; created {imported.created}, "
                f"updated {imported.updated}, granted {imported.granted}, "
                f"refused {imported.refused}, not repeated {imported.skipped}"
            )
            refused = session.scalars(
                select(ImportRow)
                .where(ImportRow.import_id == import_id, ImportRow.status == REFUSED)
                .order_by(ImportRow.row)
            )
            for row in refused:
                click.echo(f"row {row.row}: {row.column or ''}: {row.message or ''}")


@click.group("import")
def import_group() -> None:
    """Import a merchant's customers or points from a CSV file (the csv_import plugin)."""


@import_group.command("customers")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True, help="update customers who exist already")
@click.option("--invite", is_flag=True, help="e-mail each new customer an invitation")
@with_appcontext
def import_customers(slug: str, file: Path, update: bool, invite: bool) -> None:
    """Customers (names, e-mail, document, phone, birthday, opening points)."""
    _run(slug, CUSTOMERS, file, update=update, invite=invite)


@import_group.command("points")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_points(slug: str, file: Path) -> None:
    """Points (or purchase amounts) for customers named by code, e-mail or document."""
    _run(slug, POINTS, file)
