"""Who acts: a staff user by role, an API token, a customer, or the system."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """A staff user's role: owner, admin or employee."""

    OWNER = "owner"
    ADMIN = "admin"
    EMPLOYEE = "employee"


# Who may open what (panel pages, menu entries): managers, or every staff role.
MANAGERS = (Role.OWNER, Role.ADMIN)
EVERYONE = (Role.OWNER, Role.ADMIN, Role.EMPLOYEE)


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
