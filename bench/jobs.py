"""The CPU of the soak's jobs, forked per job (rq's Worker) against run in the worker's
own process (rq's SimpleWorker, `premia worker` without the bulk queue).

    python bench/jobs.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_jobs \\
        --redis-url redis://127.0.0.1:6379/10 --requests 40

Recreates the database with bench/soak.py's merchant (30 members), sends `--requests`
earns and redemptions (one in four) through the API with the test client, so that their
jobs (the points or redemption e-mail, the member's push, the referral check) are
queued in Redis as in production, with an SMTP sink receiving the e-mails. Then runs
those jobs one by one, twice over the same data (each job's delivery key is forgotten
in between, so the second pass does the same work): first each in a process forked
from this one once it is prepared as `premia worker` prepares itself, as rq's work
horse runs it; then each in this process. Prints, per job and mode, the CPU (process
time) and wall clock per job, and the ratio. `--profile FILE` writes the forked mail
jobs' cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from redis import Redis  # noqa: E402
from rq.job import Job  # noqa: E402

from bench.api import fresh_database, libpq  # noqa: E402
from bench.soak import SmtpSink, setup  # noqa: E402
from core.app import create_app  # noqa: E402
from core.testing.services import _free_port  # noqa: E402
from worker.jobs import QUEUES  # noqa: E402


def queued_jobs(args, data: dict, app) -> list[Job]:
    client = app.test_client()
    api = {"Authorization": f"Bearer {data['token']}"}
    for n in range(args.requests):
        code = data["codes"][n % len(data["codes"])]
        headers = {**api, "Idempotency-Key": uuid.uuid4().hex}
        if n % 4 == 3:
            path, body = f"/api/v1/customers/{code}/redemptions", {"reward_id": data["reward_id"]}
        else:
            path, body = f"/api/v1/customers/{code}/points", {"amount": "45000"}
        response = client.post(path, json=body, headers=headers)
        assert response.status_code < 300, response.data
    redis = Redis.from_url(args.redis_url)
    ids = [i for name in QUEUES for i in redis.lrange(f"rq:queue:{name}", 0, -1)]
    return [Job.fetch(i.decode(), connection=redis) for i in ids]


def forget_deliveries(args) -> None:
    """The second pass sends the same e-mails again: their delivery keys are forgotten."""
    with psycopg.connect(libpq(args.database_url), autocommit=True) as conn:
        conn.execute("DELETE FROM notifications_deliveries WHERE key NOT LIKE 'welcome:%'")
        conn.execute(
            "DELETE FROM push_deliveries WHERE send_id IN "
            "(SELECT id FROM push_sends WHERE key IS NOT NULL)"
        )
        conn.execute("DELETE FROM push_sends WHERE key IS NOT NULL")


def run_forked(jobs: list[Job], folder: Path, profile: str | None) -> list[tuple]:
    """Each job in a child forked from this process, as rq's work horse runs it."""
    for n, job in enumerate(jobs):
        pid = os.fork()
        if pid == 0:
            profiler = cProfile.Profile() if profile else None
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler and job.func_name.endswith("mail_member"):
                profiler.runcall(job.func, *job.args)
                profiler.dump_stats(folder / f"{n}.prof")
            else:
                job.func(*job.args)
            (folder / f"{n}.txt").write_text(
                f"{time.process_time() - cpu} {time.perf_counter() - wall}"
            )
            os._exit(0)
        os.waitpid(pid, 0)
    found = []
    for n, job in enumerate(jobs):
        cpu, wall = (float(x) for x in (folder / f"{n}.txt").read_text().split())
        found.append((job.func_name.rsplit(".", 1)[1], cpu, wall))
    return found


def run_here(jobs: list[Job]) -> list[tuple]:
    found = []
    for job in jobs:
        wall, cpu = time.perf_counter(), time.process_time()
        job.func(*job.args)
        found.append(
            (job.func_name.rsplit(".", 1)[1], time.process_time() - cpu, time.perf_counter() - wall)
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--profile", help="write the forked mail jobs' cProfile here")
    args = parser.parse_args()

    smtp = SmtpSink()
    port = _free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    fresh_database(args.database_url)
    data = setup(
        SimpleNamespace(
            database_url=args.database_url, redis_url=args.redis_url, customers=30, devices=5
        ),
        port,
    )
    app = create_app(
        {
            "PREMIA_DATABASE_URL": args.database_url,
            "PREMIA_REDIS_URL": args.redis_url,
            "PREMIA_SMTP_HOST": "127.0.0.1",
            "PREMIA_SMTP_PORT": port,
        }
    )
    jobs = queued_jobs(args, data, app)
    # As `premia worker` prepares itself before rq forks (core/cli.py).
    from sqlalchemy.orm import configure_mappers

    from worker.jobs import set_worker_app

    set_worker_app(app)
    configure_mappers()
    print(f"{len(jobs)} jobs; load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    results = {"forked": run_forked(jobs, folder, args.profile)}
    forget_deliveries(args)
    results["in process"] = run_here(jobs)
    mails = sum(smtp.received.values())
    controller.stop()

    table: dict = defaultdict(dict)
    for mode, rows in results.items():
        for name in {n for n, _c, _w in rows}:
            mine = [(c, w) for n, c, w in rows if n == name]
            table[name][mode] = (
                len(mine),
                sum(c for c, _w in mine) / len(mine),
                sum(w for _c, w in mine) / len(mine),
            )
    for name, modes in sorted(table.items()):
        (count, fork_cpu, fork_wall), (_n, here_cpu, here_wall) = (
            modes["forked"],
            modes["in process"],
        )
        print(
            f"{name:14s} {count:4d} jobs  CPU forked {fork_cpu * 1000:6.1f} ms, in process "
            f"{here_cpu * 1000:6.1f} ms ({fork_cpu / here_cpu:4.1f}×); "
            f"wall {fork_wall * 1000:6.1f} against {here_wall * 1000:6.1f} ms"
        )
    fork_total = sum(w for _n, _c, w in results["forked"])
    here_total = sum(w for _n, _c, w in results["in process"])
    print(
        f"all: {len(jobs) / fork_total:.1f} jobs/s forked, {len(jobs) / here_total:.1f} in "
        f"process ({fork_total / here_total:.1f}×); e-mails received {mails}; "
        f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}"
    )
    if args.profile:
        stats = pstats.Stats(*[str(p) for p in folder.glob("*.prof")])
        stats.dump_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
