"""The PostgreSQL and Redis the tests run against, throwaway ones when none is there.

For each of PREMIA_TEST_DATABASE_URL and PREMIA_TEST_REDIS_URL: a value that is set is
used as it is; unset, the machine's server (127.0.0.1:5432, :6379) is used when it answers,
as in CI; otherwise a PostgreSQL cluster (Debian's /usr/lib/postgresql/<version>/bin, or
initdb/pg_ctl on the PATH) or a redis-server is started on a free port of 127.0.0.1 in a
temporary folder, and stopped and removed when the run ends, also after a failure or Ctrl-C.
The chosen URLs are put in the environment, where the fixtures read them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_REDIS_URL",
    "MissingServer",
    "Throwaway",
    "choose",
    "postgres_bindir",
    "reachable",
    "redis_binary",
    "throwaway_postgres",
    "throwaway_redis",
]

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DATABASE_VARIABLE = "PREMIA_TEST_DATABASE_URL"
REDIS_VARIABLE = "PREMIA_TEST_REDIS_URL"
POSTGRES_ROOTS = (Path("/usr/lib/postgresql"),)  # Debian: one bin/ per installed version
INSTALL = "apt-get install postgresql redis-server"
DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379}
START_TIMEOUT = 30  # seconds


class MissingServer(RuntimeError):
    """No server answers and none can be started: the message says how to install one."""


@dataclass(frozen=True)
class Throwaway:
    """A server started for this run: its URL and the folder removed with it."""

    url: str
    folder: Path


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at the URL's host and port."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0])
    if not parts.hostname or not port:
        return False
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def choose(configured: str | None, default: str) -> str | None:
    """The server to test against: the configured one as it is, else the default when it
    answers; None means a throwaway one is to be started."""
    if configured:
        return configured
    return default if reachable(default) else None


def postgres_bindir(roots: Iterable[Path] | None = None, path: str | None = None) -> Path:
    """The newest folder holding initdb and pg_ctl: Debian's layout first, then the PATH."""
    candidates = []
    for root in POSTGRES_ROOTS if roots is None else roots:
        versions = [d for d in root.glob("*") if d.name.replace(".", "").isdigit()]
        versions.sort(key=lambda d: tuple(int(n) for n in d.name.split(".")), reverse=True)
        candidates += [d / "bin" for d in versions]
    on_path = shutil.which("pg_ctl", path=path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise MissingServer(
        "No PostgreSQL answers on 127.0.0.1:5432 and none is installed to start one for "
        f"the tests: `{INSTALL}` (or set {DATABASE_VARIABLE})."
    )


def redis_binary(path: str | None = None) -> str:
    found = shutil.which("redis-server", path=path)
    if not found:
        raise MissingServer(
            "No Redis answers on 127.0.0.1:6379 and redis-server is not installed to start "
            f"one for the tests: `{INSTALL}` (or set {REDIS_VARIABLE})."
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_owner(folder: Path) -> list[str]:
    """initdb refuses to run as root: as root, the cluster belongs to the `postgres`
    account (made by Debian's package), which gets the folder."""
    if os.geteuid() != 0:
        return []
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise MissingServer(
            "initdb refuses to run as root and there is no `postgres` "
            f"account to run it: `{INSTALL}`."
        ) from None
    os.chown(folder, account.pw_uid, account.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str], folder: Path, check: bool = True) -> None:
    # A session of its own: Ctrl-C in the terminal reaches pytest, which stops the
    # server in order, rather than the server itself.
    result = subprocess.run(
        command,
        cwd=folder,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=START_TIMEOUT * 2,
    )
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def throwaway_postgres(bindir: Path | None = None) -> Iterator[Throwaway]:
    """A PostgreSQL cluster in a temporary folder on a free port, with a database `test`
    and a superuser `postgres` trusted from 127.0.0.1; stopped and removed on exit."""
    bindir = bindir or postgres_bindir()
    folder = Path(tempfile.mkdtemp(prefix="premia-postgres-"))
    data, port = folder / "data", _free_port()
    try:
        owner = _as_postgres_owner(folder)
        _run(
            [
                *owner,
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ],
            folder,
        )
        # Durability is pointless for a cluster that is thrown away: fsync off is faster.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            [
                *owner,
                str(bindir / "pg_ctl"),
                "start",
                "--pgdata",
                str(data),
                "--wait",
                f"--timeout={START_TIMEOUT}",
                "--log",
                str(folder / "postgres.log"),
                "-o",
                options,
            ],
            folder,
        )
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute("CREATE DATABASE test")
            yield Throwaway(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test", folder)
        finally:
            # Immediate: nothing in it is kept, so there is nothing to write on the way out.
            # Unchecked: a server that died already is as good as stopped.
            _run(
                [
                    *owner,
                    str(bindir / "pg_ctl"),
                    "stop",
                    "--pgdata",
                    str(data),
                    "--wait",
                    "--mode",
                    "immediate",
                ],
                folder,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def throwaway_redis(binary: str | None = None) -> Iterator[Throwaway]:
    """A redis-server in a temporary folder on a free port, persisting nothing; stopped and
    removed on exit."""
    binary = binary or redis_binary()
    folder = Path(tempfile.mkdtemp(prefix="premia-redis-"))
    port = _free_port()
    try:
        with open(folder / "redis.log", "wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(folder),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_for_redis(port, process, folder)
            yield Throwaway(f"redis://127.0.0.1:{port}/15", folder)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_redis(port: int, process: subprocess.Popen, folder: Path) -> None:
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            client.ping()
            return
        except RedisConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server did not start:\n{log}") from None
            time.sleep(0.05)
        finally:
            client.close()


# The pytest plugin (loaded by tests/conftest.py).

_servers = pytest.StashKey[ExitStack]()
_chosen = pytest.StashKey[list[str]]()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # pytest then ends the run in order, stopping the servers


def pytest_configure(config: pytest.Config) -> None:
    stack = ExitStack()
    config.stash[_servers] = stack  # before starting anything: unconfigure closes it
    config.stash[_chosen] = chosen = []
    handling_sigterm = False
    for name, variable, default, start in (
        ("PostgreSQL", DATABASE_VARIABLE, DEFAULT_DATABASE_URL, throwaway_postgres),
        ("Redis", REDIS_VARIABLE, DEFAULT_REDIS_URL, throwaway_redis),
    ):
        configured = os.environ.get(variable)
        url = choose(configured, default)
        if url is not None:
            chosen.append(f"{name} {url} ({'configured' if configured else 'answering'})")
        else:
            if not handling_sigterm:  # a kill (CI's timeout) stops them as Ctrl-C does
                stack.callback(
                    signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _interrupt)
                )
                handling_sigterm = True
            try:
                server = stack.enter_context(start())
            except RuntimeError as error:  # MissingServer, or a server that did not start
                raise pytest.UsageError(str(error)) from None
            url = server.url
            chosen.append(f"{name} {url} (throwaway, in {server.folder})")
        stack.callback(_restore, variable, configured)
        os.environ[variable] = url


def _restore(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"test servers: {', '.join(config.stash.get(_chosen, []))}"]


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash[_servers].close()
