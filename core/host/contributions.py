"""What plugins hand back to the host from their hooks: menu entries, lines of facts
about a member, periodic jobs.

They live in the host wing, beside the hookspecs that name them, so that the
hookspecs import nothing from the wings that call the hooks (the panel, the
worker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.host.actors import EVERYONE, Role


@dataclass(frozen=True)
class MenuItem:
    """One entry: where it goes, its (lazy, translated) label, and who sees it."""

    endpoint: str
    label: Any
    roles: tuple[Role, ...] = EVERYONE
    order: int = 100
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SummaryLine:
    """One fact: a (translated) label and its value, both shown as text."""

    label: Any
    value: Any


@dataclass(frozen=True)
class PeriodicJob:
    """A function the scheduler runs every `every` seconds (a plugin declares these)."""

    name: str
    func: Callable[[], Any]
    every: int
    queue: str = "default"


@dataclass(frozen=True)
class MailLink:
    """A link a plugin adds to a member's e-mail: a (lazy, translated) sentence, the
    button's label, and the absolute URL it opens."""

    text: Any
    label: Any
    url: str


@dataclass(frozen=True)
class MemberSegment:
    """A group of a merchant's members a plugin knows (a tier's members), offered where
    staff choose an audience (the push plugin's Notificaciones): `key` is stable and
    starts with the plugin's name, `label` is shown, `member_ids` is a SELECT of the
    memberships' ids (it runs in the tenant's session)."""

    key: str
    label: Any
    member_ids: Any
