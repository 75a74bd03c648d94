"""Benchmark of the csv_import plugin: customers with opening points, and points in
bulk, imported from files written here, into PostgreSQL, beside a baseline in the
same run: reading the same file (CsvTable.rows(), every cell) without importing it,
and reading it and COPYing every row as text into a table.

    python bench/csv_import.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_csv \\
        --redis-url redis://127.0.0.1:6379/8 --rows 100000

Creates (or empties) the database and migrates it, then for one merchant (white
label, es-CO, 1 point per 1,000) writes a customers file of `--rows` rows (names, an
e-mail, a document, a phone, a birthday, opening points; one row in 100 defective)
and runs the import as the job does (`importing.run`: per-row validation, each row's
report line), then a points file naming each customer by e-mail. Prints the seconds
of each, the baseline's, the ratio, rows per second, the statements per row, and the
peak of Python memory (tracemalloc) against the file's size: flat means the file is
streamed, never held whole; the CPU seconds of this process (Python's share, apart
from PostgreSQL's and from waiting on a loaded machine); and the jobs the import
queued on the mail queue (the welcome e-mails of the customers it created, a chunk
of members per job: queued on Redis as in production, not sent here; the bench
empties the mail queue after).
`--statements` adds, per statement, its wall time and its PostgreSQL backend's CPU
time (read from /proc/PID/schedstat: for a server on this machine), which a loaded
machine inflates far less than the wall clock; `--sql` runs a statement after the
migrations (to weigh a dropped index or constraint); `--only customers`.
Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.api import fresh_database, libpq  # noqa: E402
from core.app import create_app  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty.program import update_program  # noqa: E402
from core.web.csv_reader import open_csv  # noqa: E402
from plugins.csv_import import importing  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_csv"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"


def write_customers(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        out = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        out.writerow(
            [
                "nombres",
                "apellidos",
                "email",
                "documento_de_identidad",
                "telefono",
                "fecha_de_nacimiento",
                "puntos",
            ]
        )
        for n in range(rows):
            email = f"c{n}@bench.example" if n % 100 != 7 else "no-es-correo"
            out.writerow(
                [
                    f"Nombre{n}",
                    "Pérez",
                    email,
                    f"{10_000_000 + n}",
                    f"300{n:07d}",
                    f"{1 + n % 28:02d}/{1 + n % 12:02d}/19{60 + n % 40}",
                    f"{n % 3000}",
                ]
            )


def write_points(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        out = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        out.writerow(["email", "puntos", "descripcion", "referencia"])
        for n in range(rows):
            out.writerow([f"c{n}@bench.example", str(1 + n % 50), "Campaña", f"R-{n}"])


def baseline(path: Path) -> float:
    start = time.perf_counter()
    cells = 0
    for _number, row in open_csv(path).rows():
        cells += len(row)
    return time.perf_counter() - start


def baseline_copy(app, path: Path) -> float:
    """Reading the file and COPYing every row as text into a table: the floor of any
    import that writes each row once."""
    table = open_csv(path)
    columns = ", ".join(f"c{i} text" for i in range(len(table.header)))
    start = time.perf_counter()
    with app.extensions["premia"].engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_copy")
            cursor.execute(f"CREATE TEMPORARY TABLE bench_copy ({columns})")
            with cursor.copy("COPY bench_copy FROM STDIN") as copy:
                for _number, row in table.rows():
                    copy.write_row(row)
        raw.commit()
    return time.perf_counter() - start


class StatementTimes:
    """Each statement's wall time and its PostgreSQL backend's CPU time (from the
    backend's /proc/PID/schedstat: the database server runs on this machine), summed by
    the statement's opening words: the database's share per statement, which a loaded
    machine inflates far less than the wall time. COPYs and commits go straight to the
    driver (no event): they are the remainder of the backend's CPU over the whole import."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.first: dict[int, float] = {}  # backend pid → its CPU when first seen

    @staticmethod
    def cpu(pid: int) -> float:
        with open(f"/proc/{pid}/schedstat") as stream:
            return int(stream.read().split()[0]) / 1e9

    def before(self, conn, _cursor, statement, *_args) -> None:
        pid = conn.connection.driver_connection.info.backend_pid
        cpu = self.cpu(pid)
        self.first.setdefault(pid, cpu)
        conn.info["bench_started"] = (time.perf_counter(), cpu, pid)

    def after(self, conn, _cursor, statement, *_args) -> None:
        wall, cpu, pid = conn.info.pop("bench_started")
        words = re.sub(r"\s+", " ", statement).strip()[:70]
        total = self.times.setdefault(words, [0, 0.0, 0.0])
        total[0] += 1
        total[1] += time.perf_counter() - wall
        total[2] += self.cpu(pid) - cpu

    def backends(self) -> float:
        return sum(
            self.cpu(pid) - first
            for pid, first in self.first.items()
            if os.path.exists(f"/proc/{pid}")
        )

    def report(self, backend_cpu: float) -> None:
        listed = sorted(self.times.items(), key=lambda item: -item[1][2])
        print(f"  backend CPU {backend_cpu:.2f} s; by statement (count, wall s, backend CPU s):")
        for words, (count, wall, cpu) in listed[:14]:
            print(f"    {count:5d} {wall:7.2f} {cpu:7.2f}  {words}")
        rest = backend_cpu - sum(cpu for _c, _w, cpu in self.times.values())
        print(f"          COPYs, commits and the rest: {rest:.2f} s backend CPU")


def run_import(
    app,
    tenant_id: int,
    path: Path,
    kind: str,
    memory: bool = True,
    statement_times: bool = False,
) -> tuple[float, int, int, dict, int, float, float]:
    folder = importing.upload_folder(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"bench-{kind}.csv"
    shutil.copyfile(path, stored)
    platform = app.extensions["premia"]
    statements = [0]

    def count(*_args: object) -> None:
        statements[0] += 1

    mail = platform.jobs.queue("mail")
    queued = mail.count
    backends: dict[int, float] = {}  # backend pid → its CPU when first seen

    def backend(conn, *_args: object) -> None:
        pid = conn.connection.driver_connection.info.backend_pid
        if pid not in backends:
            backends[pid] = StatementTimes.cpu(pid)

    event.listen(platform.engine, "before_cursor_execute", count)
    event.listen(platform.engine, "before_cursor_execute", backend)
    timed = StatementTimes() if statement_times else None
    if timed:
        event.listen(platform.engine, "before_cursor_execute", timed.before)
        event.listen(platform.engine, "after_cursor_execute", timed.after)
    if memory:  # tracemalloc roughly doubles the time: `--no-memory` for the time alone
        tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    with tenant_session(platform.sessions, tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        imported = importing.accept(session, tenant, kind=kind, path=stored, filename=path.name)
        importing.start(session, imported)
        session.commit()
        importing.run(session, tenant, imported)
        counts = {k: getattr(imported, k) for k in ("done", "created", "granted", "refused")}
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = 0
    if memory:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # The database's CPU: the import's backends since their first statement (COPYs and
    # commits included), read from the server's /proc (a server on this machine).
    each = [
        StatementTimes.cpu(pid) - first
        for pid, first in backends.items()
        if os.path.exists(f"/proc/{pid}")
    ]
    backend_cpu = sum(each)
    # Per connection (the writers' of a customers file work at once, on both cores): on
    # idle cores the wall time cannot go below the largest of these, nor below the
    # process's CPU (one interpreter lock), nor below the sum of all over the cores.
    print("  PostgreSQL CPU by connection: " + " + ".join(f"{c:.2f}" for c in sorted(each)))
    event.remove(platform.engine, "before_cursor_execute", count)
    event.remove(platform.engine, "before_cursor_execute", backend)
    if timed:
        event.remove(platform.engine, "before_cursor_execute", timed.before)
        event.remove(platform.engine, "after_cursor_execute", timed.after)
    if timed:
        timed.report(timed.backends())
    queued = mail.count - queued
    mail.empty()  # no worker runs here: nobody is mailed
    return seconds, statements[0], peak, counts, queued, cpu, backend_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="its mail queue is emptied")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-memory", action="store_true", help="no tracemalloc (it slows)")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="each statement's wall time and PostgreSQL backend CPU (server on this machine)",
    )
    parser.add_argument("--only", choices=("customers", "points"), help="import only this file")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="check each batch before writing it, not the next one in a thread meanwhile",
    )
    parser.add_argument(
        "--sql",
        action="append",
        default=[],
        help="a statement run after the migrations (repeatable): to weigh a schema change",
    )
    args = parser.parse_args()
    if args.serial:
        importing.WRITERS = 1
    fresh_database(args.database_url)
    # On Redis, as in production: the jobs the import queues (welcome e-mails) are
    # queued, not run in-process as the embedded runner would.
    app = create_app({"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": args.redis_url})
    upgrade(app)
    if args.sql:  # an experiment's schema change (a dropped index…), after the migrations
        with psycopg.connect(libpq(args.database_url), autocommit=True) as conn:
            for statement in args.sql:
                conn.execute(statement)
    with app.app_context():
        platform = app.extensions["premia"]
        with platform_session(platform.sessions) as session:
            tenant = create_tenant(
                session,
                slug="bench",
                name="Bench",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email="owner@bench.example",
                owner_password="bench-password",
            )
            session.commit()
            tenant_id = tenant.id
        with tenant_session(platform.sessions, tenant_id) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            session.commit()
        folder = Path(tempfile.mkdtemp(prefix="bench-csv-"))
        for kind, write in (("customers", write_customers), ("points", write_points)):
            if args.only == "customers" and kind == "points":
                continue
            path = folder / f"{kind}.csv"
            write(path, args.rows)
            size = path.stat().st_size
            base = baseline(path)
            copied = baseline_copy(app, path)
            seconds, statements, peak, counts, queued, cpu, backend_cpu = run_import(
                app,
                tenant_id,
                path,
                kind,
                memory=not args.no_memory,
                statement_times=args.statements,
            )
            print(
                f"{kind}: {args.rows:,} rows ({size / 1e6:.1f} MB) in {seconds:.2f} s "
                f"({args.rows / seconds:,.0f} rows/s, {cpu:.2f} s of this process's CPU, "
                f"{backend_cpu:.2f} s of PostgreSQL's; wall ÷ their sum "
                f"{seconds / (cpu + backend_cpu):.2f}); "
                f"baseline (reading the file) {base:.2f} s; "
                f"ratio {seconds / base:.1f}x; baseline (reading it and COPYing it into a "
                f"table) {copied:.2f} s, ratio {seconds / copied:.1f}x; "
                f"{statements} statements ({statements / args.rows:.3f}/row); "
                f"peak Python memory {peak / 1e6:.1f} MB; {queued} mail jobs queued; {counts}"
            )
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
