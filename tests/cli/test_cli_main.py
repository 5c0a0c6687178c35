"""The ``cairn`` entry point: help, version, error reporting, and a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import cairn
from cairn.cli import main
from cairn.cli.errors import CairnGroup
from cairn.exceptions import InvalidState

Invoke = Callable[..., Result]


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    for command in ("experiments", "runs", "artifacts", "db", "gc", "server", "ui"):
        assert f"  {command} " in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == f"cairn, version {cairn.__version__}"


def _group_raising(exc: Exception) -> click.Group:
    @click.group(cls=CairnGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise exc

    return group


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (InvalidState("The database\nis  stale."), "Error: The database is stale."),
        (FileNotFoundError(2, "No such file or directory"), "Error: [Errno 2] No such file"),
        (KeyError("surprise"), "Error: unexpected KeyError: 'surprise'"),
    ],
)
def test_failures_become_one_line(
    exc: Exception, expected: str, assert_one_line_error: Callable[..., None]
) -> None:
    result = CliRunner().invoke(_group_raising(exc), ["boom"])

    assert result.exit_code == 1
    assert_one_line_error(result)
    assert result.stderr.startswith(expected)


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["experimentz"])

    assert result.exit_code == 2
    assert "No such command 'experimentz'" in result.stderr


def _python_m_cairn(*args: str, tracking_uri: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_TRACKING_URI": tracking_uri}
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_m_cairn_in_a_real_process(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'proc.db'}"

    created = _python_m_cairn(
        "experiments", "create", "-n", "subprocess", tracking_uri=uri, cwd=tmp_path
    )
    listed = _python_m_cairn("experiments", "search", tracking_uri=uri, cwd=tmp_path)
    failed = _python_m_cairn(
        "experiments", "create", "-n", "subprocess", tracking_uri=uri, cwd=tmp_path
    )

    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Created experiment 'subprocess' with id ")
    assert "subprocess" in listed.stdout
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith("Error: ")
    assert "subprocess" in failed.stderr


def test_importing_the_cli_loads_nothing_heavy() -> None:
    # `cairn --help` and the data commands should start fast; the server stack loads
    # only inside `cairn server`.
    code = (
        "import sys, cairn.cli\n"
        "heavy = {'sqlalchemy', 'fastapi', 'uvicorn', 'pandas', 'pydantic', 'requests'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
