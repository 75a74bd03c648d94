"""The `premia` command: database, tenants, plugins, serving, the worker, the demo."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select
from werkzeug.serving import run_simple

from core import scaffold
from core.host import migrate, outbox
from core.host.db import platform_session
from core.host.errors import PremiaError
from core.host.platform import current_platform
from tenants import services as tenant_services
from tenants.models import Plan, Tenant
from worker.jobs import QUEUES


def _create_app() -> object:
    from core.app import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Premia: loyalty programs for merchants."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _fail(error: PremiaError) -> None:
    fields = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
    raise click.ClickException(f"{error.message}{' (' + fields + ')' if fields else ''}")


# --- db ------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("target", default="heads")
@with_appcontext
def db_upgrade(target: str) -> None:
    """Bring the database to the latest schema (every branch's head)."""
    migrate.upgrade(current_app, target)
    click.echo(f"database at {', '.join(sorted(migrate.current_heads(current_app)))}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--branch", help="new branch label (a plugin's first migration)")
@click.option("--head", default="core@head")
@click.option("--version-path", help="folder for the file (a plugin's migrations/)")
@with_appcontext
def db_revision(message: str, branch: str | None, head: str, version_path: str | None) -> None:
    """Autogenerate a migration from the models (for developers)."""
    migrate.revision(current_app, message, branch=branch, head=head, version_path=version_path)


# --- tenants -------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Merchants."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--plan", "plan_code", default="free", show_default=True)
@click.option("--currency", default="COP", show_default=True)
@click.option("--country", default="CO", show_default=True)
@click.option("--timezone", "tz", default="America/Bogota", show_default=True)
@click.option("--language", default="es", show_default=True)
@click.option("--domain", default=None, help="the brand's own domain (white label)")
@click.option("--owner-email", required=True)
@click.option("--owner-password", required=True)
@click.option("--owner-name", default="")
@with_appcontext
def tenant_create(
    slug: str,
    name: str,
    plan_code: str,
    currency: str,
    country: str,
    tz: str,
    language: str,
    domain: str | None,
    owner_email: str,
    owner_password: str,
    owner_name: str,
) -> None:
    """Create a merchant with its owner."""
    with platform_session(current_platform().sessions) as session:
        try:
            created = tenant_services.create_tenant(
                session,
                slug=slug,
                name=name,
                plan=plan_code,
                currency=currency,
                country=country,
                timezone=tz,
                language=language,
                domain=domain,
                owner_email=owner_email,
                owner_password=owner_password,
                owner_name=owner_name or name,
            )
        except PremiaError as error:
            _fail(error)
        session.commit()
        click.echo(f"created tenant {created.slug} (id {created.id}, plan {plan_code})")


@tenant.command("list")
@with_appcontext
def tenant_list() -> None:
    """List the merchants."""
    with platform_session(current_platform().sessions) as session:
        for row in session.scalars(select(Tenant).order_by(Tenant.slug)):
            click.echo(
                f"{row.slug}\t{row.name}\t{row.plan.code}\t{row.currency}\t{row.timezone}"
                f"\t{row.domain or ''}"
            )


@main.group()
def settings() -> None:
    """A merchant's program settings ("program") and each plugin's settings (its name)."""


def _settings_schema(namespace: str) -> Any:
    from core.loyalty.program import NAMESPACE, ProgramSchema

    if namespace == NAMESPACE:
        return ProgramSchema()
    info = current_platform().plugins.infos.get(namespace)
    if info is None or info.settings_schema is None:
        raise click.ClickException(f"no settings named {namespace!r}")
    return info.settings_schema()


def _tenant_session(slug: str) -> Any:
    from core.host.db import tenant_session

    with platform_session(current_platform().sessions) as session:
        found = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if found is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant_session(current_platform().sessions, found.id)


@settings.command("show")
@click.argument("slug")
@click.argument("namespace")
@with_appcontext
def settings_show(slug: str, namespace: str) -> None:
    """Print a namespace's settings as JSON, defaults included."""
    from core.host.settings import load_settings

    schema = _settings_schema(namespace)
    with _tenant_session(slug) as session:
        loaded = load_settings(session, namespace, schema)
    click.echo(json.dumps(schema.dump(loaded), indent=2, ensure_ascii=False, sort_keys=True))


@settings.command("set")
@click.argument("slug")
@click.argument("namespace")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=JSON...")
@with_appcontext
def settings_set(slug: str, namespace: str, assignments: tuple[str, ...]) -> None:
    """Change settings; each value is JSON (a bare word is taken as a string).

    premia settings set cafe program welcome_points=50 \
        'points_per_amount={"amount": "1000", "points": 1}'
    """
    from core.host.settings import save_settings

    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise click.ClickException(f"expected KEY=VALUE, got {assignment!r}")
        try:
            changes[key] = json.loads(raw)
        except json.JSONDecodeError:
            changes[key] = raw
    schema = _settings_schema(namespace)
    with _tenant_session(slug) as session:
        try:
            saved = save_settings(session, namespace, schema, changes)
        except PremiaError as error:
            _fail(error)
        session.commit()
    click.echo(json.dumps(schema.dump(saved), indent=2, ensure_ascii=False, sort_keys=True))


@main.group()
def operator() -> None:
    """Platform operators."""


@operator.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def operator_create(email: str, password: str) -> None:
    """Create a platform operator (manages merchants and plans at /operator/, sees no
    merchant's panel); they set up their authenticator app at their first sign-in."""
    from core.operator.accounts import create_operator

    with platform_session(current_platform().sessions) as session:
        try:
            created = create_operator(session, email, password)
        except PremiaError as error:
            _fail(error)
        session.commit()
        click.echo(f"created operator {created.email}")


@main.group()
def plan() -> None:
    """Plans and the plugins each allows."""


@plan.command("list")
@with_appcontext
def plan_list() -> None:
    """List the plans with their plugins."""
    with platform_session(current_platform().sessions) as session:
        for row in session.scalars(select(Plan).order_by(Plan.code)):
            click.echo(f"{row.code}\t{row.name}\t{','.join(sorted(row.plugin_names))}")


@plan.command("allow")
@click.argument("plan_code")
@click.argument("plugins", nargs=-1, required=True)
@with_appcontext
def plan_allow(plan_code: str, plugins: tuple[str, ...]) -> None:
    """Let PLAN's merchants use PLUGINS (each merchant may still switch them off)."""
    _change_plan(plan_code, add=set(plugins))


@plan.command("disallow")
@click.argument("plan_code")
@click.argument("plugins", nargs=-1, required=True)
@with_appcontext
def plan_disallow(plan_code: str, plugins: tuple[str, ...]) -> None:
    """Take PLUGINS out of PLAN."""
    _change_plan(plan_code, remove=set(plugins))


@plan.command("limit")
@click.argument("plan_code")
@click.argument("name")
@click.argument("value")
@with_appcontext
def plan_limit(plan_code: str, name: str, value: str) -> None:
    """Set PLAN's limit NAME (a plugin's, e.g. coupons.codes_per_month) to VALUE, a whole
    number or `unlimited`."""
    from core.operator.plans import parse_limit

    limits = current_platform().plugins.limits()
    if name not in limits:
        known = ", ".join(sorted(limits)) or "none"
        raise click.ClickException(f"no installed plugin declares the limit {name!r} ({known})")
    with platform_session(current_platform().sessions) as session:
        try:
            row = tenant_services.get_plan(session, plan_code)
            number = parse_limit("" if value.lower() == "unlimited" else value)
            if value.strip() == "":
                raise click.ClickException("give a whole number or unlimited")
            tenant_services.set_plan_limit(session, row, name, number)
        except PremiaError as error:
            _fail(error)
        session.commit()
    click.echo(f"{plan_code}: {name} = {'unlimited' if number is None else number}")


@plan.command("sync")
@with_appcontext
def plan_sync() -> None:
    """Add each installed plugin to the plans its metadata names (after installing one)."""
    for name, info in sorted(current_platform().plugins.infos.items()):
        for code in info.plans:
            _change_plan(code, add={name}, missing_ok=True)


def _change_plan(
    code: str,
    *,
    add: set[str] = frozenset(),
    remove: set[str] = frozenset(),
    missing_ok: bool = False,
) -> None:
    installed = set(current_platform().plugins.infos)
    unknown = add - installed
    if unknown:
        raise click.ClickException(f"not installed: {', '.join(sorted(unknown))}")
    with platform_session(current_platform().sessions) as session:
        try:
            row = tenant_services.get_plan(session, code)
        except PremiaError as error:
            if missing_ok:
                return
            _fail(error)
        plugins = (row.plugin_names | add) - remove
        tenant_services.set_plan_plugins(session, row, plugins)
        session.commit()
        click.echo(f"{row.code}: {','.join(sorted(plugins))}")


# --- plugins -------------------------------------------------------------


@main.group()
def plugin() -> None:
    """Installed plugins and plans."""


@plugin.command("list")
@with_appcontext
def plugin_list() -> None:
    """List installed plugins and the plans that allow each."""
    platform = current_platform()
    with platform_session(platform.sessions) as session:
        plans = list(session.scalars(select(Plan).order_by(Plan.code)))
    for name, info in sorted(platform.plugins.infos.items()):
        allowed = ",".join(p.code for p in plans if name in p.plugin_names) or "-"
        click.echo(f"{name}\t{info.title}\tplans: {allowed}")


@plugin.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="where to write premia-NAME/",
)
def plugin_new(name: str, directory: Path) -> None:
    """Write a working plugin package, premia-NAME, to start a plugin from."""
    try:
        target = scaffold.new_plugin(name, directory)
    except scaffold.ScaffoldError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{target}: pip install -e {target}, then premia db upgrade")


# --- serving -------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Development server (with the in-process scheduler on the embedded default)."""
    _serve(host, port)


def _serve(host: str, port: int) -> None:
    app = current_app._get_current_object()
    if not app.config["PREMIA_PUBLIC_URL"]:  # mailed links lead to this very server
        served = (
            host if host not in ("0.0.0.0", "::", "") else (app.config["PREMIA_PLATFORM_HOSTS"][0])
        )
        served = f"[{served}]" if ":" in served else served  # an IPv6 address
        app.config["PREMIA_PUBLIC_URL"] = f"http://{served}:{port}"
    jobs = current_platform().jobs
    if hasattr(jobs, "run_due"):  # embedded: no worker, so periodic jobs run here
        jobs.start_scheduler(app)
    # Not app.run(): under a Flask CLI group it returns without serving.
    run_simple(host, port, app, use_reloader=False, threaded=True)


@main.command()
@click.option("--burst", is_flag=True, help="work until the queues are empty, then stop")
@click.option(
    "--queue",
    "queue_names",
    multiple=True,
    type=click.Choice(QUEUES),
    help="only this queue (repeat for several, in order of priority); default: every queue",
)
@click.option(
    "--fork/--no-fork",
    default=None,
    help="a process of its own for each job; default: only a worker that takes the bulk queue",
)
@with_appcontext
def worker(burst: bool, queue_names: tuple[str, ...], fork: bool | None) -> None:
    """Run an rq worker with the scheduler, on every queue or on those named.

    A worker takes from its queues in order (mail, default, …, bulk): under a steady
    flow of sales' jobs a bulk import waits, so production runs a worker of its own
    on `--queue bulk` and the others on `--queue mail --queue default --queue webhooks`.
    Those others run each job in their own process (rq's SimpleWorker): a forked
    process per job starts cold (no compiled SQL or templates, a new database
    connection) and a mail job took 5 times the CPU (bench/soak.py, docs/benchmarks.md).
    A bulk job keeps its own process: a killed worker's job is retried once its
    heartbeat lapses, which for a job in the worker's process is only after the job's
    whole timeout (an hour for bulk jobs)."""
    from rq import SimpleWorker, Worker
    from sqlalchemy.orm import configure_mappers

    from worker.jobs import set_worker_app

    platform = current_platform()
    if platform.redis is None:
        raise click.ClickException("PREMIA_REDIS_URL is not set: jobs run in-process already")
    set_worker_app(current_app._get_current_object())
    # rq forks a process per job: the ORM's mappers are configured here, once, or every
    # job configures them all again (1.7 s of a push batch's 3.6 s, in a profile).
    configure_mappers()
    app = current_app._get_current_object()
    # The relay thread below uses the database in this process: a work horse forked
    # from it must not share its pooled connections (one socket, two processes: the
    # soak's import failed with "SAVEPOINT can only be used in transaction blocks").
    engines = [platform.engine] + ([platform.replica.engine] if platform.replica else [])
    os.register_at_fork(after_in_child=lambda: [engine.dispose(close=False) for engine in engines])
    if not burst:
        platform.jobs.start_scheduler()
        platform.jobs.start_relay(app)
    else:  # the outbox's rows first: their jobs are part of the work to do
        while outbox.relay(app):
            pass
    from worker.runners import MAINTENANCE_INTERVAL

    queues = platform.jobs.queues()
    if queue_names:
        queues = [platform.jobs.queue(name) for name in queue_names]
    if fork is None:
        fork = any(queue.name == "bulk" for queue in queues)
    (Worker if fork else SimpleWorker)(
        queues,
        connection=platform.redis,
        maintenance_interval=MAINTENANCE_INTERVAL,
    ).work(with_scheduler=True, burst=burst)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="only create the demo data")
@with_appcontext
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create (if absent) a demo merchant with history, then serve it."""
    from core import demo as demo_data

    migrate.upgrade(current_app)
    logins = demo_data.ensure_demo(current_app)
    click.echo(f"\nPremia demo: http://{host}:{port}/t/{demo_data.SLUG}/login")
    for role, email, password in logins:
        click.echo(f"  {role:<9} {email}  /  {password}")
    click.echo(f"Customer app: http://{host}:{port}/t/{demo_data.SLUG}/app/")
    click.echo(f"  {demo_data.CUSTOMER[0]:<9} {demo_data.CUSTOMER[1]}  /  {demo_data.CUSTOMER[2]}")
    _role, email, password = demo_data.ensure_operator(current_app)
    click.echo(f"Operator console: http://{host}:{port}/operator/")
    click.echo(f"  operator  {email}  /  {password}  (then an authenticator app's code)")
    sys.stdout.flush()
    if not no_serve:
        _serve(host, port)
