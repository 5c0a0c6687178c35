"""The limits and rules every write obeys: the one place they live.

Stores, the client and the server all call these ``check_*`` functions at their write
boundary; nothing else re-states a limit. Each failure raises ``InvalidParameterValue``
with a message naming the offending value.
"""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Sequence

from cairn.entities import (
    DatasetInput,
    ExperimentTag,
    Metric,
    Param,
    RunTag,
)
from cairn.exceptions import InvalidParameterValue

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 5000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000
MAX_EXPERIMENTS_LISTED_PER_PAGE = 50000
GET_METRIC_HISTORY_MAX_RESULTS = 25000

_KEY_CHARS = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")


# Keys already found valid (the rules do not depend on ``kind``). A training loop logs
# the same few keys again and again; a set lookup is far cheaper than the regex and
# normpath below. Bounded, so that a stream of distinct keys cannot grow it forever.
_valid_keys: set[str] = set()
_valid_run_ids: set[str] = set()
_VALID_KEYS_REMEMBERED = 10_000


def check_key(key: object, kind: str = "key") -> str:
    """A metric, param or tag key: MLflow's charset, and it must not act as a path trick."""
    if type(key) is str and key in _valid_keys:
        return key
    if key is None or key == "":
        raise InvalidParameterValue(f"Missing value for required parameter '{kind}'.")
    if not isinstance(key, str):
        raise InvalidParameterValue(f"Invalid {kind} {key!r}: must be a string.")
    if not _KEY_CHARS.match(key):
        raise InvalidParameterValue(
            f"Invalid {kind} '{key}'. Names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    if posixpath.normpath(key) != key or key.startswith(("/", "..")) or key == ".":
        raise InvalidParameterValue(
            f"Invalid {kind} '{key}'. Names may be treated as files and must not resolve to "
            f"another name (this one resolves to '{posixpath.normpath(key)}'), start with '/', "
            "or contain '..'."
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameterValue(
            f"{kind.capitalize()} '{key[:40]}...' has length {len(key)}, "
            f"which exceeds the limit of {MAX_ENTITY_KEY_LENGTH}."
        )
    if type(key) is str and len(_valid_keys) < _VALID_KEYS_REMEMBERED:
        _valid_keys.add(key)
    return key


def _check_length(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise InvalidParameterValue(
            f"{what} has length {len(value)}, which exceeds the limit of {limit}."
        )
    if not value.isascii():
        # A lone UTF-16 surrogate (JSON allows "\ud800") cannot be stored as UTF-8 text.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterValue(
                f"{what} is not valid Unicode text: it holds a lone surrogate."
            ) from None


def check_metric(metric: Metric) -> None:
    check_key(metric.key, "metric name")
    value = metric.value
    # The common case (a float value, int timestamp and step) skips the abstract-base-class
    # checks below, which cost more than everything else in a batch of a thousand points.
    if type(value) is float and type(metric.timestamp) is int and type(metric.step) is int:
        if metric.timestamp < 0:
            raise InvalidParameterValue(
                f"Got invalid timestamp {metric.timestamp} for metric '{metric.key}': "
                "it is negative."
            )
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric '{metric.key}' (timestamp={metric.timestamp}). "
            "Please specify value as a valid double (64-bit floating point)."
        )
    try:
        float(value)  # type: ignore[arg-type,unused-ignore]
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric '{metric.key}': not a double."
        ) from None
    if isinstance(metric.timestamp, bool) or not isinstance(metric.timestamp, numbers.Integral):
        raise InvalidParameterValue(
            f"Got invalid timestamp {metric.timestamp!r} for metric '{metric.key}'. "
            "Timestamp must be a non-negative long (64-bit integer)."
        )
    if metric.timestamp < 0:
        raise InvalidParameterValue(
            f"Got invalid timestamp {metric.timestamp} for metric '{metric.key}': it is negative."
        )
    if isinstance(metric.step, bool) or not isinstance(metric.step, numbers.Integral):
        raise InvalidParameterValue(
            f"Got invalid step {metric.step!r} for metric '{metric.key}'. "
            "Step must be a valid long (64-bit integer)."
        )


def check_param(param: Param) -> None:
    check_key(param.key, "param name")
    if not isinstance(param.value, str):
        raise InvalidParameterValue(f"Value of param '{param.key}' must be a string.")
    _check_length(param.value, MAX_PARAM_VAL_LENGTH, f"Param value for '{param.key}'")


def check_tag(tag: RunTag) -> None:
    check_key(tag.key, "tag name")
    if not isinstance(tag.value, str):
        raise InvalidParameterValue(f"Value of tag '{tag.key}' must be a string.")
    _check_length(tag.value, MAX_TAG_VAL_LENGTH, f"Tag value for '{tag.key}'")


def check_experiment_tag(tag: ExperimentTag) -> None:
    check_key(tag.key, "tag name")
    _check_length(tag.key, MAX_EXPERIMENT_TAG_KEY_LENGTH, f"Experiment tag key '{tag.key}'")
    if not isinstance(tag.value, str):
        raise InvalidParameterValue(f"Value of experiment tag '{tag.key}' must be a string.")
    _check_length(tag.value, MAX_EXPERIMENT_TAG_VAL_LENGTH, f"Experiment tag value for '{tag.key}'")


def check_batch(
    metrics: Sequence[Metric] = (), params: Sequence[Param] = (), tags: Sequence[RunTag] = ()
) -> None:
    """The limits of one log_batch call, then each entity's own rules."""
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
            f"Got {len(metrics)} metrics."
        )
    if len(params) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. "
            f"Got {len(params)} params."
        )
    if len(tags) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. "
            f"Got {len(tags)} tags."
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, "
            f"params and tags in total. Got {total}."
        )
    for metric in metrics:
        check_metric(metric)
    seen: dict[str, str] = {}
    for param in params:
        check_param(param)
        if seen.setdefault(param.key, param.value) != param.value:
            raise InvalidParameterValue(
                f"Duplicate parameter key '{param.key}' with different values in one batch."
            )
    for tag in tags:
        check_tag(tag)


def check_param_unchanged(run_id: str, key: str, old_value: str, new_value: str) -> None:
    """Params are write-once: the same value again is fine, a different one is refused."""
    if old_value != new_value:
        raise InvalidParameterValue(
            f"Changing param values is not allowed. Param with key='{key}' was already logged "
            f"with value='{old_value}' for run ID='{run_id}'. Attempted logging new value "
            f"'{new_value}'."
        )


def check_experiment_name(name: object) -> str:
    if name is None or name == "":
        raise InvalidParameterValue("Invalid experiment name: ''. Experiment name cannot be empty.")
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid experiment name: {name!r}. Expected a string.")
    _check_length(name, MAX_EXPERIMENT_NAME_LENGTH, "Experiment name")
    return name


def check_run_id(run_id: object) -> str:
    if type(run_id) is str and run_id in _valid_run_ids:
        return run_id  # checked before: logging calls name the same run again and again
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidParameterValue(f"Invalid run ID: '{run_id}'")
    if type(run_id) is str and len(_valid_run_ids) < _VALID_KEYS_REMEMBERED:
        _valid_run_ids.add(run_id)
    return run_id


def check_experiment_id(experiment_id: object) -> str:
    experiment_id = str(experiment_id) if isinstance(experiment_id, int) else experiment_id
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID.match(experiment_id):
        raise InvalidParameterValue(f"Invalid experiment ID: '{experiment_id}'")
    return experiment_id


def check_max_results(max_results: object, limit: int = SEARCH_MAX_RESULTS_THRESHOLD) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value {max_results!r} for parameter 'max_results' supplied. "
            "It must be a positive integer."
        )
    if max_results > limit:
        raise InvalidParameterValue(
            f"Invalid value {max_results} for parameter 'max_results' supplied. "
            f"It must be at most {limit}."
        )
    return max_results


def check_dataset_inputs(inputs: Sequence[DatasetInput]) -> None:
    for item in inputs:
        ds = item.dataset
        for value, limit, what in (
            (ds.name, MAX_DATASET_NAME_SIZE, "Dataset name"),
            (ds.digest, MAX_DATASET_DIGEST_SIZE, "Dataset digest"),
            (ds.source, MAX_DATASET_SOURCE_SIZE, "Dataset source"),
            (ds.schema or "", MAX_DATASET_SCHEMA_SIZE, "Dataset schema"),
            (ds.profile or "", MAX_DATASET_PROFILE_SIZE, "Dataset profile"),
        ):
            if not isinstance(value, str):
                raise InvalidParameterValue(f"{what} must be a string, got {value!r}.")
            _check_length(value, limit, what)
        for field_value, what in (
            (ds.name, "name"),
            (ds.digest, "digest"),
            (ds.source_type, "source_type"),
            (ds.source, "source"),
        ):
            if not field_value:
                raise InvalidParameterValue(f"Dataset {what} must not be empty.")
        for tag in item.tags:
            if not tag.key:
                raise InvalidParameterValue("Input tag key must not be empty.")
            _check_length(tag.key, MAX_INPUT_TAG_KEY_SIZE, "Input tag key")
            _check_length(tag.value, MAX_INPUT_TAG_VALUE_SIZE, f"Input tag value for '{tag.key}'")
