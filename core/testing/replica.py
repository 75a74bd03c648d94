"""A real streaming replica of the test PostgreSQL, for the tests of reads on a replica.

`streaming_replica` (session-scoped; PostgreSQL runs only: the tests that use it are
marked `postgres`) copies the test server's cluster with `pg_basebackup -R` into a
temporary folder, starts it as a hot standby on a free port of 127.0.0.1, waits until it
streams, and stops and removes it at the end. The copy is the whole cluster: quick for
a CI server holding only small databases.

The server must accept replication connections from 127.0.0.1: a pg_hba.conf line
`host replication all 127.0.0.1/32 trust` (.ci/run adds it). As root, the copy belongs
to the `postgres` account, as core/testing/servers.py's throwaway clusters do.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.testing.servers import (
    START_TIMEOUT,
    _as_postgres_owner,
    _free_port,
    _run,
    postgres_bindir,
)

__all__ = ["StreamingReplica", "start_replica", "streaming_replica"]

HBA_LINE = "host replication all 127.0.0.1/32 trust"
# A standby refuses to start with less of these than its primary has.
AT_LEAST_THE_PRIMARYS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


@dataclass
class StreamingReplica:
    """A hot standby of the test server: its URLs, and what a test does to it."""

    primary_url: str  # the test database's (SQLAlchemy) URL
    port: int
    folder: Path
    bindir: Path
    owner: list[str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        """The test database on the replica (SQLAlchemy URL)."""
        return make_url(self.primary_url).set(port=self.port).render_as_string(False)

    def connect(self) -> psycopg.Connection:
        """A psycopg connection to the replica's test database, autocommit."""
        return _connect(self.url)

    def primary(self) -> psycopg.Connection:
        return _connect(self.primary_url)

    def _pg_ctl(self, *arguments: str, check: bool = True) -> None:
        _run([*self.owner, str(self.bindir / "pg_ctl"), *arguments], self.folder, check=check)

    def start(self) -> None:
        """Start the standby and wait until it streams from the primary."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
            " -c hot_standby=on -c wal_receiver_status_interval=1s"
        )
        log = str(self.folder / "postgres.log")
        self._pg_ctl(
            "start", "-D", str(self.data), "-w", f"-t{START_TIMEOUT}", "-l", log, "-o", options
        )
        self.wait_streaming()

    def stop(self) -> None:
        self._pg_ctl("stop", "-D", str(self.data), "-w", "-m", "fast")

    def wait_streaming(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with self.connect() as conn:
                    row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                if row and row[0] == "streaming":
                    return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                log = (self.folder / "postgres.log").read_text(errors="replace")
                raise RuntimeError(f"the replica does not stream:\n{log[-3000:]}")
            time.sleep(0.1)

    def wait_caught_up(self) -> None:
        """Until the replica has replayed everything the primary wrote so far."""
        with self.primary() as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + START_TIMEOUT
        with self.connect() as conn:
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the replica did not catch up")
                time.sleep(0.05)

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """Replay stopped (WAL still received): the replica lags behind until the end."""
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            with self.connect() as conn:
                conn.execute("SELECT pg_wal_replay_resume()")


def _connect(url: str) -> psycopg.Connection:
    parts = make_url(url)
    return psycopg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        dbname=parts.database,
        autocommit=True,
    )


@contextmanager
def start_replica(primary_url: str) -> Iterator[StreamingReplica]:
    """A streaming standby of the server of `primary_url`, stopped and removed on exit."""
    with _connect(primary_url) as conn:
        major = conn.info.server_version // 10000
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (list(AT_LEAST_THE_PRIMARYS),),
            ).fetchall()
        )
    same_version = Path(f"/usr/lib/postgresql/{major}/bin")  # Debian's layout
    bindir = same_version if (same_version / "pg_ctl").is_file() else postgres_bindir()
    folder = Path(tempfile.mkdtemp(prefix="premia-replica-"))
    parts = make_url(primary_url)
    try:
        owner = _as_postgres_owner(folder)
        replica = StreamingReplica(primary_url, _free_port(), folder, bindir, owner)
        command = [
            *owner,
            str(bindir / "pg_basebackup"),
            f"--host={parts.host}",
            f"--port={parts.port or 5432}",
            f"--username={parts.username}",
            f"--pgdata={replica.data}",
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
        ]
        try:
            _run(command, folder)
        except RuntimeError as error:
            raise RuntimeError(
                f"{error}\nThe test server must accept replication connections: add "
                f"`{HBA_LINE}` to its pg_hba.conf and reload it (.ci/run does)."
            ) from None
        # Debian keeps the configuration outside the data folder: the copy gets its own.
        config = "".join(f"{name} = {value}\n" for name, value in settings.items())
        for name, text in (
            ("postgresql.conf", config),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
            ("pg_ident.conf", ""),
        ):
            path = replica.data / name
            path.write_text(text)
            if owner:
                shutil.chown(path, "postgres", "postgres")
        replica.start()
        try:
            yield replica
        finally:
            replica._pg_ctl("stop", "-D", str(replica.data), "-w", "-m", "immediate", check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def streaming_replica(database_url: str) -> Iterator[StreamingReplica]:
    """A hot standby streaming from the test server (after the test database is migrated)."""
    with start_replica(database_url) as replica:
        yield replica
