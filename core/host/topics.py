"""Notification topics: what the core and plugins may tell a member through `notify`.

A topic is declared once, with the context it carries (names and types), so a
channel (e-mail, push…) knows what it receives and a sender cannot drift from
it. The core declares its own topics here; a plugin declares the ones it sends
through the `notification_topics` hook, and a channel says which topics it
delivers through `delivered_topics`. The plugin host gathers them at start-up
(`PluginHost.topics`) and logs a topic that no installed channel delivers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NoneType = type(None)


class TopicError(ValueError):
    """A notification names an undeclared topic or carries the wrong context."""


@dataclass(frozen=True)
class Topic:
    """A message a member may be told, and the plain data its template receives."""

    name: str
    context: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    """Each key of the context and the type(s) its value may have."""
    description: str = ""

    def check(self, context: Mapping[str, Any]) -> None:
        """Raise TopicError unless `context` has exactly the declared keys and types."""
        missing = sorted(set(self.context) - set(context))
        unknown = sorted(set(context) - set(self.context))
        if missing or unknown:
            raise TopicError(
                f"topic {self.name!r}: context keys missing {missing}, undeclared {unknown}"
            )
        for key, kinds in self.context.items():
            if not isinstance(context[key], kinds):
                raise TopicError(
                    f"topic {self.name!r}: {key}={context[key]!r} is not of type {kinds}"
                )


POINTS_EXPIRING = Topic(
    "points_expiring",
    {"points": int, "expires_at": str, "period": str},
    "Points of the member expire during `period` (a month, YYYY-MM), the first on "
    "`expires_at` (ISO date-time in the tenant's zone).",
)

CORE_TOPICS = (POINTS_EXPIRING,)


class Topics:
    """The declared topics of one application (the plugin host holds one)."""

    def __init__(self, declared: Iterable[Topic] = CORE_TOPICS) -> None:
        self.declared: dict[str, Topic] = {}
        for topic in declared:
            self.declare(topic)

    def declare(self, topic: Topic) -> None:
        if topic.name in self.declared:
            raise TopicError(f"topic {topic.name!r} is declared twice")
        self.declared[topic.name] = topic

    def check(self, name: str, context: Mapping[str, Any]) -> None:
        """Raise TopicError unless `name` is declared and `context` fits it."""
        topic = self.declared.get(name)
        if topic is None:
            raise TopicError(f"notify topic {name!r} is not declared")
        topic.check(context)
