"""`premia token …`: API tokens from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from core.sdk import PremiaError, Tenant, current_platform, platform_session, tenant_session
from plugins.api import tokens


def _tenant_id(slug: str) -> int:
    with platform_session(current_platform().sessions) as session:
        found = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if found is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return found


@click.group()
def token() -> None:
    """API tokens of a merchant (the POS API plugin)."""


@token.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="what the token is for, e.g. 'Caja 1'")
@click.option(
    "--scopes",
    default=None,
    help="'all' or a comma-separated list; default: " + ",".join(tokens.DEFAULT_SCOPES),
)
@with_appcontext
def token_create(slug: str, name: str, scopes: str | None) -> None:
    """Create a token; the secret is printed once, alone on the last line."""
    with tenant_session(current_platform().sessions, _tenant_id(slug)) as session:
        try:
            created, secret = tokens.create_token(
                session, name=name, scopes=tokens.parse_scopes(scopes), created_by="cli"
            )
        except PremiaError as error:
            raise click.ClickException(
                f"{error.message} ({'; '.join(f'{k}: {v}' for k, v in error.fields.items())})"
            ) from None
        session.commit()
        click.echo(f"token {created.id} ({created.name}), scopes: {created.scopes}", err=True)
        click.echo(secret)


@token.command("list")
@click.argument("slug")
@with_appcontext
def token_list(slug: str) -> None:
    """The merchant's tokens: id, name, prefix, scopes, last used, revoked."""
    with tenant_session(current_platform().sessions, _tenant_id(slug)) as session:
        for row in tokens.list_tokens(session):
            used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "-"
            revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else ""
            click.echo(f"{row.id}\t{row.name}\t{row.prefix}…\t{row.scopes}\t{used}\t{revoked}")


@token.command("revoke")
@click.argument("slug")
@click.argument("token_id", type=int)
@with_appcontext
def token_revoke(slug: str, token_id: int) -> None:
    """Revoke a token: its next request is refused."""
    with tenant_session(current_platform().sessions, _tenant_id(slug)) as session:
        try:
            tokens.revoke_token(session, token_id)
        except PremiaError as error:
            raise click.ClickException(str(error.message)) from None
        session.commit()
        click.echo(f"revoked token {token_id}")
