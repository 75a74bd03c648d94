"""The wheel `pip install .` builds: no setuptools warning, every file the app reads inside,
and the app it installs runs outside the repository.

The wheel is built from a copy of the packages' folders, so a `build/` left in the
working tree by an earlier build cannot hide a file missing from the configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("core", "tenants", "plugins", "worker", "migrations", "themes")
PROJECT_FILES = ("setup.cfg", "pyproject.toml", "README.md")


def _tree_files() -> set[str]:
    """Every file under the packages' folders (the .mo catalogs compiled by `make
    translations` included), as paths relative to the repository."""
    found = set()
    for top in PACKAGE_ROOTS:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(ROOT).as_posix())
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """(the wheel, the build's log) from a clean copy of the project."""
    source = tmp_path_factory.mktemp("source")
    for name in _tree_files() | set(PROJECT_FILES):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=source,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    [wheel] = out.glob("premia-*.whl")
    return wheel, log


def test_the_build_gives_no_setuptools_warning(built):
    _, log = built
    assert "absent from the `packages` configuration" not in log
    # setuptools' warnings are classes (BuildBackendWarning, SetuptoolsDeprecationWarning…)
    assert re.findall(r"\b\w*Warning\b.*", log) == []


def test_the_wheel_holds_every_file_of_the_packages(built):
    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = _tree_files()
    assert tree - names == set()
    # The kinds of data the app reads at run time are all there, compiled catalogs too.
    for kind in ("/templates/", "/static/", "/translations/", "migrations/", "theme.json"):
        assert any(kind in name for name in tree), kind
    catalogs = [name for name in tree if name.endswith("/LC_MESSAGES/messages.po")]
    assert len(catalogs) >= 3 * 9  # es, en, pt_BR for core and each built-in plugin
    assert {name[:-3] + ".mo" for name in catalogs} <= names


def test_the_installed_app_runs_outside_the_repository(built, tmp_path):
    """Unpacked as pip installs it and run from elsewhere: migrations, theme templates,
    static files, plugins' templates and compiled translations are found in the wheel."""
    wheel, _ = built
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = textwrap.dedent(f"""
        import core
        assert core.__file__.startswith({str(site)!r}), core.__file__
        from core.app import create_app
        from core.host.db import platform_session
        from core.host.migrate import upgrade
        from tenants import services

        app = create_app({{"PREMIA_DATABASE_URL": "sqlite:///{tmp_path}/premia.db",
                          "PREMIA_REDIS_URL": None}})
        with app.app_context():
            upgrade(app)
            with platform_session(app.extensions["premia"].sessions) as session:
                for slug, language in (("cafe", "es"), ("loja", "pt_BR")):
                    services.create_tenant(
                        session, slug=slug, name=slug, plan="white-label", currency="COP",
                        country="CO", timezone="America/Bogota", language=language,
                        owner_email=f"owner@{{slug}}.example", owner_password="correct-horse-9")
                session.commit()
        client = app.test_client()
        spanish = client.get("/t/cafe/login").get_data(as_text=True)
        assert "Iniciar sesión" in spanish, spanish
        assert "Entrar" in client.get("/t/loja/login").get_data(as_text=True)
        assert client.get("/themes/default/static/premia.css").status_code == 200
        assert client.get("/api/v1/docs").status_code == 200, "the api plugin's template"
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(site), "PREMIA_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
