"""Real concurrency for tests: threads released together, each with its own session.

PostgreSQL only in practice: SQLite serialises writers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from core.host.db import make_engine, make_sessionmaker, tenant_session

JOIN_TIMEOUT = 120  # seconds for all threads together: a bound, not a measurement


@pytest.fixture
def sessions(app, database_url):
    """`with sessions(tenant_id) as session:` from a pool big enough for the threads."""
    engine = make_engine(database_url, pool_size=30, max_overflow=0, pool_timeout=60)
    factory = make_sessionmaker(engine)
    yield lambda tenant_id: tenant_session(factory, tenant_id)
    engine.dispose()


def run_together(app, count: int, work: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run `work(i)` in `count` threads released together; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(count, timeout=60)
    results: list[tuple[str, Any] | None] = [None] * count

    def target(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                results[i] = ("ok", work(i))
        except BaseException as exc:  # reported to the test, never lost in the thread
            results[i] = ("error", exc)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running (deadlock?): {stuck}"
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def outcomes(results) -> Counter:
    """How many threads answered each string (status, "refused", …)."""
    return Counter(r[1] for r in results if r[0] == "ok" and isinstance(r[1], str))


def unexpected_errors(results, *allowed: type[BaseException]) -> list[BaseException]:
    return [r[1] for r in results if r[0] == "error" and not isinstance(r[1], allowed)]


def finished_while_held(app, holder: Any, work: Callable[[], Any], wait: float = 10.0) -> bool:
    """Run `work()` in a thread while the transaction of the session `holder` stays open
    (with its locks), then commit `holder` (after `wait` seconds at most). Whether `work`
    finished before that commit: False where it waited for one of the holder's locks."""
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            with app.app_context():
                work()
            done.set()
        except BaseException as exc:  # reported to the test, never lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    finished = done.wait(timeout=wait)
    holder.commit()
    thread.join(timeout=JOIN_TIMEOUT)
    assert not errors, errors
    assert done.is_set(), "still running after the holder's commit"
    return finished
