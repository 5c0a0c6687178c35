"""Fuzzing every operation of the server's own OpenAPI document with schemathesis.

Whatever a client sends, the server answers a client mistake with a 4xx carrying MLflow's
error body ``{"error_code", "message"}``, never a 500; and every answer matches the
response schema the document declares. Generated ids rarely name anything, so half of
the cases are pointed at a real experiment and run to reach the code behind the lookup.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from server.live import LiveServer, running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

# Examples per operation: about thirty operations, so a few hundred requests in all.
EXAMPLES = int(os.environ.get("CAIRN_TEST_FUZZ_EXAMPLES", "50"))


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: fuzzed deletes may remove anything under its destination."""
    root = tmp_path_factory.mktemp("fuzzed-server")
    with running_server(root) as server:
        yield server


@pytest.fixture(scope="module")
def real_ids(fuzzed_server: LiveServer) -> dict[str, str]:
    """An experiment and a run (with a metric and an artifact) for cases to point at."""
    api = fuzzed_server.api
    experiment_id = requests.post(
        api("/experiments/create"), json={"name": "fuzz-target"}, timeout=30
    ).json()["experiment_id"]
    run = requests.post(
        api("/runs/create"), json={"experiment_id": experiment_id}, timeout=30
    ).json()["run"]
    run_id = run["info"]["run_id"]
    requests.post(
        api("/runs/log-metric"),
        json={"run_id": run_id, "key": "m", "value": 1.5, "timestamp": 1, "step": 0},
        timeout=30,
    ).raise_for_status()
    artifact_path = f"{experiment_id}/{run_id}/artifacts/hello.txt"
    requests.put(
        f"{fuzzed_server.url}/api/2.0/mlflow-artifacts/artifacts/{artifact_path}",
        data=b"hello",
        timeout=30,
    ).raise_for_status()
    return {"experiment_id": experiment_id, "run_id": run_id, "artifact_path": artifact_path}


@schemathesis.check
def mlflow_error_body(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx is MLflow's JSON error: a known error code and a message."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict), f"error body is not an object: {response.text[:200]}"
        assert isinstance(body.get("error_code"), str), f"no error_code: {response.text[:200]}"
        assert isinstance(body.get("message"), str), f"no message: {response.text[:200]}"
    return None


@schemathesis.check
def documented_shapes_parse(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A request the document calls valid gets past the message parser: the parser's
    refusals (``cairn.wire.messages.invalid_message``) end with a pointer to the docs."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and response.status_code == 400:
        message = str(response.json().get("message", ""))
        assert "See the API docs" not in message, f"schema-valid request refused: {message}"
    return None


def _point_at_real_ids(case: Case, ids: dict[str, str], draw: Any) -> None:
    """Swap generated ids for real ones in some cases, so lookups succeed and the code
    behind them runs on the fuzzed remainder of the request."""
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        for field in ("run_id", "run_uuid", "experiment_id"):
            if field in container and draw(st.booleans()):
                container[field] = ids["experiment_id" if field == "experiment_id" else "run_id"]
        if "experiment_ids" in container and draw(st.booleans()):
            container["experiment_ids"] = [ids["experiment_id"]]
        if "run_ids" in container and draw(st.booleans()):
            container["run_ids"] = [ids["run_id"]]
    if case.path_parameters and "artifact_path" in case.path_parameters and draw(st.booleans()):
        case.path_parameters["artifact_path"] = ids["artifact_path"]


CHECKS = [
    not_a_server_error,
    mlflow_error_body,
    documented_shapes_parse,
    response_schema_conformance,
    content_type_conformance,
]


def _fuzz(operation: APIOperation, ids: dict[str, str]) -> None:
    """Send ``EXAMPLES`` generated requests, valid and invalid ones, to one operation."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases, data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Case, data: st.DataObject) -> None:
        _point_at_real_ids(case, ids, data.draw)
        case.call_and_validate(checks=CHECKS, timeout=30)

    send()


def test_no_request_yields_a_server_error(
    fuzzed_server: LiveServer, real_ids: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _fuzz(operation, real_ids)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}:\n{exc}")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)


# -- what fuzzing found, kept as plain regression tests ------------------------------------


def _proxy(server: LiveServer, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{path}"


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_an_overlong_artifact_name_is_a_client_error(
    fuzzed_server: LiveServer, method: str
) -> None:
    response = requests.request(method, _proxy(fuzzed_server, "x" * 300), data=b"1", timeout=30)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert str(fuzzed_server.root) not in response.text  # no server paths leak out


def test_reading_below_a_file_is_not_found(fuzzed_server: LiveServer) -> None:
    requests.put(_proxy(fuzzed_server, "below/f.txt"), data=b"1", timeout=30).raise_for_status()
    response = requests.get(_proxy(fuzzed_server, "below/f.txt/inner"), timeout=30)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_openapi_describes_enums_bounds_errors_and_the_proxy(fuzzed_server: LiveServer) -> None:
    document = requests.get(f"{fuzzed_server.url}/openapi.json", timeout=30).json()
    text = json.dumps(document)
    assert '"ge":' not in text
    assert '"le":' not in text
    schemas = document["components"]["schemas"]
    assert schemas["Metric"]["properties"]["timestamp"]["maximum"] == 2**63 - 1
    run_view_type = schemas["SearchRuns"]["properties"]["run_view_type"]["anyOf"]
    assert {"type": "string", "enum": ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]} in run_view_type
    paths = document["paths"]
    log_batch = paths["/api/2.0/mlflow/runs/log-batch"]["post"]["responses"]
    assert log_batch["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    upload = paths["/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"]["put"]
    assert [p["name"] for p in upload["parameters"]] == ["artifact_path"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
