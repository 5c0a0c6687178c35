"""Request handlers: one per row of ``cairn.wire.endpoints``, each a thin call onto the store.

A handler takes the server context and the parsed request message and returns the
response: a message, or, where it carries entities, its JSON object (``convert``).
Routing, parsing, rendering and errors live in ``routes`` and ``errors``. Handlers run in
a worker thread, so they may block.
"""

from __future__ import annotations

import json

from cairn.entities import ExperimentTag, Metric, Param, RunStatus, RunTag, ViewType
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist
from cairn.server import sampling
from cairn.server.context import ServerContext
from cairn.store.tracking import missing_points
from cairn.validation import SEARCH_MAX_RESULTS_DEFAULT
from cairn.wire import convert
from cairn.wire import messages as m

# The run tag holding the JSON list of models logged to a run (MLflow's name).
LOGGED_MODELS_TAG = "mlflow.log-model.history"

# -- experiments ------------------------------------------------------------------------


def create_experiment(ctx: ServerContext, req: m.CreateExperiment) -> m.CreateExperimentResponse:
    tags = convert.experiment_tags_from_wire(req.tags)
    experiment_id = ctx.tracking_store().create_experiment(req.name, req.artifact_location, tags)
    return m.CreateExperimentResponse(experiment_id=experiment_id)


def get_experiment(ctx: ServerContext, req: m.GetExperiment) -> m.WireObject:
    experiment = ctx.tracking_store().get_experiment(req.experiment_id)
    return {"experiment": convert.experiment_to_wire(experiment)}


def get_experiment_by_name(ctx: ServerContext, req: m.GetExperimentByName) -> m.WireObject:
    experiment = ctx.tracking_store().get_experiment_by_name(req.experiment_name)
    if experiment is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{req.experiment_name}'")
    return {"experiment": convert.experiment_to_wire(experiment)}


def search_experiments(ctx: ServerContext, req: m.SearchExperiments) -> m.WireObject:
    page = ctx.tracking_store().search_experiments(
        view_type=ViewType.coerce(req.view_type),
        max_results=SEARCH_MAX_RESULTS_DEFAULT if req.max_results is None else req.max_results,
        filter_string=req.filter,
        order_by=req.order_by,
        page_token=req.page_token,
    )
    return m.wire_object(
        experiments=[convert.experiment_to_wire(x) for x in page], next_page_token=page.token
    )


def update_experiment(ctx: ServerContext, req: m.UpdateExperiment) -> m.Empty:
    if req.new_name is not None:
        ctx.tracking_store().rename_experiment(req.experiment_id, req.new_name)
    return m.Empty()


def delete_experiment(ctx: ServerContext, req: m.DeleteExperiment) -> m.Empty:
    ctx.tracking_store().delete_experiment(req.experiment_id)
    return m.Empty()


def restore_experiment(ctx: ServerContext, req: m.RestoreExperiment) -> m.Empty:
    ctx.tracking_store().restore_experiment(req.experiment_id)
    return m.Empty()


def set_experiment_tag(ctx: ServerContext, req: m.SetExperimentTag) -> m.Empty:
    tag = ExperimentTag(req.key, req.value)
    ctx.tracking_store().set_experiment_tag(req.experiment_id, tag)
    return m.Empty()


def delete_experiment_tag(ctx: ServerContext, req: m.DeleteExperimentTag) -> m.Empty:
    ctx.tracking_store().delete_experiment_tag(req.experiment_id, req.key)
    return m.Empty()


# -- runs -------------------------------------------------------------------------------


def create_run(ctx: ServerContext, req: m.CreateRun) -> m.WireObject:
    run = ctx.tracking_store().create_run(
        # an absent experiment means the Default one; an empty id is the store's to refuse
        experiment_id="0" if req.experiment_id is None else req.experiment_id,
        user_id=req.user_id or "",
        start_time=req.start_time,
        tags=convert.run_tags_from_wire(req.tags),
        run_name=req.run_name or None,
    )
    return {"run": convert.run_to_wire(run)}


def get_run(ctx: ServerContext, req: m.GetRun) -> m.WireObject:
    return {"run": convert.run_to_wire(ctx.tracking_store().get_run(req.run_id))}


def update_run(ctx: ServerContext, req: m.UpdateRun) -> m.WireObject:
    status = RunStatus.from_string(req.status) if req.status else None
    info = ctx.tracking_store().update_run_info(req.run_id, status, req.end_time, req.run_name)
    return {"run_info": convert.run_info_to_wire(info)}


def delete_run(ctx: ServerContext, req: m.DeleteRun) -> m.Empty:
    ctx.tracking_store().delete_run(req.run_id)
    return m.Empty()


def restore_run(ctx: ServerContext, req: m.RestoreRun) -> m.Empty:
    ctx.tracking_store().restore_run(req.run_id)
    return m.Empty()


def log_metric(ctx: ServerContext, req: m.LogMetric) -> m.Empty:
    metric = Metric(req.key, req.value, req.timestamp, req.step)
    ctx.tracking_store().log_batch(req.run_id, metrics=[metric])
    return m.Empty()


def log_param(ctx: ServerContext, req: m.LogParam) -> m.Empty:
    ctx.tracking_store().log_batch(req.run_id, params=[Param(req.key, req.value)])
    return m.Empty()


def set_tag(ctx: ServerContext, req: m.SetTag) -> m.Empty:
    ctx.tracking_store().log_batch(req.run_id, tags=[RunTag(req.key, req.value)])
    return m.Empty()


def delete_tag(ctx: ServerContext, req: m.DeleteTag) -> m.Empty:
    ctx.tracking_store().delete_tag(req.run_id, req.key)
    return m.Empty()


def log_batch(ctx: ServerContext, req: m.LogBatch) -> m.Empty:
    metrics, params, tags = convert.batch_from_wire(req)
    ctx.tracking_store().log_batch(req.run_id, metrics, params, tags)
    return m.Empty()


def log_batch_resent(ctx: ServerContext, req: m.LogBatch) -> m.Empty:
    """A log-batch sent again under a key this server has no answer for: its first attempt
    failed or died with an earlier server process, and an mlruns store, which writes a
    batch a file at a time, may have kept part of it. Only the points not yet in the
    histories are written; params and tags are written again (the same value changes
    nothing)."""
    metrics, params, tags = convert.batch_from_wire(req)
    store = ctx.tracking_store()
    store.log_batch(req.run_id, missing_points(store, req.run_id, metrics), params, tags)
    return m.Empty()


# The handlers of writes that differ when the request is marked as resent
# (``RESENT_HEADER``); ``routes`` heeds the mark only with an ``Idempotency-Key``.
RESENT_HANDLERS = {"log_batch": log_batch_resent}


def log_inputs(ctx: ServerContext, req: m.LogInputs) -> m.Empty:
    datasets = [convert.dataset_input_from_wire(d) for d in req.datasets]
    ctx.tracking_store().log_inputs(req.run_id, datasets)
    return m.Empty()


def log_model(ctx: ServerContext, req: m.LogModel) -> m.Empty:
    """Append the model's description to the run's list of logged models."""
    try:
        model = json.loads(req.model_json)
    except ValueError:
        model = None
    if not isinstance(model, dict):
        raise InvalidParameterValue("Parameter 'model_json' must be a JSON object.")
    store = ctx.tracking_store()
    history = store.get_run(req.run_id).data.tags.get(LOGGED_MODELS_TAG)
    models = [*json.loads(history), model] if history else [model]
    store.log_batch(req.run_id, tags=[RunTag(LOGGED_MODELS_TAG, json.dumps(models))])
    return m.Empty()


def search_runs(ctx: ServerContext, req: m.SearchRuns) -> m.WireObject:
    page = ctx.tracking_store().search_runs(
        experiment_ids=req.experiment_ids,
        filter_string=req.filter or "",
        run_view_type=ViewType.coerce(req.run_view_type),
        max_results=SEARCH_MAX_RESULTS_DEFAULT if req.max_results is None else req.max_results,
        order_by=req.order_by,
        page_token=req.page_token,
    )
    return m.wire_object(runs=[convert.run_to_wire(r) for r in page], next_page_token=page.token)


def list_artifacts(ctx: ServerContext, req: m.ListArtifacts) -> m.WireObject:
    root_uri = ctx.tracking_store().get_run(req.run_id).info.artifact_uri or ""
    files = ctx.run_artifact_repository(root_uri).list_artifacts(req.path or None)
    return m.wire_object(root_uri=root_uri, files=[convert.file_info_to_wire(f) for f in files])


def search_logged_models(
    ctx: ServerContext, req: m.SearchLoggedModels
) -> m.SearchLoggedModelsResponse:
    """Cairn keeps no MLflow 3 logged models, so every search finds none."""
    return m.SearchLoggedModelsResponse()


# -- metrics ----------------------------------------------------------------------------


def get_metric_history(ctx: ServerContext, req: m.GetMetricHistory) -> m.WireObject:
    page = ctx.tracking_store().get_metric_history(
        req.run_id, req.metric_key, max_results=req.max_results, page_token=req.page_token
    )
    return m.wire_object(
        metrics=[convert.metric_to_wire(x) for x in page], next_page_token=page.token
    )


def get_metric_history_bulk_interval(
    ctx: ServerContext, req: m.GetMetricHistoryBulkInterval
) -> m.WireObject:
    """Up to ``max_results`` evenly spread steps of one metric across several runs."""
    limit = sampling.check_bulk_interval_request(
        req.run_ids, req.start_step, req.end_step, req.max_results
    )
    store = ctx.tracking_store()
    low = req.start_step if req.start_step is not None else -(2**63)
    high = req.end_step if req.end_step is not None else 2**63
    histories = {
        run_id: [
            point
            for point in store.get_metric_history(run_id, req.metric_key)
            if low <= point.step <= high
        ]
        for run_id in dict.fromkeys(req.run_ids)
    }
    all_steps = sorted({p.step for points in histories.values() for p in points})
    keep = sampling.sample_steps(all_steps, limit)
    return m.wire_object(
        metrics=[
            {**convert.metric_to_wire(p), "run_id": run_id}
            for run_id, points in histories.items()
            for p in sorted(points, key=lambda p: (p.step, p.timestamp))
            if p.step in keep
        ]
    )
