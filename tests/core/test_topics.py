"""Notification topics: declared once, with the context they carry."""

from __future__ import annotations

import pytest

from core.host.topics import CORE_TOPICS, NoneType, Topic, TopicError, Topics

TOPIC = Topic("visit_thanks", {"visits": int, "shop": (str, NoneType)})


def test_a_context_that_fits_passes():
    TOPIC.check({"visits": 3, "shop": "Centro"})
    TOPIC.check({"visits": 3, "shop": None})


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({"visits": 3}, "missing ['shop']"),
        ({"visits": 3, "shop": None, "extra": 1}, "undeclared ['extra']"),
        ({"visits": "3", "shop": None}, "visits='3'"),
        ({"visits": 3, "shop": 7}, "shop=7"),
    ],
    ids=["missing", "undeclared", "wrong-type", "wrong-type-of-optional"],
)
def test_a_context_that_does_not_fit_is_refused(context, problem):
    with pytest.raises(TopicError, match="visit_thanks") as error:
        TOPIC.check(context)
    assert problem in str(error.value)


def test_an_undeclared_topic_is_refused():
    topics = Topics([TOPIC])
    topics.check("visit_thanks", {"visits": 1, "shop": None})
    with pytest.raises(TopicError, match="'birthday' is not declared"):
        topics.check("birthday", {})


def test_a_topic_cannot_be_declared_twice():
    topics = Topics([TOPIC])
    with pytest.raises(TopicError, match="declared twice"):
        topics.declare(Topic("visit_thanks"))


def test_the_core_declares_its_expiry_warning():
    assert [t.name for t in CORE_TOPICS] == ["points_expiring"]
    assert "points_expiring" in Topics().declared


def test_the_app_holds_the_core_and_the_plugins_topics(platform):
    declared = platform.plugins.topics.declared
    assert set(declared) == {"points_expiring", "tier_changed", "referral_paid"}
    declared["tier_changed"].check(
        {
            "from": "plata",
            "to": "oro",
            "from_name": "Plata",
            "to_name": "Oro",
            "multiplier": "1.2",
            "upgrade": True,
        }
    )
