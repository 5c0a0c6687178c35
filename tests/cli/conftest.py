"""Fixtures for driving the ``cairn`` command line against a real store in tmp."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from cairn.cli import main
from cairn.tracking.client import MlflowClient
from cairn.tracking.uri import set_tracking_uri

Invoke = Callable[..., Result]


@pytest.fixture(params=["sqlite", "file"])
def tracking_uri(request: pytest.FixtureRequest, store_uri_factory: Callable[[str], str]) -> str:
    """A fresh local tracking store; the CLI finds it through CAIRN_TRACKING_URI."""
    set_tracking_uri(None)  # an earlier test's set_tracking_uri() must not win over the env
    return store_uri_factory(request.param)


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


@pytest.fixture
def cairn(tracking_uri: str) -> Invoke:
    """Run ``cairn <args>`` in-process; returns click's Result (stdout and stderr apart)."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(
            main, list(args), env={"CAIRN_TRACKING_URI": tracking_uri, **(env or {})}
        )

    return invoke


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def assert_one_line_error() -> Callable[..., None]:
    """Checks that a command failed with one ``Error: ...`` line and no traceback."""
    return _assert_one_line_error
