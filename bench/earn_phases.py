"""Where an API earn's Python CPU goes, phase by phase (process time, in one process).

cProfile's overhead grows with the number of calls and py-spy counts psycopg's waits
for the server as work; this wraps each phase of the earn (the app's before- and
after-request functions, the view, the services it calls) with `time.process_time`
and runs earns through the test client on `bench/api.py`'s data. A phase's time
includes the phases inside it. Usage:

    .venv/bin/python bench/earn_phases.py --database-url postgresql+psycopg://… \\
        --redis-url redis://127.0.0.1:6379/4 [--requests 1500]
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis

from bench import api

spent: collections.Counter = collections.Counter()
_inside: set[str] = set()


def timed(name: str, fn: Any) -> Any:
    """`fn`, its process time added to `spent[name]` (the outermost call only)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name in _inside:
            return fn(*args, **kwargs)
        _inside.add(name)
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started
            _inside.discard(name)

    return wrapper


def wrap_phases(app: Any) -> None:
    import marshmallow
    import psycopg
    from sqlalchemy.orm import Session

    import core.host.driver as driver
    import core.host.outbox as outbox
    import core.host.plugins as host_plugins
    import core.loyalty.purchases as purchases
    import plugins.api.access as access
    import plugins.api.idempotency as idempotency
    import plugins.api.token_cache as token_cache
    import plugins.api.views as views

    for funcs in (app.before_request_funcs, app.after_request_funcs):
        for blueprint, registered in funcs.items():
            funcs[blueprint] = [
                timed(f"{blueprint or 'app'}: {getattr(f, '__qualname__', f)}", f)
                for f in registered
            ]
    for name in ("full_dispatch_request", "dispatch_request", "finalize_request"):
        setattr(app, name, timed(f"flask {name}", getattr(app, name)))
    idempotency.lock_member = timed("view: lock_member", idempotency.lock_member)
    views.record_purchase = timed("view: record_purchase", views.record_purchase)
    purchases._write_in_one_statement = timed(
        "record_purchase: the write statement", purchases._write_in_one_statement
    )
    purchases.get_program = timed("record_purchase: get_program", purchases.get_program)
    purchases._now_persistent = timed(
        "record_purchase: objects made persistent", purchases._now_persistent
    )
    host_plugins.PluginHost.ask = timed("plugins' hooks (ask)", host_plugins.PluginHost.ask)
    driver._fetch = timed("driver: statements sent", driver._fetch)
    Session.commit = timed("Session.commit", Session.commit)
    outbox.record = timed("commit: outbox.record", outbox.record)
    psycopg.Connection.commit = timed("commit: psycopg's commit", psycopg.Connection.commit)
    access.authenticate = timed("access.authenticate", access.authenticate)
    token_cache._hit_and_versions = timed("token: Redis round trip", token_cache._hit_and_versions)
    token_cache._credential = timed("token: kept token's objects", token_cache._credential)
    marshmallow.Schema.load = timed("marshmallow load", marshmallow.Schema.load)
    marshmallow.Schema.dump = timed("marshmallow dump", marshmallow.Schema.dump)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    api.fresh_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()
    os.environ["PREMIA_DATABASE_URL"] = args.database_url
    os.environ["PREMIA_REDIS_URL"] = args.redis_url
    os.environ["PREMIA_API_RATE_LIMIT"] = "100000000/minute"
    app = api.served_app()
    with app.app_context():
        api.upgrade(app)
        data = api.setup(app, args.customers)
        client = app.test_client()
        wrap_phases(app)

        def earn(n: int) -> None:
            api.earn_in_process(client, data, n)

        for n in range(100):  # warm: statement caches, the kept token, pools
            earn(n)
        spent.clear()
        started = time.process_time()
        for n in range(args.requests):
            earn(n)
        total = time.process_time() - started
    print(f"{args.requests} earns in-process: {total / args.requests * 1000:.3f} ms of CPU each")
    for name, seconds in spent.most_common():
        print(f"{seconds / args.requests * 1000:7.3f} ms {100 * seconds / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
