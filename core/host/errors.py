"""Business errors raised by services, each with a message for the user.

Views and the API turn them into a form error or a 4xx JSON answer; the
message is translated lazily so it reads in the user's language.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class PremiaError(Exception):
    """A request the business rules refuse. `reason` is stable for machines."""

    status = 400
    reason = "bad_request"
    message: Any = _l("The request could not be processed.")

    def __init__(self, message: Any = None, **fields: Any) -> None:
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": self.reason, "message": str(self.message)}
        if self.fields:
            body["errors"] = {k: [str(v)] for k, v in self.fields.items()}
        return body


class InvalidInput(PremiaError):
    """Some fields are not valid (422); the keyword arguments are the messages per field."""

    status = 422
    reason = "invalid"
    message = _l("Some fields are not valid.")


class NotFound(PremiaError):
    """No such record for this tenant (404)."""

    status = 404
    reason = "not_found"
    message = _l("Not found.")


class Conflict(PremiaError):
    """The request conflicts with the current state (409)."""

    status = 409
    reason = "conflict"
    message = _l("This conflicts with the current state.")


class MerchantSuspended(PremiaError):
    """The platform's operators suspended this merchant (403): its panel, app and API
    answer nothing else until it is reactivated."""

    status = 403
    reason = "merchant_suspended"
    message = _l("This loyalty program is suspended. Its data is kept; contact the platform.")


class InsufficientPoints(Conflict):
    """The member's balance does not cover a debit (409)."""

    reason = "insufficient_points"
    message = _l("The customer does not have enough points.")


class BalanceLimit(Conflict):
    """A credit that would take a balance past what the database holds (2,147,483,647)."""

    reason = "balance_limit"
    message = _l("This would take the customer's balance over the largest one possible.")


class PointsLimit(Conflict):
    """An amount that the program's equivalence turns into more points than one operation
    may give (409): a valid amount, refused for the program as it stands."""

    reason = "points_limit"
    message = _l(
        "Under this program's equivalence, this amount earns more points than one "
        "operation may give."
    )


class OutOfStock(Conflict):
    """The reward has no stock left (409)."""

    reason = "out_of_stock"
    message = _l("This reward is out of stock.")


class IdempotencyMismatch(PremiaError):
    """A key already used for another request: a conflict with what is stored (409), not
    a fault in the request itself, which would be accepted under a new key."""

    status = 409
    reason = "idempotency_key_reused"
    message = _l("This idempotency key was already used for a different request.")


class Forbidden(PremiaError):
    """The user or token may not do this (403)."""

    status = 403
    reason = "forbidden"
    message = _l("You may not do this.")
