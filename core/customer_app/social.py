"""Signing in with Google (OpenID Connect) or Facebook (OAuth2 and the Graph's `/me`),
through Authlib's Flask client, on the shared app and on each merchant's pages.

A provider is offered only when its client id and secret are configured. Authlib
keeps the state, the nonce and the PKCE verifier in Flask's session between the
redirect and the callback, and checks them there. The callback is the face's own
address (`core.web.links.external_url`: the configured public address, or a brand's
domain), never the request's Host: each brand's domain is a redirect URI of its own
to register at the provider. The rules over the result are in `identities`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template
from flask import session as cookie
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc.errors import JoseError
from requests import RequestException

from core.customer_app import accounts, arrivals, identities, menu, sessions
from core.customer_app.account_pages import safe_next
from core.customer_app.faces import app_url
from core.customer_app.identities import Profile, SocialRefused
from core.customer_app.sessions import current_customer, customer_required
from core.host.actors import Actor
from core.host.contributions import MenuItem
from core.host.errors import NotFound
from core.loyalty import joining
from core.web.links import external_url
from core.web.request import db

log = logging.getLogger(__name__)

bp = Blueprint("app_social", __name__, url_prefix="/app")
menu.register(MenuItem("t.app_social.methods", _l("Sign-in methods"), order=90))

PENDING = "premia_social"  # what the callback is to do, kept in Flask's session
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
FACEBOOK_DIALOG_URL = "https://www.facebook.com/v21.0/dialog/oauth"
FACEBOOK_GRAPH_URL = "https://graph.facebook.com/v21.0"
TIMEOUT = 10  # seconds for each call to a provider: a hung one must not hold a worker


@dataclass(frozen=True)
class Provider(ABC):
    name: str
    label: str  # a brand name, the same in every language

    @abstractmethod
    def profile(self, client: Any, token: dict[str, Any]) -> Profile:
        """Who the provider says signed in, from its answer to the authorization."""


class Google(Provider):
    def profile(self, client: Any, token: dict[str, Any]) -> Profile:
        # The ID token, checked by Authlib (signature, issuer, audience, nonce).
        claims = token.get("userinfo") or {}
        if not claims.get("sub"):
            raise OAuthError(description="no subject in the ID token")
        return Profile(
            provider=self.name,
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=claims.get("email_verified") is True,
            first_name=claims.get("given_name") or "",
            last_name=claims.get("family_name") or "",
        )


class Facebook(Provider):
    def profile(self, client: Any, token: dict[str, Any]) -> Profile:
        answer = client.get("me", params={"fields": "id,name,email"}, token=token)
        answer.raise_for_status()
        data = answer.json()
        if not data.get("id"):
            raise OAuthError(description="no id in the Graph's /me")
        first, _space, last = (data.get("name") or "").partition(" ")
        # The Graph says nothing of whether the e-mail was verified: it is taken as
        # unverified, so it never opens an existing account by itself.
        return Profile(
            provider=self.name,
            subject=str(data["id"]),
            email=data.get("email"),
            email_verified=False,
            first_name=first,
            last_name=last,
        )


PROVIDERS: dict[str, Provider] = {
    "google": Google("google", "Google"),
    "facebook": Facebook("facebook", "Facebook"),
}


def init_app(app: Flask) -> None:
    """Register the configured providers with Authlib (the others are not offered)."""
    oauth = OAuth(app)
    config = app.config
    if config.get("PREMIA_GOOGLE_CLIENT_ID") and config.get("PREMIA_GOOGLE_CLIENT_SECRET"):
        oauth.register(
            "google",
            client_id=config["PREMIA_GOOGLE_CLIENT_ID"],
            client_secret=config["PREMIA_GOOGLE_CLIENT_SECRET"],
            server_metadata_url=config.get("PREMIA_GOOGLE_DISCOVERY_URL") or GOOGLE_DISCOVERY_URL,
            client_kwargs={
                "scope": "openid email profile",
                "code_challenge_method": "S256",
                "default_timeout": TIMEOUT,
            },
        )
    if config.get("PREMIA_FACEBOOK_CLIENT_ID") and config.get("PREMIA_FACEBOOK_CLIENT_SECRET"):
        graph = (config.get("PREMIA_FACEBOOK_GRAPH_URL") or FACEBOOK_GRAPH_URL).rstrip("/")
        oauth.register(
            "facebook",
            client_id=config["PREMIA_FACEBOOK_CLIENT_ID"],
            client_secret=config["PREMIA_FACEBOOK_CLIENT_SECRET"],
            authorize_url=config.get("PREMIA_FACEBOOK_DIALOG_URL") or FACEBOOK_DIALOG_URL,
            access_token_url=f"{graph}/oauth/access_token",
            api_base_url=f"{graph}/",
            client_kwargs={
                "scope": "email",
                "token_endpoint_auth_method": "client_secret_post",
                "default_timeout": TIMEOUT,
            },
        )
    app.jinja_env.globals["social_providers"] = offered


def _oauth() -> OAuth:
    return current_app.extensions["authlib.integrations.flask_client"]


def _client(name: str) -> Any:
    """Authlib's client for the provider, None when it is not configured."""
    return _oauth().create_client(name) if name in PROVIDERS else None


def configured() -> list[Provider]:
    return [provider for name, provider in PROVIDERS.items() if _client(name) is not None]


def offered() -> list[dict[str, str]]:
    """The sign-in buttons of the page being served: each configured provider, and
    where it starts (coming back to the page the person was going to)."""
    target = safe_next("")
    return [
        {
            "name": provider.name,
            "label": provider.label,
            "url": app_url("app_social.sign_in", provider=provider.name, next=target or None),
        }
        for provider in configured()
    ]


def _provider(name: str) -> tuple[Provider, Any]:
    client = _client(name)
    if client is None:
        abort(404)
    return PROVIDERS[name], client


def _start(name: str, pending: dict[str, Any]) -> Any:
    provider, client = _provider(name)
    cookie[PENDING] = {"provider": provider.name, **pending}
    tenant = g.get("tenant")
    endpoint = "t.app_social.callback" if tenant is not None else "app_social.callback"
    try:
        # Google's first start fetches its discovery document (kept for later ones).
        return client.authorize_redirect(external_url(endpoint, tenant, provider=provider.name))
    except (AuthlibBaseError, RequestException, ValueError) as error:
        log.warning("%s sign-in could not start: %r", name, error)
        cookie.pop(PENDING, None)
        flash(
            _(
                "%(provider)s cannot be reached now: please try again later.",
                provider=provider.label,
            ),
            "error",
        )
        back = "app_social.methods" if pending["intent"] == "link" else "app_accounts.login"
        return redirect(app_url(back))


# The starts are links, not forms: the site's CSP (form-action 'self') would stop a
# form's redirect to the provider. A forged start only takes the person through their
# own provider account back to their own session.
@bp.get("/social/<provider>/sign-in")
def sign_in(provider: str) -> Any:
    return _start(provider, {"intent": "sign_in", "next": safe_next("")})


@bp.get("/social/<provider>/link")
@customer_required
def link(provider: str) -> Any:
    return _start(provider, {"intent": "link", "customer": current_customer().id})


@bp.get("/social/<provider>/callback")
def callback(provider: str) -> Any:
    provider_, client = _provider(provider)
    pending = cookie.pop(PENDING, None) or {}
    linking = pending.get("intent") == "link"
    failed = redirect(app_url("app_social.methods" if linking else "app_accounts.login"))
    try:
        if pending.get("provider") != provider_.name:
            raise MismatchingStateError()
        token = client.authorize_access_token()
        profile = provider_.profile(client, token)
    except OAuthError as error:
        log.info("%s sign-in refused: %s %s", provider, error.error, error.description)
        if error.error == "access_denied":
            flash(_("You cancelled signing in with %(provider)s.", provider=provider_.label))
        elif isinstance(error, MismatchingStateError):
            flash(_("This sign-in link expired or was already used: please try again."), "error")
        else:
            flash(
                _("%(provider)s could not confirm who you are.", provider=provider_.label), "error"
            )
        return failed
    except (AuthlibBaseError, JoseError, RequestException, ValueError) as error:
        log.warning("%s sign-in failed: %r", provider, error)
        flash(_("%(provider)s could not confirm who you are.", provider=provider_.label), "error")
        return failed
    try:
        if linking:
            return _linked(provider_, profile, pending)
        return _signed_in(provider_, profile, pending)
    except SocialRefused as refused:
        db().rollback()
        flash(str(refused.message), "error")
        return failed


def _linked(provider: Provider, profile: Profile, pending: dict[str, Any]) -> Any:
    customer = current_customer()
    if customer is None or customer.id != pending.get("customer"):
        return redirect(app_url("app_accounts.login"))
    if identities.link(db(), customer, profile, provider.label):
        db().commit()
        flash(_("%(provider)s is now linked to your account.", provider=provider.label), "success")
    else:
        flash(_("%(provider)s was already linked to your account.", provider=provider.label))
    return redirect(app_url("app_social.methods"))


def _signed_in(provider: Provider, profile: Profile, pending: dict[str, Any]) -> Any:
    customer, created = identities.sign_in(db(), profile, provider.label)
    tenant = g.get("tenant")
    if customer.email_confirmed_at is None:
        # The provider did not prove the address: its confirmation link does, and signs
        # the person in (joining this merchant) as a registration by e-mail would.
        accounts.resend_confirmation(db(), customer.email, tenant, str(get_locale()))
        db().commit()
        return render_template("app/auth/sent.html", email=customer.email)
    if created and tenant is not None:
        # Signing up on a merchant's pages makes the person a member there.
        joining.join(
            db(),
            customer,
            joined_via="app",
            actor=Actor.customer(customer.id),
            via=arrivals.recalled(tenant),
        )
    sessions.log_in(db(), customer)
    db().commit()
    home = "app_card.home" if tenant is not None else "app_home.home"
    return redirect(pending.get("next") or app_url(home))


@bp.get("/sign-in-methods")
@customer_required
def methods() -> Any:
    customer = current_customer()
    linked = identities.identities_of(db(), customer.id)
    return render_template(
        "app/auth/methods.html",
        customer=customer,
        providers=configured(),
        linked=linked,
        # An identity whose provider is no longer configured can still be unlinked.
        unlisted=[row for name, row in linked.items() if _client(name) is None],
    )


@bp.post("/sign-in-methods/<provider>/unlink")
@customer_required
def unlink(provider: str) -> Any:
    label = PROVIDERS[provider].label if provider in PROVIDERS else provider
    try:
        identities.unlink(db(), current_customer().id, provider)
    except NotFound:
        abort(404)
    except SocialRefused as refused:
        db().rollback()
        flash(str(refused.message), "error")
        return redirect(app_url("app_social.methods"))
    db().commit()
    flash(_("%(provider)s is no longer linked to your account.", provider=label), "success")
    return redirect(app_url("app_social.methods"))
