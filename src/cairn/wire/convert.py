"""Entities <-> the wire, both ways: the server renders entities to JSON objects with
``*_to_wire`` and the REST client store rebuilds entities from parsed messages with
``*_from_wire``."""

from __future__ import annotations

from collections.abc import Iterable
from math import isfinite

from cairn import entities as e
from cairn.wire import messages as m

# -- entities -> wire JSON --------------------------------------------------------------
# Entities render straight to the JSON objects the messages describe (what
# ``Message.to_wire`` would give), without building models: a page of runs or a long
# metric history is thousands of small objects, and validating each one cost more than
# the store call behind the request. The models stay the schema: the REST client parses
# these objects with them, and the tests check that every rendering is one they accept
# and render back unchanged.


def _key_values(items: Iterable[tuple[str, str]]) -> list[m.WireObject]:
    return [{"key": key, "value": value} for key, value in items]


def experiment_to_wire(exp: e.Experiment) -> m.WireObject:
    return m.wire_object(
        experiment_id=exp.experiment_id,
        name=exp.name,
        artifact_location=exp.artifact_location,
        lifecycle_stage=exp.lifecycle_stage,
        last_update_time=exp.last_update_time,
        creation_time=exp.creation_time,
        tags=_key_values(exp.tags.items()),
    )


def run_info_to_wire(info: e.RunInfo) -> m.WireObject:
    return m.wire_object(
        run_uuid=info.run_id,
        experiment_id=info.experiment_id,
        run_name=info.run_name,
        user_id=info.user_id,
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        artifact_uri=info.artifact_uri,
        lifecycle_stage=info.lifecycle_stage,
        run_id=info.run_id,
    )


def metric_to_wire(metric: e.Metric) -> m.WireObject:
    value = float(metric.value)
    return {
        "key": metric.key,
        "value": value if isfinite(value) else m.float_to_wire(value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }


def dataset_input_to_wire(item: e.DatasetInput) -> m.WireObject:
    ds = item.dataset
    return m.wire_object(
        tags=_key_values((t.key, t.value) for t in item.tags),
        dataset=m.wire_object(
            name=ds.name,
            digest=ds.digest,
            source_type=ds.source_type,
            source=ds.source,
            schema=ds.schema,
            profile=ds.profile,
        ),
    )


def run_to_wire(run: e.Run) -> m.WireObject:
    data = run.data
    return {
        "info": run_info_to_wire(run.info),
        "data": m.wire_object(
            metrics=[metric_to_wire(x) for x in data.metric_objects],
            params=_key_values(data.params.items()),
            tags=_key_values(data.tags.items()),
        ),
        "inputs": m.wire_object(
            dataset_inputs=[dataset_input_to_wire(d) for d in run.inputs.dataset_inputs]
        ),
    }


def file_info_to_wire(info: e.FileInfo, path: str | None = None) -> m.WireObject:
    """``path`` overrides the entry's own path (the artifact proxy lists base names)."""
    return m.wire_object(
        path=info.path if path is None else path,
        is_dir=info.is_dir,
        file_size=None if info.is_dir else info.file_size,
    )


# -- messages -> entities ---------------------------------------------------------------


def experiment_from_wire(msg: m.Experiment) -> e.Experiment:
    return e.Experiment(
        experiment_id=msg.experiment_id,
        name=msg.name,
        artifact_location=msg.artifact_location or "",
        lifecycle_stage=msg.lifecycle_stage or e.LifecycleStage.ACTIVE,
        tags={t["key"]: t["value"] for t in msg.tags},
        creation_time=msg.creation_time,
        last_update_time=msg.last_update_time,
    )


def experiment_tags_from_wire(tags: Iterable[m.KeyValue]) -> list[e.ExperimentTag]:
    return [e.ExperimentTag(t["key"], t["value"]) for t in tags]


def run_info_from_wire(msg: m.RunInfo) -> e.RunInfo:
    run_id = msg.run_id or msg.run_uuid or ""
    return e.RunInfo(
        run_uuid=run_id,
        experiment_id=msg.experiment_id,
        user_id=msg.user_id or "",
        status=msg.status or e.RunStatus.RUNNING.name,
        start_time=msg.start_time,
        end_time=msg.end_time,
        lifecycle_stage=msg.lifecycle_stage or e.LifecycleStage.ACTIVE,
        artifact_uri=msg.artifact_uri,
        run_id=run_id,
        run_name=msg.run_name,
    )


def metric_from_wire(msg: m.Metric) -> e.Metric:
    return e.Metric(msg["key"], msg["value"], msg["timestamp"], msg.get("step", 0))


def params_from_wire(params: Iterable[m.KeyValue]) -> list[e.Param]:
    return [e.Param(p["key"], p["value"]) for p in params]


def run_tags_from_wire(tags: Iterable[m.KeyValue]) -> list[e.RunTag]:
    return [e.RunTag(t["key"], t["value"]) for t in tags]


def dataset_input_from_wire(msg: m.DatasetInput) -> e.DatasetInput:
    ds = msg.dataset
    return e.DatasetInput(
        dataset=e.Dataset(ds.name, ds.digest, ds.source_type, ds.source, ds.schema_, ds.profile),
        tags=[e.InputTag(t["key"], t["value"]) for t in msg.tags],
    )


def run_from_wire(msg: m.Run) -> e.Run:
    return e.Run(
        info=run_info_from_wire(msg.info),
        data=e.RunData(
            metrics=[metric_from_wire(x) for x in msg.data.metrics],
            params=params_from_wire(msg.data.params),
            tags=run_tags_from_wire(msg.data.tags),
        ),
        inputs=e.RunInputs(
            dataset_inputs=[dataset_input_from_wire(d) for d in msg.inputs.dataset_inputs]
        ),
    )


def batch_from_wire(msg: m.LogBatch) -> tuple[list[e.Metric], list[e.Param], list[e.RunTag]]:
    """The metrics, params and tags of a log-batch request, ready for ``store.log_batch``."""
    return (
        [metric_from_wire(x) for x in msg.metrics],
        params_from_wire(msg.params),
        run_tags_from_wire(msg.tags),
    )


def file_info_from_wire(msg: m.FileInfo) -> e.FileInfo:
    return e.FileInfo(msg.path, msg.is_dir, None if msg.is_dir else msg.file_size)
