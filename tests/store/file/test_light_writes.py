"""A script that only logs to an ``mlruns`` store never loads SQLAlchemy.

Its search index is created by the first search, and written with stdlib ``sqlite3``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.store.file import layout

SQL_LIBRARIES = {"sqlalchemy", "alembic"}

TINY_SCRIPT = """
import json, sys
import cairn as mlflow
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run() as run:
    mlflow.log_param("alpha", sys.argv[2])
    mlflow.log_metric("rmse", 0.25)
    mlflow.set_tag("t", "v")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _log_in_new_process(root: Path, alpha: str) -> set[str]:
    """Run the tiny script; the top-level modules it had loaded at the end."""
    done = subprocess.run(
        [sys.executable, "-c", TINY_SCRIPT, str(root), alpha],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _alphas(root: Path) -> list[str]:
    client = cairn.MlflowClient(tracking_uri=str(root))
    runs = client.search_runs(["0"], order_by=["params.alpha"])
    return [run.data.params["alpha"] for run in runs]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


def test_logging_to_a_new_store_loads_no_sql_library(root: Path) -> None:
    assert _log_in_new_process(root, "a") & SQL_LIBRARIES == set()
    assert not (root / layout.INDEX_FILE).exists()
    assert _alphas(root) == ["a"]  # the first search builds the index from the files


def test_logging_beside_an_existing_index_loads_no_sql_library(root: Path) -> None:
    _log_in_new_process(root, "a")
    assert _alphas(root) == ["a"]
    assert (root / layout.INDEX_FILE).exists()
    assert _log_in_new_process(root, "b") & SQL_LIBRARIES == set()
    assert _alphas(root) == ["a", "b"]


def test_the_check_itself_sees_sql_libraries(root: Path) -> None:
    _log_in_new_process(root, "a")
    code = f"import cairn; cairn.set_tracking_uri({str(root)!r}); cairn.search_runs(['0'])"
    code += "\nimport sys; print('sqlalchemy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "True"
