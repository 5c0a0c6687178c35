"""The REST messages of MLflow's tracking API, as pydantic models with MLflow's JSON names.

One source for the server (which parses requests and renders responses with them),
the REST client store (which does the reverse) and the OpenAPI document.

How MLflow's protobuf JSON looks, and how these models reproduce it:
- int64 fields are JSON numbers; numeric strings are accepted on input, as protobuf does.
- Unset fields and empty lists are left out, so an empty response is ``{}``
  (``Message.to_wire``).
- Doubles that are not finite travel as the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"`` (``WireFloat``).
- Enums (run status, view type) travel as their names; numbers are accepted on input.
- ``run_uuid``, the deprecated twin of ``run_id``, is accepted wherever ``run_id`` is.
"""

from __future__ import annotations

import json
import math
from enum import IntEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from typing_extensions import NotRequired, TypedDict

from cairn.entities import RunStatus, ViewType
from cairn.exceptions import InvalidParameterValue


def float_to_wire(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _not_bool(value: Any) -> Any:
    # JSON true/false is not a number, though Python (and so pydantic) treats it as one.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


# One JSON schema for both directions, so OpenAPI's request and response schemas of a
# message (a Metric is both) agree: a number, or one of the three non-finite spellings.
_WIRE_FLOAT_SCHEMA = {
    "anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
}
WireFloat = Annotated[
    float,
    BeforeValidator(_not_bool),
    PlainSerializer(float_to_wire, when_used="json"),
    WithJsonSchema(_WIRE_FLOAT_SCHEMA),
]
# The bounds come before the validator: placed after it, pydantic cannot express them in
# JSON schema and writes non-standard "ge"/"le" keywords instead of minimum/maximum.
WireInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_not_bool)]
# Required strings: MLflow treats an empty string exactly like a missing field.
RequiredStr = Annotated[str, Field(min_length=1)]


def _prune(value: Any) -> Any:
    """Drop unset fields and empty lists, as protobuf's JSON printer does.

    ``value`` is ``model_dump(mode="json")`` output: dicts, lists and scalars. Only
    containers are visited: a page of 100 runs is ~2,000 small objects, and a call per
    scalar doubled the cost of rendering it.
    """
    if type(value) is list:
        return [
            _prune(item) if type(item) is dict or type(item) is list else item for item in value
        ]
    if type(value) is not dict:
        return value
    pruned = {}
    for key, item in value.items():
        if type(item) is dict:
            pruned[key] = _prune(item)
        elif type(item) is list:
            if item:
                pruned[key] = _prune(item)
        elif item is not None:
            pruned[key] = item
    return pruned


def parse_json(body: bytes | str) -> Any:
    """A JSON document as Python values: orjson where it can (several times faster on a
    long metric history), else the standard library, which also reads what orjson
    refuses (NaN and Infinity literals, lone surrogates, UTF-16 text).

    Raises:
        ValueError: neither can read it.
    """
    try:
        return orjson.loads(body)
    except ValueError:
        return json.loads(body)


# A message already in its JSON form, as ``Message.to_wire`` gives it.
WireObject = dict[str, Any]


def wire_object(**fields: Any) -> WireObject:
    """The JSON object of a message whose field values are already in wire form, with
    unset fields and empty lists left out, as ``Message.to_wire`` leaves them out."""
    return {key: value for key, value in fields.items() if value is not None and value != []}


_SEE_DOCS = "See the API docs for more information about request parameters."


def invalid_message(exc: ValidationError) -> InvalidParameterValue:
    """The MLflow error for a message that does not validate, naming the first bad field."""
    first = exc.errors(include_url=False)[0]
    field = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    if first["type"] in ("missing", "string_too_short"):
        return InvalidParameterValue(f"Missing value for required parameter '{field}'. {_SEE_DOCS}")
    given = first.get("input")
    shown = json.dumps(given) if isinstance(given, str | int | float | bool) else repr(given)
    return InvalidParameterValue(
        f"Invalid value {shown} for parameter '{field}' supplied: {first['msg']}. {_SEE_DOCS}"
    )


class Message(BaseModel):
    """Base of every wire message: unknown fields are ignored, as MLflow's parser does."""

    model_config = ConfigDict(extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON object MLflow would send for this message."""
        pruned: dict[str, Any] = _prune(self.model_dump(mode="json"))
        return pruned


class _RunIdRequest(Message):
    """A request naming a run by ``run_id`` or by its deprecated twin ``run_uuid``."""

    run_id: RequiredStr

    @model_validator(mode="before")
    @classmethod
    def _run_uuid_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("run_id") and data.get("run_uuid"):
            return {**data, "run_id": data["run_uuid"]}
        return data


def _enum_schema(enum: type[IntEnum]) -> dict[str, Any]:
    """The JSON schema of an enum that travels by name and is accepted by number, too."""
    return {
        "anyOf": [
            {"type": "string", "enum": [member.name for member in enum]},
            {"type": "integer", "enum": [member.value for member in enum]},
        ]
    }


def _coerce_view_type(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(ViewType.coerce(value))
    except (ValueError, TypeError):
        raise ValueError(
            f"view type must be one of {[v.name for v in ViewType]} or their numbers"
        ) from None


# -- entities ---------------------------------------------------------------------------
# Tags, params and metric points are typed dicts rather than models: a log-batch or a page
# of runs or of history holds thousands of them, and pydantic validates typed dicts in
# about a third to a half of the time it takes to build models. Defaults are filled in on
# validation and appear in the JSON schema, as a model's would.
class KeyValue(TypedDict):
    key: str
    value: str


class ExperimentTag(KeyValue):
    pass


class Param(KeyValue):
    pass


class RunTag(KeyValue):
    pass


class InputTag(KeyValue):
    pass


class Metric(TypedDict):
    key: str
    value: WireFloat
    timestamp: WireInt
    step: NotRequired[Annotated[WireInt, Field(default=0)]]


class MetricWithRunId(Metric):
    run_id: NotRequired[Annotated[str | None, Field(default=None)]]


class Experiment(Message):
    experiment_id: str
    name: str
    artifact_location: str | None = None
    lifecycle_stage: str | None = None
    last_update_time: WireInt | None = None
    creation_time: WireInt | None = None
    tags: list[ExperimentTag] = Field(default_factory=list)


class RunInfo(Message):
    run_uuid: str | None = None
    experiment_id: str
    run_name: str | None = None
    user_id: str | None = None
    status: str | None = None
    start_time: WireInt | None = None
    end_time: WireInt | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str | None = None
    run_id: str | None = None


class RunData(Message):
    metrics: list[Metric] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[RunTag] = Field(default_factory=list)


class Dataset(Message):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)


class DatasetInput(Message):
    tags: list[InputTag] = Field(default_factory=list)
    dataset: Dataset


class RunInputs(Message):
    dataset_inputs: list[DatasetInput] = Field(default_factory=list)


class Run(Message):
    info: RunInfo
    data: RunData = Field(default_factory=RunData)
    inputs: RunInputs = Field(default_factory=RunInputs)


class FileInfo(Message):
    path: str
    is_dir: bool = False
    file_size: WireInt | None = None


class Empty(Message):
    """The response of every write that returns nothing: ``{}``."""


# -- experiments ------------------------------------------------------------------------
class CreateExperiment(Message):
    name: RequiredStr
    artifact_location: str | None = None
    tags: list[ExperimentTag] = Field(default_factory=list)


class CreateExperimentResponse(Message):
    experiment_id: str


class SearchExperiments(Message):
    max_results: WireInt | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: Annotated[WireInt | None, WithJsonSchema(_enum_schema(ViewType))] = None

    @field_validator("view_type", mode="before")
    @classmethod
    def _view_type(cls, value: Any) -> int | None:
        return _coerce_view_type(value)


class SearchExperimentsResponse(Message):
    experiments: list[Experiment] = Field(default_factory=list)
    next_page_token: str | None = None


class GetExperiment(Message):
    experiment_id: RequiredStr


class GetExperimentResponse(Message):
    experiment: Experiment


class GetExperimentByName(Message):
    experiment_name: RequiredStr


class DeleteExperiment(Message):
    experiment_id: RequiredStr


class RestoreExperiment(Message):
    experiment_id: RequiredStr


class UpdateExperiment(Message):
    experiment_id: RequiredStr
    new_name: str | None = None


class SetExperimentTag(Message):
    experiment_id: RequiredStr
    key: RequiredStr
    value: str


class DeleteExperimentTag(Message):
    experiment_id: RequiredStr
    key: RequiredStr


# -- runs -------------------------------------------------------------------------------
class CreateRun(Message):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: WireInt | None = None
    tags: list[RunTag] = Field(default_factory=list)


class RunResponse(Message):
    """The response of runs/create and runs/get."""

    run: Run


class UpdateRun(_RunIdRequest):
    run_uuid: str | None = None
    status: Annotated[str | None, WithJsonSchema(_enum_schema(RunStatus))] = None
    end_time: WireInt | None = None
    run_name: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_name(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                return RunStatus(value).name
            return RunStatus.from_string(str(value)).name
        except ValueError:
            raise ValueError(
                f"status must be one of {[s.name for s in RunStatus]} or their numbers"
            ) from None


class UpdateRunResponse(Message):
    run_info: RunInfo


class DeleteRun(_RunIdRequest):
    pass


class RestoreRun(_RunIdRequest):
    pass


class LogMetric(_RunIdRequest):
    run_uuid: str | None = None
    key: RequiredStr
    value: WireFloat
    timestamp: WireInt
    step: WireInt = 0


class LogParam(_RunIdRequest):
    run_uuid: str | None = None
    key: RequiredStr
    value: str


class SetTag(_RunIdRequest):
    run_uuid: str | None = None
    key: RequiredStr
    value: str


class DeleteTag(_RunIdRequest):
    key: RequiredStr


class GetRun(_RunIdRequest):
    run_uuid: str | None = None


class LogBatch(_RunIdRequest):
    metrics: list[Metric] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[RunTag] = Field(default_factory=list)


class LogInputs(_RunIdRequest):
    datasets: list[DatasetInput] = Field(default_factory=list)


class LogModel(_RunIdRequest):
    model_json: RequiredStr


class SearchRuns(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: Annotated[WireInt | None, WithJsonSchema(_enum_schema(ViewType))] = None
    max_results: WireInt | None = None
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None

    @field_validator("run_view_type", mode="before")
    @classmethod
    def _view_type(cls, value: Any) -> int | None:
        return _coerce_view_type(value)


class SearchRunsResponse(Message):
    runs: list[Run] = Field(default_factory=list)
    next_page_token: str | None = None


class ListArtifacts(_RunIdRequest):
    run_uuid: str | None = None
    path: str | None = None
    page_token: str | None = None


class ListArtifactsResponse(Message):
    root_uri: str | None = None
    files: list[FileInfo] = Field(default_factory=list)
    next_page_token: str | None = None


# -- metrics ----------------------------------------------------------------------------
class GetMetricHistory(_RunIdRequest):
    run_uuid: str | None = None
    metric_key: RequiredStr
    page_token: str | None = None
    max_results: WireInt | None = None


class GetMetricHistoryResponse(Message):
    metrics: list[Metric] = Field(default_factory=list)
    next_page_token: str | None = None


class GetMetricHistoryBulkInterval(Message):
    run_ids: list[str] = Field(default_factory=list)
    metric_key: RequiredStr
    start_step: WireInt | None = None
    end_step: WireInt | None = None
    max_results: WireInt | None = None


class GetMetricHistoryBulkIntervalResponse(Message):
    metrics: list[MetricWithRunId] = Field(default_factory=list)


# -- logged models (MLflow 3) ------------------------------------------------------------
class SearchLoggedModels(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    max_results: WireInt | None = None
    page_token: str | None = None


class SearchLoggedModelsResponse(Message):
    models: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: str | None = None


# -- artifact proxy (mlflow-artifacts) --------------------------------------------------
class ListProxiedArtifacts(Message):
    path: str | None = None


class ListProxiedArtifactsResponse(Message):
    files: list[FileInfo] = Field(default_factory=list)
