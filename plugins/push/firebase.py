"""Firebase: where the platform's (or a brand's) configuration comes from, and sending
a batch of messages through firebase-admin's `send_each` (FCM HTTP v1).

The configuration is the operator's, from the environment (never a merchant's form: a
path on the server is not theirs to choose):

- ``PREMIA_FIREBASE_CREDENTIALS``: the path of the service account's JSON key;
- ``PREMIA_FIREBASE_WEB_CONFIG``: the web app's configuration, JSON (apiKey, projectId,
  messagingSenderId, appId);
- ``PREMIA_FIREBASE_VAPID_KEY``: the web push certificate's public key.

A brand with a Firebase project of its own sets the same names followed by two
underscores and its slug in capitals ("-" as "_"): ``PREMIA_FIREBASE_CREDENTIALS__CAFE_SOL``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import firebase_admin
from firebase_admin import credentials, exceptions, messaging
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter

from core.sdk import Tenant

log = logging.getLogger(__name__)

CREDENTIALS = "PREMIA_FIREBASE_CREDENTIALS"
WEB_CONFIG = "PREMIA_FIREBASE_WEB_CONFIG"
VAPID_KEY = "PREMIA_FIREBASE_VAPID_KEY"
NAMES = (CREDENTIALS, WEB_CONFIG, VAPID_KEY)
WEB_KEYS = ("apiKey", "projectId", "messagingSenderId", "appId")

BATCH = 500  # send_each's most messages per call
# Pauses before sending again what FCM refused for now (5xx beyond firebase-admin's own
# retries, quota): a batch job waits them out rather than sending twice elsewhere.
RETRY_DELAYS: Sequence[float] = (1.0, 4.0, 15.0)

# Tokens FCM says will never work again: the device is deleted.
DEAD = (
    messaging.UnregisteredError,
    messaging.SenderIdMismatchError,
    exceptions.InvalidArgumentError,
)
# Worth another try: FCM is unavailable, overloaded or over quota.
TRANSIENT = (
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.ResourceExhaustedError,
    exceptions.DeadlineExceededError,
    exceptions.UnknownError,
    messaging.QuotaExceededError,
)


def _suffix(tenant: Tenant) -> str:
    return "__" + tenant.slug.upper().replace("-", "_")


def _value(name: str, tenant: Tenant | None) -> str | None:
    config = current_app.config if has_app_context() else {}
    names = ([name + _suffix(tenant)] if tenant is not None else []) + [name]
    for candidate in names:
        value = config.get(candidate) or os.environ.get(candidate)
        if value:
            return str(value)
    return None


@dataclass(frozen=True)
class Setup:
    """The Firebase configuration that applies to a tenant, and what is missing."""

    credentials: str | None
    web_config: dict[str, Any] | None
    vapid_key: str | None
    missing: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def can_send(self) -> bool:
        return self.credentials is not None and not self.problems

    @property
    def can_register(self) -> bool:
        return self.web_config is not None and self.vapid_key is not None


def setup(tenant: Tenant | None) -> Setup:
    path, web, vapid = (_value(name, tenant) for name in NAMES)
    missing = tuple(
        name for name, value in zip(NAMES, (path, web, vapid), strict=True) if not value
    )
    problems: list[str] = []
    if path and not os.path.isfile(path):
        problems.append(f"{CREDENTIALS}: {path}")
        path = None
    parsed = None
    if web:
        try:
            parsed = json.loads(web)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or any(not parsed.get(key) for key in WEB_KEYS):
            problems.append(f"{WEB_CONFIG}: {', '.join(WEB_KEYS)}")
            parsed = None
    return Setup(path, parsed, vapid, missing, tuple(problems))


_apps: dict[str, firebase_admin.App] = {}
_apps_lock = threading.Lock()


def app_for(path: str) -> firebase_admin.App:
    """One firebase-admin app per service account key (and per process), its messaging
    client made."""
    with open(path, "rb") as key:
        name = "premia-" + hashlib.sha256(key.read()).hexdigest()[:16]
    with _apps_lock:
        app = _apps.get(name)
        if app is None:
            app = firebase_admin.initialize_app(credentials.Certificate(path), name=name)
            _tune_session(app)
            _apps[name] = app
        return app


def _tune_session(app: firebase_admin.App) -> None:
    """Fit the messaging client's `requests` session to how `send_each` uses it (once per
    app, before the worker forks)."""
    try:
        service = messaging._get_messaging_service(app)
        session, url = service._client.session, service._fcm_url
    except AttributeError:  # firebase-admin's insides changed: it sends as it comes
        return
    # requests looks through the whole environment for proxy settings again on every
    # request: a fifth of the CPU a message costs in `send_each` (profile of a batch).
    # Read it once, for FCM's address, with requests' own rules, and never again.
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    # `send_each` runs a thread per message (up to BATCH at once) over a pool that keeps
    # 100 connections to FCM: with FCM's latency every thread holds a connection at once,
    # and the 400 beyond the pool are opened (TLS included) and thrown away on each batch
    # (urllib3's "connection pool is full, discarding connection"). A pool as large as
    # the batch keeps every one it opens. firebase-admin has no option for it (its issue
    # 648): the adapter it mounted for FCM's host is replaced, its retries kept.
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    retries = session.get_adapter(url).max_retries
    session.mount(origin, HTTPAdapter(pool_connections=1, pool_maxsize=BATCH, max_retries=retries))


def warm(config: Mapping[str, Any]) -> list[firebase_admin.App]:
    """Make, at start-up, the firebase-admin app of every service account key the
    configuration (or the environment) names, the platform's and the brands'.

    An rq worker forks a process per job: each one then finds the key read and the
    messaging client made (0.2 s of CPU per batch of 500 otherwise, a third of it)."""
    names = [*config.items(), *os.environ.items()]
    paths = {
        str(value)
        for name, value in names
        if (name == CREDENTIALS or name.startswith(CREDENTIALS + "__")) and value
    }
    made = []
    for path in sorted(paths):
        try:
            made.append(app_for(path))
        except (OSError, ValueError) as error:  # the send says so again, where it is seen
            log.warning("push: Firebase credentials %s not usable: %s", path, error)
    return made


@dataclass(frozen=True)
class Outcome:
    sent: list[int]
    pruned: list[int]
    failed: dict[int, str]  # delivery id → the error's code


def message(token: str, content: dict[str, str]) -> messaging.Message:
    """A web push to one token; our service worker shows it (data only, so nothing but
    our worker draws it)."""
    return messaging.Message(
        token=token,
        data=content,
        webpush=messaging.WebpushConfig(headers={"Urgency": "high", "TTL": "86400"}),
    )


def _code(error: BaseException) -> str:
    return str(getattr(error, "code", None) or type(error).__name__)[:60]


def _invalid_argument(error: Exception | None) -> bool:
    return isinstance(error, exceptions.InvalidArgumentError) and not isinstance(
        error, messaging.UnregisteredError | messaging.SenderIdMismatchError
    )


def _fetch_token(app: firebase_admin.App) -> None:
    # Before `send_each` starts a thread per message: with no valid token yet (a job
    # process's first batch), google-auth has each thread fetch one, unlocked: 500 calls
    # to the token endpoint, over a pool of 10 connections (the bench's worker logs).
    credential = app.credential.get_credential()
    if not credential.valid:
        app.credential.get_access_token()


def send_batch(
    app: firebase_admin.App,
    targets: list[tuple[int, str]],
    content: dict[str, str],
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send `content` to each (delivery id, token) of one batch with `send_each`; what
    FCM refuses for now is sent again after a pause, up to len(RETRY_DELAYS) times."""
    sent: list[int] = []
    pruned: list[int] = []
    failed: dict[int, str] = {}
    todo = list(targets)
    _fetch_token(app)
    for attempt in range(len(RETRY_DELAYS) + 1):
        if not todo:
            break
        if attempt:
            sleep(RETRY_DELAYS[attempt - 1])
        with warnings.catch_warnings():
            # The web JS SDK hands the page a registration token, which FCM's v1 API takes
            # as `token`; firebase-admin 7 prefers installation ids and warns on each one.
            warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)
            batch = [message(token, content) for _id, token in todo]
        answer = messaging.send_each(batch, app=app)
        # FCM answers INVALID_ARGUMENT for a malformed token and for a malformed message:
        # when every message of a batch got it, the message is at fault, not the devices.
        message_refused = len(answer.responses) > 1 and all(
            _invalid_argument(r.exception) for r in answer.responses
        )
        again: list[tuple[int, str]] = []
        for (delivery_id, token), response in zip(todo, answer.responses, strict=True):
            error = response.exception
            if response.success:
                sent.append(delivery_id)
                failed.pop(delivery_id, None)
            elif isinstance(error, DEAD) and not message_refused:
                pruned.append(delivery_id)
                failed.pop(delivery_id, None)
            elif isinstance(error, TRANSIENT):
                failed[delivery_id] = _code(error)
                again.append((delivery_id, token))
            else:
                failed[delivery_id] = _code(error)
        todo = again
    return Outcome(sent, pruned, failed)
