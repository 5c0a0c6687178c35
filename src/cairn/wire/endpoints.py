"""The table of REST endpoints: one row each, driving server routes, OpenAPI and the client.

Every row is served under ``/api/<version>`` and mirrored under ``/ajax-api/<version>``
(the prefix MLflow's web UI uses). GET requests carry their message in the query
string, everything else in a JSON body.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.wire import messages as m

API_PREFIXES = ("/api", "/ajax-api")
# Sent by Cairn's client with each request that changes state, the same on every attempt;
# a Cairn server does the work of one key once (``cairn.server.idempotency``).
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Sent with an attempt made after the store showed an earlier one had not (wholly) arrived.
# A log-batch so marked is applied as far as it is missing: an mlruns store writes a batch
# a file at a time, so a server that failed in the middle of one kept part of it.
RESENT_HEADER = "Cairn-Resent"


@dataclass(frozen=True)
class Endpoint:
    """One REST call: where it lives and which messages go in and out.

    ``name`` is also the name of the server handler that answers it.
    """

    name: str
    methods: tuple[str, ...]
    path: str
    request: type[m.Message]
    response: type[m.Message]
    version: str = "2.0"

    @property
    def method(self) -> str:
        """The method the REST client uses (the first one listed)."""
        return self.methods[0]

    @property
    def changes_state(self) -> bool:
        """Whether doing it twice differs from doing it once: every POST-only endpoint but
        the searches, which read."""
        return self.methods == ("POST",) and not self.name.startswith("search_")

    @property
    def api_path(self) -> str:
        """The path under ``/api``, which clients call."""
        return f"/api/{self.version}{self.path}"

    def served_paths(self) -> list[str]:
        """Every path the server answers this endpoint on."""
        return [f"{prefix}/{self.version}{self.path}" for prefix in API_PREFIXES]


def _e(
    name: str,
    method: str | tuple[str, ...],
    path: str,
    request: type[m.Message],
    response: type[m.Message] = m.Empty,
) -> Endpoint:
    methods = (method,) if isinstance(method, str) else method
    return Endpoint(name, methods, "/mlflow" + path, request, response)


_ENDPOINT_LIST = [
    # experiments
    _e("create_experiment", "POST", "/experiments/create", m.CreateExperiment, m.CreateExperimentResponse),
    _e("get_experiment", "GET", "/experiments/get", m.GetExperiment, m.GetExperimentResponse),
    _e("get_experiment_by_name", "GET", "/experiments/get-by-name", m.GetExperimentByName, m.GetExperimentResponse),
    _e("search_experiments", ("POST", "GET"), "/experiments/search", m.SearchExperiments, m.SearchExperimentsResponse),
    _e("update_experiment", "POST", "/experiments/update", m.UpdateExperiment),
    _e("delete_experiment", "POST", "/experiments/delete", m.DeleteExperiment),
    _e("restore_experiment", "POST", "/experiments/restore", m.RestoreExperiment),
    _e("set_experiment_tag", "POST", "/experiments/set-experiment-tag", m.SetExperimentTag),
    _e("delete_experiment_tag", "POST", "/experiments/delete-experiment-tag", m.DeleteExperimentTag),
    # runs
    _e("create_run", "POST", "/runs/create", m.CreateRun, m.RunResponse),
    _e("get_run", "GET", "/runs/get", m.GetRun, m.RunResponse),
    _e("update_run", "POST", "/runs/update", m.UpdateRun, m.UpdateRunResponse),
    _e("delete_run", "POST", "/runs/delete", m.DeleteRun),
    _e("restore_run", "POST", "/runs/restore", m.RestoreRun),
    _e("log_metric", "POST", "/runs/log-metric", m.LogMetric),
    _e("log_param", "POST", "/runs/log-parameter", m.LogParam),
    _e("set_tag", "POST", "/runs/set-tag", m.SetTag),
    _e("delete_tag", "POST", "/runs/delete-tag", m.DeleteTag),
    _e("log_batch", "POST", "/runs/log-batch", m.LogBatch),
    _e("log_inputs", "POST", "/runs/log-inputs", m.LogInputs),
    _e("log_model", "POST", "/runs/log-model", m.LogModel),
    _e("search_runs", "POST", "/runs/search", m.SearchRuns, m.SearchRunsResponse),
    # metrics and artifacts
    _e("get_metric_history", "GET", "/metrics/get-history", m.GetMetricHistory, m.GetMetricHistoryResponse),
    _e(
        "get_metric_history_bulk_interval",
        "GET",
        "/metrics/get-history-bulk-interval",
        m.GetMetricHistoryBulkInterval,
        m.GetMetricHistoryBulkIntervalResponse,
    ),
    _e("list_artifacts", "GET", "/artifacts/list", m.ListArtifacts, m.ListArtifactsResponse),
    # MLflow 3 clients look for logged models before listing or downloading run artifacts
    _e("search_logged_models", "POST", "/logged-models/search", m.SearchLoggedModels, m.SearchLoggedModelsResponse),
]  # fmt: skip

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in _ENDPOINT_LIST}
