"""A job for the health tests, at module level so that an rq worker imports it by name: it
fails while Redis holds FAIL_KEY, and notes each run that succeeds in DONE_KEY."""

from __future__ import annotations

import os

from redis import Redis

FAIL_KEY = "premia-test:flaky:fail"
DONE_KEY = "premia-test:flaky:done"


def flaky(label: str) -> str:
    redis = Redis.from_url(os.environ["PREMIA_TEST_REDIS_URL"])  # the tests' Redis
    if redis.get(FAIL_KEY):
        raise RuntimeError(f"the till is offline ({label})")
    redis.rpush(DONE_KEY, label)
    return label


RAN: list[str] = []


def embedded_flaky(label: str) -> str:
    """The same for the in-process runner: fails while FAILING holds anything."""
    if FAILING:
        raise RuntimeError(f"the till is offline ({label})")
    RAN.append(label)
    return label


FAILING: list[bool] = []
