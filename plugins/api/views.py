"""The POS API, version 1: thin endpoints over the core's services.

Each request is authenticated and scoped to its token's tenant before its
view runs (`access.authenticate`); its work commits only when the answer is a
success, together with the answer kept for `Idempotency-Key` retries.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from core import ledger, rewards
from core.customers import count_members, create_member, find_members, get_member
from core.errors import IdempotencyMismatch, NotFound
from core.locations import Location
from core.program import get_program, update_program
from core.purchases import record_purchase
from core.web import db, handle_premia_error
from plugins.api import access, bodies, idempotency
from plugins.api.errors import http_error
from plugins.api.schemas import (
    ApiErrorSchema,
    CustomerCreateSchema,
    CustomerPageSchema,
    CustomerQuerySchema,
    CustomerSchema,
    EntrySchema,
    PageQuerySchema,
    PointsRequestSchema,
    PointsResultSchema,
    ProgramPatchSchema,
    ProgramSchema,
    RedemptionRequestSchema,
    RedemptionSchema,
    RewardPatchSchema,
    RewardSchema,
)

MAX_ID = 2**31 - 1

blp = Blueprint(
    "api", __name__, url_prefix="/api/v1",
    description="Customers, points, rewards and redemptions of the token's merchant.",
)
blp.ARGUMENTS_PARSER = bodies.JsonParser()


@blp.before_request
def limit_body() -> None:
    bodies.limit_body()  # first: nothing may read a body before it is capped


@blp.before_request
def authenticate_and_replay() -> Any:
    denied = access.authenticate(idempotency.candidate_key())
    if denied is not None:
        return denied
    g.api_key = idempotency.request_key()
    if g.api_key is not None:
        g.api_fingerprint = idempotency.fingerprint()
        answer = idempotency.matching(g.api_stored_answer)  # read with the token
        if answer is not None:
            return idempotency.replay(answer)
    return None


@blp.after_request
def commit_on_success(response: Any) -> Any:
    session = g.get("db")
    if session is None or response.headers.get("Idempotent-Replayed"):
        return response
    key = g.get("api_key")
    if not 200 <= response.status_code < 300:
        session.rollback()  # a refused request writes nothing
        if key is not None and response.status_code == 409:
            # Refused because a twin carrying the same key got there first (the
            # e-mail it registered is taken now): answer what the twin answered.
            return _twin_answer(session, key) or response
        return response
    if key is not None:
        idempotency.remember(session, key, response)
    try:
        session.commit()
    except IntegrityError:
        # A twin of this request stored its answer first: ours is a replay of it.
        session.rollback()
        answer = _twin_answer(session, key) if key else None
        if answer is None:
            raise
        return answer
    return response


def _twin_answer(session: Any, key: str) -> Any:
    """What a concurrent request with the same key answered, if it has finished."""
    try:
        answer = idempotency.stored(session, key)
    except IdempotencyMismatch as error:
        return handle_premia_error(error)
    return idempotency.replay(answer) if answer is not None else None


@blp.errorhandler(HTTPException)
def api_http_error(error: HTTPException) -> Any:
    return http_error(error)


ERRORS = {401: "unauthorized", 403: "forbidden", 429: "too_many_requests"}


def documented_errors(*statuses: int):
    """Document the error answers of an endpoint (the common ones are on every endpoint)."""

    def decorate(view):
        for status in sorted({*statuses, *ERRORS}):
            view = blp.alt_response(status, schema=ApiErrorSchema, description=ERRORS.get(
                status, {404: "not found", 409: "conflict", 422: "invalid input"}.get(status)
            ))(view)
        return view

    return decorate


# --- program -------------------------------------------------------------


def _program() -> dict[str, Any]:
    return {"currency": g.tenant.currency, **get_program(db())}


@blp.route("/program")
class Program(MethodView):
    @blp.response(200, ProgramSchema)
    @documented_errors()
    def get(self) -> Any:
        """The merchant's program: currency, points equivalence, welcome points, expiry."""
        return _program()

    @access.requires("program:write")
    @blp.arguments(ProgramPatchSchema())
    @blp.response(200, ProgramSchema)
    @documented_errors(422)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change any of the program's settings (scope `program:write`)."""
        update_program(db(), changes)
        return _program()


# --- customers -----------------------------------------------------------


@blp.route("/customers")
class Customers(MethodView):
    @blp.arguments(CustomerQuerySchema(), location="query")
    @blp.response(200, CustomerPageSchema)
    @documented_errors(422)
    def get(self, query: dict[str, Any]) -> Any:
        """Search customers by code, document, e-mail or name (accent-insensitive), newest first."""
        page, size = query["page"], query["page_size"]
        items = find_members(db(), query["q"], limit=size, offset=(page - 1) * size)
        return {"items": items, "page": page, "page_size": size,
                "total": count_members(db(), query["q"])}

    @access.requires("customers:write")
    @blp.arguments(CustomerCreateSchema())
    @blp.response(201, CustomerSchema)
    @documented_errors(409, 422)
    def post(self, fields: dict[str, Any]) -> Any:
        """Make a person a customer of this merchant (409 if the e-mail or document is taken).

        Accepts an `Idempotency-Key` header."""
        return create_member(db(), actor=access.actor(), joined_via="api", **fields)


@blp.route("/customers/<string:code>")
class Customer(MethodView):
    @blp.response(200, CustomerSchema)
    @documented_errors(404)
    def get(self, code: str) -> Any:
        """A customer by the code of their QR."""
        return get_member(db(), code)


@blp.route("/customers/<string:code>/points")
class Points(MethodView):
    @access.requires("points:write")
    @blp.arguments(PointsRequestSchema())
    @blp.response(201, PointsResultSchema)
    @documented_errors(404, 409, 422)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Give points, or record a purchase `amount` and give what it earns.

        With an amount the points are floor(amount × points / amount unit) under the
        program's equivalence, plus whatever the merchant's active rules add (tiers,
        cashback…), each as its own entry. Accepts an `Idempotency-Key` header: a retry
        returns the first answer and gives nothing twice."""
        session = db()
        member = ledger.lock_member_by_code(session, code)
        location_id = _location(fields.get("location_id"))
        common = {"actor": access.actor(), "location_id": location_id,
                  "description": fields.get("description"), "reference": fields.get("reference"),
                  "idempotency_key": g.api_key}
        if "amount" in fields:
            _purchase, entries = record_purchase(session, member, fields["amount"], **common)
        else:
            entries = [ledger.earn(session, member, points=fields["points"], **common)]
        if not entries:  # a purchase worth no points is still recorded (it counts as spend)
            return {"entry_id": None, "points": 0, "balance": member.balance, "entries": []}
        return {"entry_id": entries[0].id, "points": sum(e.points for e in entries),
                "balance": entries[-1].balance_after, "entries": entries}


@blp.route("/customers/<string:code>/entries")
class Entries(MethodView):
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, EntrySchema(many=True))
    @documented_errors(404, 422)
    def get(self, query: dict[str, Any], code: str) -> Any:
        """The customer's ledger entries, newest first (debits are negative)."""
        session = db()
        member = get_member(session, code)
        size = query["page_size"]
        return ledger.history(session, member, limit=size, offset=(query["page"] - 1) * size)


# --- rewards -------------------------------------------------------------


@blp.route("/rewards")
class Rewards(MethodView):
    @blp.response(200, RewardSchema(many=True))
    @documented_errors()
    def get(self) -> Any:
        """The active rewards, cheapest first."""
        return rewards.active_rewards(db())

    @access.requires("rewards:write")
    @blp.arguments(RewardSchema())
    @blp.response(201, RewardSchema)
    @documented_errors(422)
    def post(self, fields: dict[str, Any]) -> Any:
        """Add a reward to the catalogue (scope `rewards:write`)."""
        return rewards.create_reward(db(), **fields)


@blp.route("/rewards/<int:reward_id>")
class Reward(MethodView):
    @access.requires("rewards:write")
    @blp.arguments(RewardPatchSchema())
    @blp.response(200, RewardSchema)
    @documented_errors(404, 422)
    def patch(self, changes: dict[str, Any], reward_id: int) -> Any:
        """Change a reward: name, points, stock, description, active (scope `rewards:write`)."""
        session = db()
        return rewards.update_reward(session, _reward(reward_id), **changes)


# --- redemptions ---------------------------------------------------------


def _redemption_answer(redemption: Any, balance_entry_id: int) -> dict[str, Any]:
    entry = db().get(ledger.Entry, balance_entry_id)
    return {"id": redemption.id, "reward_id": redemption.reward_id,
            "customer_code": redemption.member.code, "points": redemption.points,
            "balance": entry.balance_after, "status": redemption.status,
            "created_at": redemption.created_at, "decided_at": redemption.decided_at}


@blp.route("/customers/<string:code>/redemptions")
class Redemptions(MethodView):
    @access.requires("redemptions:write")
    @blp.arguments(RedemptionRequestSchema())
    @blp.response(201, RedemptionSchema)
    @documented_errors(404, 409, 422)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Hand a reward to the customer: points and stock go down at once (409 if either
        falls short). Accepts an `Idempotency-Key` header."""
        session = db()
        member = ledger.lock_member_by_code(session, code)
        redemption = rewards.redeem_reward(
            session, member, _reward(fields["reward_id"]), actor=access.actor(),
            location_id=_location(fields.get("location_id")), idempotency_key=g.api_key,
        )
        return _redemption_answer(redemption, redemption.entry_id)


@blp.route("/redemptions/<int:redemption_id>/confirm")
class ConfirmRedemption(MethodView):
    @access.requires("redemptions:write")
    @blp.response(200, RedemptionSchema)
    @documented_errors(404, 409)
    def post(self, redemption_id: int) -> Any:
        """Confirm a customer's pending request: the reward is handed over (409 if not pending
        or out of stock)."""
        session = db()
        redemption = rewards.confirm(session, _redemption(redemption_id), actor=access.actor())
        return _redemption_answer(redemption, redemption.entry_id)


@blp.route("/redemptions/<int:redemption_id>/cancel")
class CancelRedemption(MethodView):
    @access.requires("redemptions:write")
    @blp.response(200, RedemptionSchema)
    @documented_errors(404, 409)
    def post(self, redemption_id: int) -> Any:
        """Cancel a customer's pending request: the points go back (409 if not pending)."""
        session = db()
        redemption = rewards.cancel(session, _redemption(redemption_id), actor=access.actor())
        return _redemption_answer(redemption, redemption.refund_entry_id)


# --- lookups by id -------------------------------------------------------


def _reward(reward_id: int) -> Any:
    if not 0 < reward_id <= MAX_ID:
        raise NotFound(_l("No reward with this id."))
    return rewards.get_reward(db(), reward_id)


def _redemption(redemption_id: int) -> Any:
    if not 0 < redemption_id <= MAX_ID:
        raise NotFound(_l("No redemption with this id."))
    return rewards.get_redemption(db(), redemption_id)


def _location(location_id: int | None) -> int | None:
    if location_id is None:
        return None
    if not db().scalar(select(Location.id).where(Location.id == location_id)):
        raise NotFound(location_id=_l("No location with this id."))
    return location_id

