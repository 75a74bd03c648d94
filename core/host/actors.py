"""Who did something: a staff user, an API token, a customer, or the system."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who did something, recorded on entries and redemptions: staff, an API token, the customer or
    the system."""

    kind: str  # "staff", "token", "customer" or "system"
    id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def staff(cls, user_id: int) -> Actor:
        return cls("staff", user_id)

    @classmethod
    def customer(cls, customer_id: int) -> Actor:
        return cls("customer", customer_id)
