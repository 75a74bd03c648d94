"""`Idempotency-Key`: a retried POST gets the first answer and writes nothing.

The first successful answer is stored in the same transaction as the work it
describes. A retry finds it before doing anything. Two copies racing each other
both reach the services, whose own idempotency (the same key, handed down)
makes the second a replay of the first; the second then fails to store its
copy of the answer, and answers the stored one instead. Failed requests are
not stored: they wrote nothing, so a retry simply runs again.

An earn by amount on PostgreSQL stores no body: its one statement writes a row naming
the purchase (`stored_along`), and a retry renders the answer again from the purchase
and its entries, which never change (`renders_purchase_answers`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from core.sdk import (
    IdempotencyMismatch,
    InvalidInput,
    Membership,
    ReadAlong,
    WriteAlong,
    earned_entries,
    get_purchase,
    lock_member_by_code,
    lock_member_by_code_along,
    lock_presented_member,
    lock_presented_member_along,
    session_tenant_id,
    utcnow,
)
from plugins.api import bodies
from plugins.api.models import IdempotentResponse
from plugins.api.tokens import UNREAD

HEADER = "Idempotency-Key"
MAX_LENGTH = 180
PATTERN = r"^[ -~]*[!-~][ -~]*$"  # printable ASCII, not only spaces (as the document says)
KEEP = timedelta(hours=48)  # promised: at least 24 hours


def request_key() -> str | None:
    """The request's key, validated; None for requests without one or not a POST."""
    key = _header()
    if key is not None and not _valid(key):
        raise InvalidInput(**{HEADER: _l("The idempotency key must have 1 to 180 characters.")})
    return key


def candidate_key() -> str | None:
    """The request's key if it is a valid one, else None (read before authentication,
    which answers first; `request_key` refuses an invalid key after it)."""
    key = _header()
    return key if key is not None and _valid(key) else None


def _header() -> str | None:
    return request.headers.get(HEADER) if request.method == "POST" else None


def _valid(key: str) -> bool:
    return len(key) <= MAX_LENGTH and re.fullmatch(PATTERN, key) is not None


def fingerprint() -> str:
    body = bodies.body_or_none()
    canonical = (
        json.dumps(body, sort_keys=True, separators=(",", ":"))
        if body is not None
        else request.get_data().decode("utf-8", "replace")
    )
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def stored(session: Session, key: str) -> IdempotentResponse | None:
    return matching(session.scalar(select(IdempotentResponse).where(IdempotentResponse.key == key)))


def answer_read_by_view(view: Callable) -> Callable:
    """Mark a view that reads the stored answer itself, with its first statement
    (`lock_member`), where the token statement did not read it: no round trip of its
    own on the hot path."""
    view._premia_reads_answer = True  # type: ignore[attr-defined]
    return view


def read_by_view() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    method = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    return bool(getattr(method, "_premia_reads_answer", False))


# The stored answer for the request's key, joined to the member's statement.
_ANSWER = ReadAlong(IdempotentResponse, IdempotentResponse.key == bindparam("idempotency_key"))


def lock_member(session: Session, code: str) -> tuple[Membership, Response | None]:
    """The member by code, locked (NotFound otherwise); and where the answer stored for
    the request's key is still unread, it too, in the same statement: its replay
    (IdempotencyMismatch for another request's), or None."""
    key = g.get("api_key")
    if key is None or g.api_stored_answer is not UNREAD:
        return lock_member_by_code(session, code), None
    member, found = lock_member_by_code_along(session, code, _ANSWER, {"idempotency_key": key})
    g.api_stored_answer = found
    answer = matching(found)
    return member, replay(answer) if answer is not None else None


def lock_presented(session: Session, code: str) -> tuple[Membership, bool, Response | None]:
    """`lock_member` for a code that may be the app's live one: the member, whether the
    code was live, and the replay (or None)."""
    key = g.get("api_key")
    if key is None or g.api_stored_answer is not UNREAD:
        member, live = lock_presented_member(session, code)
        return member, live, None
    member, live, found = lock_presented_member_along(
        session, code, _ANSWER, {"idempotency_key": key}
    )
    g.api_stored_answer = found
    answer = matching(found)
    return member, live, replay(answer) if answer is not None else None


def replay_unread() -> Response | None:
    """Where the stored answer is still unread (`lock_member` or `lock_presented` found
    no member, or a live code past its minute), read it: its replay, or None."""
    if g.get("api_key") is None or g.api_stored_answer is not UNREAD:
        return None
    g.api_stored_answer = stored(g.db, g.api_key)
    return replay(g.api_stored_answer) if g.api_stored_answer is not None else None


def matching(found: IdempotentResponse | None) -> IdempotentResponse | None:
    """A stored answer, if it answered this very request (IdempotencyMismatch otherwise)."""
    if found is not None and found.fingerprint != g.api_fingerprint:
        raise IdempotencyMismatch(
            _l("This Idempotency-Key was used for another request; use a new key.")
        )
    return found


def replay(answer: IdempotentResponse) -> Response:
    response = jsonify(_body(answer))  # byte for byte what the first request answered
    response.status_code = answer.status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def stored_along(status: int) -> WriteAlong | None:
    """The answer to store, for a service that writes the request's work in one
    statement (`record_purchase`): a row naming the purchase, written by that statement
    at no round trip of its own, its body rendered again from the purchase by a replay
    (`renders_purchase_answers`). None without a key. Where the statement wrote it,
    `remember` writes nothing."""
    key = g.get("api_key")
    if key is None:
        return None
    along = WriteAlong(
        table=IdempotentResponse.__table__,
        values={
            "key": key,
            "fingerprint": g.api_fingerprint,
            "status": status,
            "created_at": utcnow(),
        },
        purchase_column="purchase_id",
    )
    g.api_answer_along = along
    return along


_render_purchase_answer: Callable[[Any, list[Any]], Any] | None = None


def renders_purchase_answers(render: Callable[[Any, list[Any]], Any]) -> Callable:
    """Register `render(purchase, entries)`, the body of the answer that `stored_along`
    stores by its purchase: the view's own answer (one view stores answers so)."""
    global _render_purchase_answer
    _render_purchase_answer = render
    return render


def _body(answer: IdempotentResponse) -> Any:
    if answer.body is not None or answer.purchase_id is None:
        return answer.body
    # The purchase and its entries never change (erasing the person keeps both): the
    # answer rendered again is the first.
    purchase = get_purchase(g.db, answer.purchase_id)
    return _render_purchase_answer(purchase, earned_entries(g.db, purchase))


# Built once. A Core INSERT, not an object for the unit of work: flushing the one row
# at commit cost more than the rest of the commit.
_REMEMBER = insert(IdempotentResponse.__table__)


def remember(session: Session, key: str, response: Response) -> None:
    """Store the answer in the request's transaction (IntegrityError where a twin with
    the same key stored its own first), unless the work's own statement stored it."""
    along = g.get("api_answer_along")
    if along is not None and along.written:
        return
    session.connection().execute(
        _REMEMBER,
        {
            "tenant_id": session_tenant_id(session),  # the session's own tenant, always
            "key": key,
            "fingerprint": g.api_fingerprint,
            "status": response.status_code,
            "body": response.get_json(),
        },
    )


def forget_old(session: Session, now: Any = None) -> int:
    """Drop answers older than KEEP (a periodic job, across tenants)."""
    cutoff = (now or utcnow()) - KEEP
    return session.execute(
        delete(IdempotentResponse).where(IdempotentResponse.created_at < cutoff)
    ).rowcount
