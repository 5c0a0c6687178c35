"""``cairn db upgrade``: creates or migrates a real database's schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cairn.cli import main
from cairn.tracking.client import MlflowClient


def test_upgrade_creates_the_schema_of_a_new_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"

    result = CliRunner().invoke(main, ["db", "upgrade", url])

    assert result.exit_code == 0, result.output
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables


def test_upgrade_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'used.db'}"
    experiment_id = MlflowClient(url).create_experiment("kept")

    first = CliRunner().invoke(main, ["db", "upgrade", url])
    second = CliRunner().invoke(main, ["db", "upgrade", url])

    assert first.exit_code == second.exit_code == 0
    assert MlflowClient(url).get_experiment(experiment_id).name == "kept"


@pytest.mark.parametrize("url", ["notadb://x", "sqlite:////nonexistent-dir/sub/x.db"])
def test_bad_url_is_reported_without_traceback(url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", url])

    assert result.exit_code != 0
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_error(
    assert_one_line_error: Callable[..., None],
) -> None:
    # Port 9 (discard) has no database listening on loopback.
    result = CliRunner().invoke(main, ["db", "upgrade", "postgresql://nobody@127.0.0.1:9/x"])

    assert_one_line_error(result, "Could not upgrade the database")
