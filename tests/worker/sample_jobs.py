"""Jobs for the tests, at module level so that an rq worker can import them by name.

`RAN` records what the jobs did, in order (the rq tests use `SimpleWorker`, which
runs jobs in the test's own process).
"""

from __future__ import annotations

import time
from typing import Any

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.members import Membership
from worker.jobs import job_app, tenant_job

RAN: list[tuple[Any, ...]] = []


@tenant_job()
def record(session, tenant, label):
    RAN.append(("record", tenant.slug, label))
    return label


@tenant_job(while_suspended=True)
def record_while_suspended(session, tenant, label):
    RAN.append(("record_while_suspended", tenant.slug, label))
    return label


@tenant_job()
def see_balance(session, tenant, member_id):
    """What a job sees of the data committed before it was run."""
    member = session.get(Membership, member_id)
    RAN.append(("balance", member.balance if member else None))


@tenant_job()
def fail(session, tenant, message):
    raise RuntimeError(message)


@tenant_job(plugin="notifications")
def notifications_only(session, tenant, label):
    RAN.append(("notifications_only", tenant.slug, label))
    return label


@tenant_job(queue="bulk")
def give_points(session, tenant, member_id, points):
    member = session.get(Membership, member_id)
    ledger.earn(
        session,
        member,
        points=points,
        actor=Actor.system(),
        idempotency_key=f"give_points:{member_id}:{points}",
    )


def heartbeat():
    """A periodic job: queued by the scheduler with no arguments."""
    RAN.append(("heartbeat",))


@tenant_job()
def slow_earn(session, tenant, member_id, points, pause):
    """Counts its attempts in Redis (it runs in a worker process), pauses (a worker may
    be killed meanwhile), then earns once: its idempotency key makes a retry count once."""
    job_app().extensions["premia"].redis.incr(f"tests:slow_earn:{member_id}")
    time.sleep(pause)
    member = session.get(Membership, member_id)
    ledger.earn(
        session,
        member,
        points=points,
        actor=Actor.system(),
        idempotency_key=f"slow_earn:{member_id}",
    )
