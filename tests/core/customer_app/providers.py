"""Local stand-ins for Google and Facebook, for the social sign-in tests.

Google is `oidc-provider-mock` (a real OpenID provider built on Authlib's server),
Facebook a small OAuth2 server of our own: its Login dialog (which consents at
once, as the person set with `next_person`, or refuses), its token endpoint and
the Graph's `/me`. Both run in a thread on 127.0.0.1; the app's real Authlib client
talks to them over HTTP. The helpers drive a flow with Flask's test client.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from oidc_provider_mock import run_server_in_thread
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

GOOGLE_ID, GOOGLE_SECRET = "google-client", "google-secret"
FACEBOOK_ID, FACEBOOK_SECRET = "facebook-app", "facebook-secret"


@contextmanager
def google_provider() -> Iterator[str]:
    """A local OpenID provider that requires a nonce; yields its address."""
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def google_person(google: str, sub: str, **claims: Any) -> None:
    """What the local provider says about `sub` (e-mail, email_verified, names)."""
    answer = requests.put(f"{google}/users/{sub}", json=claims, timeout=10)
    assert answer.status_code == 204, answer.text


def google_consent(authorize_url: str, sub: str | None) -> str:
    """The person consents as `sub` on the provider's page (None: refuses); returns
    where the provider sends the browser back."""
    data = {"sub": sub} if sub else {"action": "deny"}
    answer = requests.post(authorize_url, data=data, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


class FakeFacebook:
    """Facebook Login's dialog, token endpoint and Graph `/me`, as far as we use them."""

    def __init__(self) -> None:
        self.person: dict[str, Any] | None = None  # who consents next; None refuses
        self.codes: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeFacebook:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)

    @Request.application
    def wsgi(self, request: Request) -> Response:
        if request.path == "/dialog/oauth":
            return self._dialog(request)
        if request.path == "/oauth/access_token" and request.method == "POST":
            return self._token(request)
        if request.path == "/me":
            return self._me(request)
        return Response("not found", 404)

    def _dialog(self, request: Request) -> Response:
        args = request.args
        assert args["client_id"] == FACEBOOK_ID and args["response_type"] == "code"
        back = {"state": args["state"]}
        if self.person is None:
            back |= {"error": "access_denied", "error_reason": "user_denied"}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = (args["redirect_uri"], dict(self.person))
            back["code"] = code
        return Response(
            status=302, headers={"Location": f"{args['redirect_uri']}?{urlencode(back)}"}
        )

    def _token(self, request: Request) -> Response:
        form = request.form
        found = self.codes.pop(form.get("code", ""), None)
        if (
            found is None
            or form.get("client_id") != FACEBOOK_ID
            or form.get("client_secret") != FACEBOOK_SECRET
            or form.get("redirect_uri") != found[0]
        ):
            return _json({"error": {"message": "invalid code", "type": "OAuthException"}}, 400)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = found[1]
        return _json({"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    def _me(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        person = self.tokens.get(header.removeprefix("Bearer ").strip())
        if person is None:
            return _json({"error": {"message": "bad token", "type": "OAuthException"}}, 401)
        fields = request.args.get("fields", "id,name").split(",")
        return _json({key: person[key] for key in fields if key in person})

    def consent(self, dialog_url: str) -> str:
        answer = requests.get(dialog_url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def config(google: str | None = None, facebook: FakeFacebook | None = None) -> dict[str, Any]:
    """The app's configuration for the local providers."""
    values: dict[str, Any] = {}
    if google:
        values |= {
            "PREMIA_GOOGLE_CLIENT_ID": GOOGLE_ID,
            "PREMIA_GOOGLE_CLIENT_SECRET": GOOGLE_SECRET,
            "PREMIA_GOOGLE_DISCOVERY_URL": f"{google}/.well-known/openid-configuration",
        }
    if facebook:
        values |= {
            "PREMIA_FACEBOOK_CLIENT_ID": FACEBOOK_ID,
            "PREMIA_FACEBOOK_CLIENT_SECRET": FACEBOOK_SECRET,
            "PREMIA_FACEBOOK_DIALOG_URL": f"{facebook.url}/dialog/oauth",
            "PREMIA_FACEBOOK_GRAPH_URL": facebook.url,
        }
    return values


def start(client, url: str, base_url: str = "http://localhost") -> str:
    """Follow the app's start link; returns the provider's address it redirects to."""
    answer = client.get(url, base_url=base_url)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"]


def come_back(client, callback_url: str):
    """The browser back at the app's callback (on whatever host the URL names)."""
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}", base_url=f"{parts.scheme}://{parts.netloc}")
