"""The servers the tests run against: configured, the machine's when they answer, else
throwaway ones started for the run and removed after it (also after a failure or Ctrl-C)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from sqlalchemy.engine import make_url

from core.testing.servers import (
    INSTALL,
    MissingServer,
    choose,
    postgres_bindir,
    reachable,
    redis_binary,
    throwaway_postgres,
    throwaway_redis,
)

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_an_unreachable_default_means_a_throwaway_server():
    database = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    redis = f"redis://127.0.0.1:{_closed_port()}/15"
    assert not reachable(database) and not reachable(redis)
    assert choose(None, database) is None
    assert choose("", redis) is None


def test_a_default_that_answers_is_used():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/15"
        assert choose(None, url) == url


def test_a_configured_server_is_used_as_configured():
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    assert choose("sqlite:////tmp/premia-test.db", unreachable) == "sqlite:////tmp/premia-test.db"
    assert choose(unreachable, "postgresql+psycopg://postgres@127.0.0.1/test") == unreachable


def test_a_throwaway_postgresql_answers_then_is_gone():
    with throwaway_postgres() as server:
        assert server.folder.is_dir()
        with psycopg.connect(_conninfo(server.url)) as conn:
            assert conn.execute("SELECT current_database(), current_user").fetchone() == (
                "test",
                "postgres",
            )
            assert conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone() == (True,)  # the suite's cleanup uses replica mode
    assert not server.folder.exists()
    assert not reachable(server.url)


def test_a_throwaway_redis_answers_then_is_gone():
    with throwaway_redis() as server:
        client = Redis.from_url(server.url)
        client.set("premia", "1")
        assert client.get("premia") == b"1"
        client.close()
    assert not server.folder.exists()
    assert not reachable(server.url)


def test_missing_binaries_say_in_one_line_how_to_install_them(tmp_path):
    with pytest.raises(MissingServer) as postgres:
        postgres_bindir(roots=[tmp_path], path=str(tmp_path))
    with pytest.raises(MissingServer) as redis:
        redis_binary(path=str(tmp_path))
    for error in (postgres, redis):
        assert INSTALL in str(error.value) and "\n" not in str(error.value)
    assert INSTALL == "apt-get install postgresql redis-server"


# A whole pytest run, as `make test` starts it, on a machine where nothing answers: the
# defaults point at closed ports and nothing is configured.

INNER_TEST = """
import json, os, time
import psycopg
from redis import Redis
from sqlalchemy.engine import make_url

def test_the_servers_answer():
    database, redis = os.environ["PREMIA_TEST_DATABASE_URL"], os.environ["PREMIA_TEST_REDIS_URL"]
    conninfo = make_url(database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert Redis.from_url(redis).ping()
    with open({record!r}, "w") as record:
        json.dump([database, redis], record)

def test_the_next_one():
    {body}
"""


@pytest.fixture
def temp_root() -> Iterator[Path]:
    """The inner run's TMPDIR: one the `postgres` account can enter (a root-owned pytest
    tmp_path is not), so the throwaway cluster can be made there."""
    folder = Path(tempfile.mkdtemp(prefix="premia-test-servers-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _inner_run(
    tmp_path: Path, temp_root: Path, *, body: str, conftest_extra: str = "", path: str | None = None
) -> tuple[list[str], dict[str, str], Path]:
    closed = (_closed_port(), _closed_port())
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(f"""
        import core.testing.servers as servers
        servers.DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:{closed[0]}/t"
        servers.DEFAULT_REDIS_URL = "redis://127.0.0.1:{closed[1]}/15"
    """)
        + textwrap.dedent(conftest_extra)
    )
    record = tmp_path / "record.json"
    (tmp_path / "test_inner.py").write_text(INNER_TEST.format(record=str(record), body=body))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PREMIA_TEST_DATABASE_URL", "PREMIA_TEST_REDIS_URL")
    }
    # Only core/testing/servers.py as a plugin (-p): the installed ones (schemathesis…) load slowly.
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(temp_root), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if path is not None:
        env["PATH"] = path
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "core.testing.servers",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        str(tmp_path),
    ]
    return command, env, record


def _assert_gone(record: Path, temp_root: Path) -> None:
    database, redis = json.loads(record.read_text())
    assert not reachable(database) and not reachable(redis)
    assert list(temp_root.iterdir()) == []  # both folders removed


def test_a_run_with_no_server_starts_its_own_and_removes_them_after(tmp_path, temp_root):
    command, env, record = _inner_run(tmp_path, temp_root, body="assert False, 'a failure'")
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    database, redis = json.loads(record.read_text())
    assert make_url(database).port != 5432 and "127.0.0.1:6379" not in redis
    _assert_gone(record, temp_root)


@pytest.mark.parametrize("interruption", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_run_removes_them_too(tmp_path, temp_root, interruption):
    command, env, record = _inner_run(tmp_path, temp_root, body="time.sleep(120)")
    # A session of its own, signalled as a whole, as a terminal's Ctrl-C is.
    process = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not record.exists() or not record.read_text():
            assert process.poll() is None and time.monotonic() < deadline, "no servers"
            time.sleep(0.1)
        os.killpg(process.pid, interruption)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # SIGTERM: the run still stops its servers
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    _assert_gone(record, temp_root)


def test_a_run_without_the_binaries_says_how_to_install_them(tmp_path, temp_root):
    command, env, _ = _inner_run(
        tmp_path,
        temp_root,
        body="pass",
        conftest_extra="servers.POSTGRES_ROOTS = ()",
        path=str(tmp_path),
    )
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and INSTALL in errors[0] and "PostgreSQL" in errors[0], errors


def test_a_run_without_redis_removes_the_cluster_it_started(tmp_path, temp_root):
    """PostgreSQL is found and started, redis-server is not: the one line, and no cluster
    left behind."""
    tools = tmp_path / "bin"  # a PATH with runuser (for root) and no redis-server
    tools.mkdir()
    runuser = shutil.which("runuser")
    if runuser:
        (tools / "runuser").symlink_to(runuser)
    started = tmp_path / "started"
    command, env, _ = _inner_run(
        tmp_path,
        temp_root,
        body="pass",
        path=str(tools),
        conftest_extra=f"""
        import contextlib
        start = servers.throwaway_postgres

        @contextlib.contextmanager
        def recorded():
            with start() as server:
                open({str(started)!r}, "w").write(server.url)
                yield server

        servers.throwaway_postgres = recorded
    """,
    )
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and INSTALL in errors[0] and "Redis" in errors[0], errors
    assert not reachable(started.read_text())  # it had started, and is stopped
    assert list(temp_root.iterdir()) == []
