"""``import cairn`` stays light: nothing heavy loads until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = {
    "sqlalchemy",
    "alembic",
    "pandas",
    "numpy",
    "fastapi",
    "starlette",
    "pydantic",
    "requests",
    "yaml",
}


def _top_level_modules_after(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after ``statement``."""
    code = f"{statement}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import cairn",
        "import cairn.tracking",
        "import cairn.client",
        "import cairn; cairn.start_run; cairn.MlflowClient; cairn.entities; cairn.exceptions",
        "import cairn; cairn.tracking.MlflowClient(); cairn.get_tracking_uri()",
    ],
)
def test_nothing_heavy_is_imported(statement: str) -> None:
    assert _top_level_modules_after(statement) & HEAVY == set()


def test_the_check_itself_sees_heavy_imports() -> None:
    assert "pandas" in _top_level_modules_after("import cairn, pandas")


def test_a_tracking_server_starts_without_numpy_or_pandas() -> None:
    """Only charts over a store without SQL bucketing (and DataFrame results) need them;
    numpy alone was ~0.3 s of the server's start-up and ~12 MiB of its memory."""
    loaded = _top_level_modules_after(
        "import tempfile; from cairn.server.app import create_app; "
        "from cairn.store.registry import create_tracking_store; d = tempfile.mkdtemp(); "
        "create_app(create_tracking_store(f'sqlite:///{d}/s.db', d), artifacts_destination=d)"
    )
    assert "fastapi" in loaded
    assert loaded & {"numpy", "pandas"} == set()
