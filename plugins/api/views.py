"""The POS API, version 1: thin endpoints over the core's services.

Each request is authenticated and scoped to its token's tenant before its
view runs (`access.authenticate`); its work commits only when the answer is a
success, together with the answer kept for `Idempotency-Key` retries.
"""

from __future__ import annotations

from typing import Any

from flask import g, make_response
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from core.sdk import (
    Entry,
    IdempotencyMismatch,
    Location,
    Membership,
    NotFound,
    active_rewards,
    cancel_redemption,
    confirm_redemption,
    count_members,
    create_member,
    create_reward,
    db,
    find_members,
    get_member,
    get_program,
    get_redemption,
    get_reward,
    give_points,
    handle_premia_error,
    history,
    member_at_first_points,
    record_purchase,
    redeem_reward,
    update_program,
    update_reward,
)
from plugins.api import access, bodies, idempotency
from plugins.api.errors import http_error
from plugins.api.member_program import customer_detail
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
from plugins.api.till_schemas import CustomerDetailSchema
from plugins.api.tokens import UNREAD

MAX_ID = 2**31 - 1

blp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
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
        if g.api_stored_answer is UNREAD:  # the token came from this process's cache
            if idempotency.read_by_view():
                return None  # with the view's first statement
            g.api_stored_answer = idempotency.stored(g.db, g.api_key)
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
    try:
        if key is not None:
            idempotency.remember(session, key, response)
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
        return make_response(handle_premia_error(error))  # after_request needs a Response
    return idempotency.replay(answer) if answer is not None else None


@blp.errorhandler(HTTPException)
@blp.errorhandler(RequestEntityTooLarge)  # the app's own 413 handler would come first
def api_http_error(error: HTTPException) -> Any:
    return http_error(error)


ERRORS = {401: "unauthorized", 403: "forbidden", 429: "too_many_requests"}
DESCRIPTIONS = {
    400: "invalid_json: the body is not JSON the API can read",
    404: "not found",
    409: "conflict",
    413: "too_large: the body is over the limit",
    422: "invalid input",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": idempotency.HEADER,
    "required": False,
    "description": "Makes a retry safe: the same key and body return the first answer "
    "(with `Idempotent-Replayed: true`) and write nothing; the same key with another body "
    "is refused (409 `idempotency_key_reused`). Keys are kept 48 hours.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_LENGTH,
        "pattern": idempotency.PATTERN,
    },
}


def documented(
    operation_id: str,
    *statuses: int,
    body: bool = False,
    query: bool = False,
    idempotent: bool = False,
    links: dict[str, Any] | None = None,
    blueprint: Blueprint | None = None,
):
    """Document an operation: its id, its error answers (the common ones are on every
    operation; a body adds 400, 413 and 422), the `Idempotency-Key` it accepts, and the
    links a client follows from its answer to the next operation. On this API's
    blueprint, or on another plugin's served behind its door (`blueprint`)."""
    target = blueprint or blp
    statuses = (
        *statuses,
        *ERRORS,
        *((400, 413, 422) if body else ()),
        *((409, 422) if idempotent else ()),
    )

    def decorate(view):
        if query:  # a URL over the server's limit never reaches the app (no JSON body)
            view = target.alt_response(
                414, description="the URL is over the server's limit (4,094 bytes under gunicorn)"
            )(view)
        for status in sorted(set(statuses)):
            view = target.alt_response(
                status,
                schema=ApiErrorSchema,
                description=ERRORS.get(status) or DESCRIPTIONS[status],
                headers=RETRY_AFTER if status == 429 else None,
            )(view)
        doc: dict[str, Any] = {"operationId": operation_id}
        if idempotent:
            doc["parameters"] = [IDEMPOTENCY_KEY]
        if links:
            doc["responses"] = {status: {"links": value} for status, value in links.items()}
        return target.doc(**doc)(view)

    return decorate


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to `operation_id`, its parameters taken from this answer's body."""
    return {
        "operationId": operation_id,
        "parameters": {name: f"$response.body#/{field}" for name, field in parameters.items()},
    }


CUSTOMER_LINKS = {
    201: {
        "get_customer": link("get_customer", code="code"),
        "give_points": link("give_points", code="code"),
        "list_entries": link("list_entries", code="code"),
        "redeem_reward": link("redeem_reward", code="code"),
        "record_purchase": link("record_purchase", code="code"),
        "pay_with_points": link("pay_with_points", code="code"),
    }
}
REWARD_LINKS = {201: {"update_reward": link("update_reward", reward_id="id")}}
REDEMPTION_LINKS = {
    201: {
        "confirm_redemption": link("confirm_redemption", redemption_id="id"),
        "cancel_redemption": link("cancel_redemption", redemption_id="id"),
    }
}


# --- program -------------------------------------------------------------


def _program() -> dict[str, Any]:
    return {"currency": g.tenant.currency, **get_program(db())}


@blp.route("/program", tags=["program"])
class Program(MethodView):
    @blp.response(200, ProgramSchema)
    @documented("get_program")
    def get(self) -> Any:
        """The merchant's program: currency, points equivalence, welcome points, expiry."""
        return _program()

    @access.requires("program:write")
    @blp.arguments(ProgramPatchSchema())
    @blp.response(200, ProgramSchema)
    @documented("update_program", body=True)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change any of the program's settings (scope `program:write`)."""
        update_program(db(), changes)
        return _program()


# --- customers -----------------------------------------------------------


@blp.route("/customers", tags=["customers"])
class Customers(MethodView):
    @blp.arguments(CustomerQuerySchema(), location="query")
    @blp.response(200, CustomerPageSchema)
    @documented("list_customers", 422, query=True)
    def get(self, query: dict[str, Any]) -> Any:
        """Search customers by code, document, e-mail or name (accent-insensitive), newest first."""
        page, size = query["page"], query["page_size"]
        items = find_members(db(), query["q"], limit=size, offset=(page - 1) * size)
        return {
            "items": items,
            "page": page,
            "page_size": size,
            "total": count_members(db(), query["q"]),
        }

    @access.requires("customers:write")
    @blp.arguments(CustomerCreateSchema())
    @blp.response(201, CustomerSchema)
    @documented("create_customer", 409, body=True, idempotent=True, links=CUSTOMER_LINKS)
    def post(self, fields: dict[str, Any]) -> Any:
        """Make a person a customer of this merchant (409 if the e-mail or document is taken).

        Accepts an `Idempotency-Key` header."""
        return create_member(db(), actor=access.actor(), joined_via="api", **fields)


@blp.route("/customers/<string:code>", tags=["customers"])
class Customer(MethodView):
    @blp.response(200, CustomerDetailSchema)
    @documented("get_customer", 404)
    def get(self, code: str) -> Any:
        """A customer by the code of their QR: the static code, or the live code of the
        customer app's rotating QR (404 `stale_live_code` once its minute has passed);
        with their tier, punch cards and usable packs where the merchant has them."""
        return customer_detail(get_member(db(), code))


@blp.route("/customers/<string:code>/points", tags=["points"])
class Points(MethodView):
    @idempotency.answer_read_by_view
    @access.requires("points:write")
    @blp.arguments(PointsRequestSchema())
    @blp.response(201, PointsResultSchema)
    @documented("give_points", 404, 409, body=True, idempotent=True)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Give points, or record a purchase `amount` and give what it earns.

        With an amount the points are floor(amount × points / amount unit) under the
        program's equivalence, plus whatever the merchant's active rules add (tiers,
        cashback…), each as its own entry. Accepts an `Idempotency-Key` header: a retry
        returns the first answer and gives nothing twice.

        `code` may also be the personal code a person shows on the shared app (12
        characters) where they are no customer yet: where the merchant's plan makes the
        first points enrol them (automatic membership), they become a customer with
        these points (welcome points too, once); otherwise the code answers 404 like
        any unknown code. Reading a customer (`get_customer`, `list_entries`) never
        accepts a personal code: nothing of a person shows before they are a customer."""
        session = db()
        try:
            member, replayed = idempotency.lock_member(session, code)
        except NotFound:
            replayed = idempotency.replay_unread()
            if replayed is not None:
                return replayed
            member = member_at_first_points(session, code, joined_via="api", actor=access.actor())
        if replayed is not None:
            return replayed
        location_id = _location(fields.get("location_id"))
        common = {
            "actor": access.actor(),
            "location_id": location_id,
            "description": fields.get("description"),
            "reference": fields.get("reference"),
            "idempotency_key": g.api_key,
        }
        # The same commands as the panel's: the program's rules (equivalence, the
        # description field, plugins' rules) apply alike. The rule that employees give by
        # amount does not bind a token: see `purchases.give_points`.
        if "amount" in fields:
            # The answer stored for the key is written by the purchase's own statement.
            along = idempotency.stored_along(201)
            _purchase, entries = record_purchase(
                session, member, fields["amount"], along=along, **common
            )
        else:
            entries = [give_points(session, member, fields["points"], **common)]
        if not entries:  # a purchase worth no points is still recorded (it counts as spend)
            return {"entry_id": None, "points": 0, "balance": member.balance, "entries": []}
        return _earned(entries)


_POINTS_RESULT = PointsResultSchema()  # built once: a schema's construction is not cheap


@idempotency.renders_purchase_answers
def _purchase_answer(_purchase: Any, entries: list[Entry]) -> dict[str, Any]:
    """The answer of `give_points` by amount, rendered again for a retry."""
    return _POINTS_RESULT.dump(_earned(entries))


def _earned(entries: list[Entry]) -> dict[str, Any]:
    """The answer of `give_points` for the entries written (at least one)."""
    return {
        "entry_id": entries[0].id,
        "points": sum(e.points for e in entries),
        "balance": entries[-1].balance_after,
        "entries": entries,
    }


@blp.route("/customers/<string:code>/entries", tags=["points"])
class Entries(MethodView):
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, EntrySchema(many=True))
    @documented("list_entries", 404, 422, query=True)
    def get(self, query: dict[str, Any], code: str) -> Any:
        """The customer's ledger entries, newest first (debits are negative)."""
        session = db()
        member = get_member(session, code)
        size = query["page_size"]
        return history(session, member, limit=size, offset=(query["page"] - 1) * size)


# --- rewards -------------------------------------------------------------


@blp.route("/rewards", tags=["rewards"])
class Rewards(MethodView):
    @blp.response(200, RewardSchema(many=True))
    @documented("list_rewards")
    def get(self) -> Any:
        """The active rewards, cheapest first."""
        return active_rewards(db())

    @access.requires("rewards:write")
    @blp.arguments(RewardSchema())
    @blp.response(201, RewardSchema)
    @documented("create_reward", body=True, idempotent=True, links=REWARD_LINKS)
    def post(self, fields: dict[str, Any]) -> Any:
        """Add a reward to the catalogue (scope `rewards:write`)."""
        return create_reward(db(), **fields)


@blp.route("/rewards/<int:reward_id>", tags=["rewards"])
class Reward(MethodView):
    @access.requires("rewards:write")
    @blp.arguments(RewardPatchSchema())
    @blp.response(200, RewardSchema)
    @documented("update_reward", 404, body=True)
    def patch(self, changes: dict[str, Any], reward_id: int) -> Any:
        """Change a reward: name, points, stock, description, active (scope `rewards:write`)."""
        session = db()
        return update_reward(session, _reward(reward_id), **changes)


# --- redemptions ---------------------------------------------------------


def _redemption_answer(
    redemption: Any, balance_entry_id: int, member: Membership | None = None
) -> dict[str, Any]:
    """The answer about a redemption; `member`, where the view holds it, spares a
    statement (the relationship is read again, though the member is in the session)."""
    entry = db().get(Entry, balance_entry_id)
    return {
        "id": redemption.id,
        "reward_id": redemption.reward_id,
        "customer_code": (member or redemption.member).code,
        "points": redemption.points,
        "balance": entry.balance_after,
        "status": redemption.status,
        "created_at": redemption.created_at,
        "decided_at": redemption.decided_at,
    }


@blp.route("/customers/<string:code>/redemptions", tags=["redemptions"])
class Redemptions(MethodView):
    @idempotency.answer_read_by_view
    @access.requires("redemptions:write")
    @blp.arguments(RedemptionRequestSchema())
    @blp.response(201, RedemptionSchema)
    @documented("redeem_reward", 404, 409, body=True, idempotent=True, links=REDEMPTION_LINKS)
    def post(self, fields: dict[str, Any], code: str) -> Any:
        """Hand a reward to the customer: points and stock go down at once (409 if either
        falls short). Accepts an `Idempotency-Key` header.

        `code` may be the live code of the customer app's rotating QR (`7KQ2M9X-492039`,
        current for about a minute; 404 `stale_live_code` after). Where the merchant
        redeems only with the live QR, a static code answers 403 `live_code_required`."""
        session = db()
        try:
            member, live, replayed = idempotency.lock_presented(session, code)
        except NotFound:  # a retry answers as the first did, its live code stale or not
            replayed = idempotency.replay_unread()
            if replayed is not None:
                return replayed
            raise
        if replayed is not None:
            return replayed
        redemption = redeem_reward(
            session,
            member,
            _reward(fields["reward_id"]),
            actor=access.actor(),
            location_id=_location(fields.get("location_id")),
            idempotency_key=g.api_key,
            live_code=live,
        )
        return _redemption_answer(redemption, redemption.entry_id, member)


@blp.route("/redemptions/<int:redemption_id>/confirm", tags=["redemptions"])
class ConfirmRedemption(MethodView):
    @access.requires("redemptions:write")
    @blp.response(200, RedemptionSchema)
    @documented("confirm_redemption", 404, 409, idempotent=True)
    def post(self, redemption_id: int) -> Any:
        """Confirm a customer's pending request: the reward is handed over (409 if not pending
        or out of stock)."""
        session = db()
        redemption = confirm_redemption(session, _redemption(redemption_id), actor=access.actor())
        return _redemption_answer(redemption, redemption.entry_id)


@blp.route("/redemptions/<int:redemption_id>/cancel", tags=["redemptions"])
class CancelRedemption(MethodView):
    @access.requires("redemptions:write")
    @blp.response(200, RedemptionSchema)
    @documented("cancel_redemption", 404, 409, idempotent=True)
    def post(self, redemption_id: int) -> Any:
        """Cancel a customer's pending request: the points go back (409 if not pending)."""
        session = db()
        redemption = cancel_redemption(session, _redemption(redemption_id), actor=access.actor())
        return _redemption_answer(redemption, redemption.refund_entry_id)


# --- lookups by id -------------------------------------------------------


def _reward(reward_id: int) -> Any:
    if not 0 < reward_id <= MAX_ID:
        raise NotFound(_l("No reward with this id."))
    return get_reward(db(), reward_id)


def _redemption(redemption_id: int) -> Any:
    if not 0 < redemption_id <= MAX_ID:
        raise NotFound(_l("No redemption with this id."))
    return get_redemption(db(), redemption_id)


def _location(location_id: int | None) -> int | None:
    if location_id is None:
        return None
    if not db().scalar(select(Location.id).where(Location.id == location_id)):
        raise NotFound(location_id=_l("No location with this id."))
    return location_id
