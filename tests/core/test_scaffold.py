"""`premia plugin new`: the package it writes installs with pip, migrates, and passes its
own tests against Premia's fixtures (core.testing), outside the repo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from core.cli import main
from core.sdk import SDK_VERSION

BIN = Path(sys.executable).parent


def _new(*args: str):
    return CliRunner().invoke(main, ["plugin", "new", *args])


def test_a_new_plugin_installs_migrates_and_passes_its_own_tests(tmp_path):
    made = _new("stamps", "--dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    package = tmp_path / "premia-stamps"
    # written against this host's front door, whatever its version now
    assert f'sdk_version="{SDK_VERSION}"' in (package / "premia_stamps/__init__.py").read_text()
    site = tmp_path / "site"  # not the venv: the rest of the suite must not load it
    # ("stamps": examples/premia-greeting is installed as "greeting")
    subprocess.run(
        [
            BIN / "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            site,
            package,
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    database = f"sqlite:///{tmp_path / 'premia.db'}"
    upgraded = subprocess.run(
        [BIN / "premia", "db", "upgrade"],
        capture_output=True,
        text=True,
        env={**env, "PREMIA_DATABASE_URL": database},
    )
    assert upgraded.returncode == 0, upgraded.stderr
    engine = create_engine(database)
    with engine.connect() as conn:
        assert "stamps_bonuses" in inspect(conn).get_table_names()
        heads = conn.scalars(text("SELECT version_num FROM alembic_version")).all()
        assert "stamps_0001" in heads
    engine.dispose()

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        capture_output=True,
        text=True,
        env={**env, "PREMIA_TEST_DATABASE_URL": f"sqlite:///{tmp_path / 'tests.db'}"},
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout


def test_a_bad_name_or_a_taken_folder_is_refused(tmp_path):
    refused = _new("Greeting!", "--dir", str(tmp_path))
    assert refused.exit_code == 1 and "is not a plugin name" in refused.output
    assert list(tmp_path.iterdir()) == []
    assert _new("greeting", "--dir", str(tmp_path)).exit_code == 0
    again = _new("greeting", "--dir", str(tmp_path))
    assert again.exit_code == 1 and "already exists" in again.output
