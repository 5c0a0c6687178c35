"""The wire contract on its own: message parsing and rendering, the endpoint table."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from cairn import entities as e
from cairn.exceptions import InvalidParameterValue
from cairn.server import handlers
from cairn.server.sampling import sample_steps
from cairn.wire import convert
from cairn.wire import messages as m
from cairn.wire.endpoints import ENDPOINTS


def _invalid(model: type[m.Message], data: dict[str, object]) -> InvalidParameterValue:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return m.invalid_message(caught.value)


def test_unset_fields_and_empty_lists_are_left_out() -> None:
    assert m.Empty().to_wire() == {}
    info = m.RunInfo(experiment_id="1", run_id="r", user_id="", status="RUNNING")
    assert info.to_wire() == {
        "experiment_id": "1",
        "user_id": "",
        "status": "RUNNING",
        "run_id": "r",
    }
    assert m.RunResponse(run=m.Run(info=info)).to_wire()["run"]["data"] == {}


@pytest.mark.parametrize(
    ("value", "wire"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")]
)
def test_non_finite_doubles_travel_as_strings(value: float, wire: str) -> None:
    point = m.Metric(key="k", value=value, timestamp=1, step=0)
    rendered = m.GetMetricHistoryResponse(metrics=[point]).to_wire()
    assert rendered["metrics"][0]["value"] == wire
    # and the rendering is valid JSON that parses back to the same number
    back = m.GetMetricHistoryResponse.model_validate(json.loads(json.dumps(rendered)))
    parsed = back.metrics[0]["value"]
    assert (math.isnan(parsed) and math.isnan(value)) or parsed == value


def test_int64_fields_are_json_numbers_and_accept_numeric_strings() -> None:
    batch = m.LogBatch.model_validate(
        {"run_id": "r", "metrics": [{"key": "k", "value": 1, "timestamp": "1700000000000"}]}
    )
    assert batch.to_wire()["metrics"] == [
        {"key": "k", "value": 1.0, "timestamp": 1700000000000, "step": 0}
    ]
    assert convert.batch_from_wire(batch)[0] == [e.Metric("k", 1.0, 1700000000000, 0)]


def test_metric_points_ignore_unknown_fields_as_messages_do() -> None:
    batch = m.LogBatch.model_validate(
        {"run_id": "r", "metrics": [{"key": "k", "value": 2, "timestamp": 3, "step": 4, "x": 1}]}
    )
    assert batch.metrics == [{"key": "k", "value": 2.0, "timestamp": 3, "step": 4}]


def test_run_uuid_stands_in_for_run_id() -> None:
    assert m.GetRun.model_validate({"run_uuid": "abc"}).run_id == "abc"
    assert m.GetRun.model_validate({"run_id": "x", "run_uuid": "y"}).run_id == "x"


@pytest.mark.parametrize(("given", "expected"), [("ALL", 3), ("deleted_only", 2), (1, 1), ("3", 3)])
def test_view_types_are_accepted_as_names_or_numbers(given: object, expected: int) -> None:
    assert m.SearchRuns.model_validate({"run_view_type": given}).run_view_type == expected


def test_run_status_is_accepted_as_name_or_number() -> None:
    assert m.UpdateRun.model_validate({"run_id": "r", "status": 3}).status == "FINISHED"
    assert m.UpdateRun.model_validate({"run_id": "r", "status": "killed"}).status == "KILLED"
    assert "status" in _invalid(m.UpdateRun, {"run_id": "r", "status": "BOGUS"}).message


def test_missing_and_empty_required_fields_name_the_parameter() -> None:
    for data in ({}, {"name": ""}):
        err = _invalid(m.CreateExperiment, data)
        assert err.message.startswith("Missing value for required parameter 'name'")


def test_wrong_types_name_the_nested_field() -> None:
    err = _invalid(
        m.LogBatch, {"run_id": "r", "metrics": [{"key": "k", "value": "x", "timestamp": 1}]}
    )
    assert "parameter 'metrics[0].value'" in err.message
    assert '"x"' in err.message


@pytest.mark.parametrize(
    "data",
    [
        {"key": "k", "value": True, "timestamp": 1},
        {"key": "k", "value": 1.0, "timestamp": False},
        {"key": "k", "value": 1.0, "timestamp": 2**63},
        {"key": "k", "value": 1.0, "timestamp": 1.5},
    ],
)
def test_booleans_fractions_and_overflows_are_not_integers_or_doubles(
    data: dict[str, object],
) -> None:
    err = _invalid(m.LogBatch, {"run_id": "r", "metrics": [data]})
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "parameter 'metrics[0]." in err.message


def test_every_endpoint_has_a_handler_and_a_unique_route() -> None:
    routes = set()
    for endpoint in ENDPOINTS.values():
        assert callable(getattr(handlers, endpoint.name)), endpoint.name
        for path in endpoint.served_paths():
            for method in endpoint.methods:
                assert (method, path) not in routes
                routes.add((method, path))
    assert ("GET", "/ajax-api/2.0/mlflow/runs/get") in routes
    assert ("GET", "/api/2.0/mlflow/experiments/search") in routes
    assert ("POST", "/api/2.0/mlflow/experiments/search") in routes


_DATASET_INPUT = e.DatasetInput(
    e.Dataset("d", "abc", "local", "/x", "{}", None), [e.InputTag("k", "v")]
)
_RUN = e.Run(
    info=e.RunInfo("r1", "7", "ann", "FINISHED", 5, 9, "active", "/a", "r1", "name"),
    data=e.RunData(
        metrics=[e.Metric("loss", math.inf, 3, 2), e.Metric("acc", 1, 4, 0)],
        params=[e.Param("p", "1")],
        tags=[e.RunTag("t", "")],
    ),
    inputs=e.RunInputs([_DATASET_INPUT]),
)


def test_a_run_survives_the_round_trip_through_the_wire() -> None:
    wire = json.loads(json.dumps(convert.run_to_wire(_RUN)))
    assert wire["data"]["metrics"] == [
        {"key": "loss", "value": "Infinity", "timestamp": 3, "step": 2},
        {"key": "acc", "value": 1.0, "timestamp": 4, "step": 0},
    ]
    assert wire["inputs"]["dataset_inputs"][0]["dataset"]["schema"] == "{}"
    assert convert.run_from_wire(m.Run.model_validate(wire)) == _RUN


def _history_to_wire(metric: e.Metric) -> m.WireObject:
    return {"metrics": [convert.metric_to_wire(metric)]}


@pytest.mark.parametrize(
    ("render", "model", "entity"),
    [
        (convert.run_to_wire, m.Run, _RUN),
        (
            convert.run_to_wire,
            m.Run,
            e.Run(e.RunInfo("r", "0", "", "RUNNING", None, None, "active")),
        ),
        (convert.run_info_to_wire, m.RunInfo, _RUN.info),
        (_history_to_wire, m.GetMetricHistoryResponse, e.Metric("m", math.nan, 1, -5)),
        (_history_to_wire, m.GetMetricHistoryResponse, e.Metric("m", -math.inf, 2**62, 0)),
        (convert.dataset_input_to_wire, m.DatasetInput, _DATASET_INPUT),
        (
            convert.dataset_input_to_wire,
            m.DatasetInput,
            e.DatasetInput(e.Dataset("d", "0", "code", "s", None, "{}")),
        ),
        (convert.experiment_to_wire, m.Experiment, e.Experiment("1", "x", "/a", "active")),
        (
            convert.experiment_to_wire,
            m.Experiment,
            e.Experiment("2", "y", "s3://b", "deleted", {"k": "v", "e": ""}, 10, 20),
        ),
        (convert.file_info_to_wire, m.FileInfo, e.FileInfo("a/b.txt", False, 0)),
        (convert.file_info_to_wire, m.FileInfo, e.FileInfo("a", True, None)),
    ],
)
def test_entities_render_as_their_messages_would(
    render: Callable[[object], m.WireObject], model: type[m.Message], entity: object
) -> None:
    """The server renders entities without building messages; each rendering is one the
    message accepts and renders back unchanged (so no field is misnamed, unset fields
    and empty lists are left out, and doubles that are not finite are strings)."""
    wire = render(entity)
    assert model.model_validate(wire).to_wire() == wire
    assert json.loads(json.dumps(wire)) == wire


def test_a_page_of_runs_renders_without_its_unset_fields() -> None:
    assert m.wire_object(runs=[], next_page_token=None) == {}
    assert m.wire_object(runs=[{"info": {}}], next_page_token="t") == {
        "runs": [{"info": {}}],
        "next_page_token": "t",
    }


@pytest.mark.parametrize(
    ("steps", "limit", "expected"),
    [
        ([0, 1, 2], 5, {0, 1, 2}),
        (list(range(10)), 2, {0, 9}),
        (list(range(10)), 1, {9}),
        (list(range(0, 100, 10)), 4, {0, 30, 60, 90}),
    ],
)
def test_sampled_steps_span_the_range(steps: list[int], limit: int, expected: set[int]) -> None:
    assert sample_steps(steps, limit) == expected


def test_a_metric_point_without_a_step_is_at_step_zero_as_its_schema_says() -> None:
    batch = m.LogBatch.model_validate(
        {"run_id": "r", "metrics": [{"key": "k", "value": 1, "timestamp": 2}]}
    )
    assert batch.metrics[0]["step"] == 0
    schema = m.LogBatch.model_json_schema()["$defs"]["Metric"]
    assert schema["properties"]["step"]["default"] == 0
    assert schema["required"] == ["key", "value", "timestamp"]
