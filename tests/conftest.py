"""Shared fixtures: temporary stores, real database URLs, and the reference MLflow."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL = os.environ.get(
    "CAIRN_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432"
)
MYSQL_URL = os.environ.get("CAIRN_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
REPO_ROOT = Path(__file__).resolve().parent.parent
# The reference MLflow lives in its own virtualenv so its pins never touch Cairn's.
MLFLOW_PYTHON = Path(
    os.environ.get("CAIRN_TEST_MLFLOW_PYTHON", REPO_ROOT / ".venv-mlflow" / "bin" / "python")
)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's tracking settings or writes into the repository or
    the user's cache (where offline journals live)."""
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "CAIRN_")) and not name.startswith("CAIRN_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _fresh_database(server_url: str) -> str:
    """Create an empty database on a real server and return its URL."""
    import sqlalchemy as sa

    name = f"cairn_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(
        server_url + ("/postgres" if "postgresql" in server_url else "/"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        if "mysql" in server_url:
            conn.execute(
                sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
        else:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{server_url}/{name}"


def _drop_database(server_url: str, url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(
        server_url + ("/postgres" if "postgresql" in server_url else "/"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        if "postgresql" in server_url:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One database for the session; tests clear it through ``wipe_database``."""
    url = _fresh_database(POSTGRES_URL)
    yield url
    _drop_database(POSTGRES_URL, url)


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    url = _fresh_database(MYSQL_URL)
    yield url
    _drop_database(MYSQL_URL, url)


_wipe_plans: dict[str, tuple[Any, list[Any]]] = {}


def wipe_database(url: str) -> None:
    """Delete every row of every Cairn table, keeping the schema and its version."""
    import sqlalchemy as sa

    plan = _wipe_plans.get(url)
    if plan is None:
        engine = sa.create_engine(url)
        meta = sa.MetaData()
        meta.reflect(engine)
        tables = [t for t in reversed(meta.sorted_tables) if t.name != "alembic_version"]
        if not tables:  # schema not created yet: nothing to wipe, reflect again next time
            engine.dispose()
            return
        plan = _wipe_plans[url] = (engine, tables)
    engine, tables = plan
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())


BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
    "file",
]


@pytest.fixture
def store_uri_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Returns a function backend-name -> URI of an empty store of that kind."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / 'cairn.db'}"
        if backend == "file":
            return str(tmp_path / "mlruns")
        if backend == "postgresql":
            url = request.getfixturevalue("postgres_database")
        elif backend == "mysql":
            url = request.getfixturevalue("mysql_database")
        else:
            raise ValueError(backend)
        wipe_database(url)
        return url

    return make


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    """The interpreter of the reference MLflow venv; tests needing it skip without it."""
    if not MLFLOW_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference MLflow missing at {MLFLOW_PYTHON}; scripts/test installs it")
        pytest.skip(f"reference MLflow not installed at {MLFLOW_PYTHON}")
    return MLFLOW_PYTHON
