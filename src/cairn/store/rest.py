"""A TrackingStore over HTTP: every call becomes one MLflow REST request.

``RestStore`` sends the same wire messages the server parses (``cairn.wire``), so the
two cannot drift apart. ``HttpClient`` is the transport it shares with the artifact
proxy client (``cairn.artifacts.http``): one pooled ``requests`` session per client,
credentials from the environment, timeouts, and retries with exponential backoff on
connection errors and transient statuses (408, 429, 5xx).

A request that must not take effect twice (``log-batch``: a file-store server keeps every
point it is sent; ``experiments/create``: sent again, it answers that the experiment
exists) is sent again only when it surely did not reach the server. When it may have,
the store is read first: the run's metric history, or the experiment by name. Every
request that changes state also carries an ``Idempotency-Key``, the same on each
attempt, which a Cairn server answers once (``cairn.server.idempotency``): that covers
the other writes, and a request still on its way when the store was read. A log-batch
sent again after the history showed it incomplete is marked (``RESENT_HEADER``), and a
Cairn server writes only its missing points: a file-store server that failed in the
middle of the first attempt kept part of it.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

import cairn
from cairn import _forking, env
from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import (
    ErrorCode,
    MlflowException,
    NotImplementedByStore,
    ResourceDoesNotExist,
)
from cairn.store.tracking import history_holds
from cairn.validation import (
    GET_METRIC_HISTORY_MAX_RESULTS,
    SEARCH_MAX_RESULTS_DEFAULT,
    check_metric,
)
from cairn.wire import convert
from cairn.wire import messages as m
from cairn.wire.endpoints import ENDPOINTS, IDEMPOTENCY_HEADER, RESENT_HEADER, Endpoint

R = TypeVar("R", bound=m.Message)

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Answers that say the server did not take the request (a 500, 502 or 504 may come after
# it did its work: a proxy gave up waiting, the server failed while answering).
_NOT_TAKEN_STATUSES = frozenset({408, 429, 503})
# A 500 that carries one of these codes is a deliberate answer, not a hiccup: retrying
# it would only repeat the same answer after a long wait.
_FINAL_ERROR_CODES = frozenset(code.value for code in ErrorCode) - {
    ErrorCode.INTERNAL_ERROR.value,
    ErrorCode.TEMPORARILY_UNAVAILABLE.value,
    ErrorCode.REQUEST_LIMIT_EXCEEDED.value,
    ErrorCode.RESOURCE_EXHAUSTED.value,
    ErrorCode.DEADLINE_EXCEEDED.value,
}
_MAX_BACKOFF_SECONDS = 60.0
_CODE_BY_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.ENDPOINT_NOT_FOUND,
    429: ErrorCode.REQUEST_LIMIT_EXCEEDED,
    501: ErrorCode.NOT_IMPLEMENTED,
    503: ErrorCode.TEMPORARILY_UNAVAILABLE,
}


def _mount_connection_pools(session: requests.Session) -> None:
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


def _fresh_pools(client: HttpClient) -> None:
    """In a forked child: pools of its own. The parent's kept-alive connections would
    carry both processes' requests on one socket and mix their responses."""
    _forking.keep_inherited(list(client.session.adapters.values()))
    _mount_connection_pools(client.session)


class OutcomeUnknown(MlflowException):
    """A request failed after it may have reached the server: it may have been applied.

    Raised only for requests sent with ``repeatable=False``; its error code is the one the
    failure would have had otherwise (the server is then taken as unreachable)."""


def _never_sent(error: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request could go out."""
    cause = error.args[0] if error.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


class HttpClient:
    """Requests to one server, with its credentials, timeouts and retry policy."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        _mount_connection_pools(self.session)
        _forking.renew_in_child(self, _fresh_pools)
        self.session.headers["User-Agent"] = f"cairn/{cairn.__version__}"
        username, password = env.TRACKING_USERNAME.get(), env.TRACKING_PASSWORD.get()
        token = env.TRACKING_TOKEN.get()
        if username and password:
            self.session.auth = (username, password)
        elif token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.verify = not env.TRACKING_INSECURE_TLS.get()
        self.timeout = env.HTTP_REQUEST_TIMEOUT.get()
        self.max_retries = max(0, env.HTTP_REQUEST_MAX_RETRIES.get() or 0)
        self.backoff_factor = env.HTTP_REQUEST_BACKOFF_FACTOR.get() or 0.0

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        data: Callable[[], Any] | None = None,
        stream: bool = False,
        retry: bool = True,
        repeatable: bool = True,
        content_type: str | None = None,
        idempotency_key: str | None = None,
        resent: bool = False,
    ) -> requests.Response:
        """Send one request, retrying transient failures; raise MlflowException on errors.

        ``data`` makes the body afresh for each attempt (a file reopened, say); pass
        ``retry=False`` when the body can be sent only once. ``repeatable=False``: the
        request would do its work twice if repeated, so it is sent again only when it
        surely did not reach the server (no connection, or a 408, 429 or 503 answer); a
        failure after it may have arrived raises ``OutcomeUnknown``. ``idempotency_key``
        goes with every attempt: a Cairn server does the work of a key once. ``resent``
        marks a request the store showed had not arrived whole (``RESENT_HEADER``).
        """
        url = self.url(path)
        headers = {}
        if json_body is not None or content_type:
            headers["Content-Type"] = content_type or "application/json"
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if resent:
            headers[RESENT_HEADER] = "1"
        attempts = 1 + (self.max_retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=None
                    if data is None and json_body is None
                    else (data() if data else json.dumps(json_body)),
                    headers=headers,
                    timeout=self.timeout,
                    stream=stream,
                )
            except requests.ConnectionError as exc:
                sent = not _never_sent(exc)
                if last or (sent and not repeatable):
                    error_type = OutcomeUnknown if sent and not repeatable else MlflowException
                    raise error_type(
                        f"API request to {url} failed: "
                        f"{'the connection broke' if sent else 'could not connect'} ({exc}).",
                        error_code=ErrorCode.TEMPORARILY_UNAVAILABLE,
                    ) from exc
                self.pause(attempt, None)
                continue
            except requests.Timeout as exc:
                raise (MlflowException if repeatable else OutcomeUnknown)(
                    f"API request to {url} timed out after {self.timeout} s.",
                    error_code=ErrorCode.DEADLINE_EXCEEDED,
                ) from exc
            if response.ok:
                return response
            if self._is_transient(response):
                if not repeatable and response.status_code not in _NOT_TAKEN_STATUSES:
                    error = error_from_response(response, url)
                    raise OutcomeUnknown(error.message, error_code=error.error_code)
                if not last:
                    response.close()
                    self.pause(attempt, response.headers.get("Retry-After"))
                    continue
            raise error_from_response(response, url)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _is_transient(response: requests.Response) -> bool:
        if response.status_code not in _TRANSIENT_STATUSES:
            return False
        try:
            code = response.json().get("error_code")
        except (ValueError, AttributeError):
            return True
        return code not in _FINAL_ERROR_CODES

    def pause(self, attempt: int, retry_after: str | None = None) -> None:
        """Wait before attempt ``attempt + 1``: exponential backoff with jitter."""
        delay = min(_MAX_BACKOFF_SECONDS, self.backoff_factor * (2**attempt))
        if retry_after and retry_after.isdigit():
            delay = min(_MAX_BACKOFF_SECONDS, max(delay, float(retry_after)))
        time.sleep(delay * (0.5 + random.random() / 2))

    def call(
        self,
        endpoint: Endpoint,
        message: m.Message,
        response_type: type[R],
        *,
        repeatable: bool = True,
        idempotency_key: str | None = None,
        resent: bool = False,
    ) -> R:
        """Send ``message`` to ``endpoint`` and parse the reply as ``response_type``.

        A request that changes state carries an ``Idempotency-Key``, ``idempotency_key`` or
        a new one: a Cairn server answers its retries without doing the work again."""
        wire = message.to_wire()
        if endpoint.method == "GET":
            response = self.request("GET", endpoint.api_path, params=_query_params(wire))
        else:
            if idempotency_key is None and endpoint.changes_state:
                idempotency_key = uuid.uuid4().hex
            response = self.request(
                endpoint.method,
                endpoint.api_path,
                json_body=wire,
                repeatable=repeatable,
                idempotency_key=idempotency_key,
                resent=resent,
            )
        try:
            return response_type.model_validate(m.parse_json(response.content))
        except ValueError as exc:
            raise MlflowException(
                f"The server at {self.base_url} sent a response that is not valid for "
                f"{endpoint.api_path}: {exc}"
            ) from exc


def _message(endpoint: Endpoint, fields: dict[str, Any]) -> m.Message:
    """The request message of ``endpoint``; a value it refuses raises InvalidParameterValue."""
    try:
        return endpoint.request.model_validate(fields)
    except ValidationError as exc:
        raise m.invalid_message(exc) from None


def _query_params(wire: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in wire.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, json.dumps(item) if isinstance(item, bool) else str(item)))
    return pairs


def error_from_response(response: requests.Response, url: str) -> MlflowException:
    """The exception an error response stands for: its error_code when it sent MLflow's
    error JSON, else one derived from the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        return MlflowException.from_code(str(body["error_code"]), str(body.get("message", "")))
    code = _CODE_BY_STATUS.get(response.status_code, ErrorCode.INTERNAL_ERROR)
    return MlflowException.from_code(
        code,
        f"API request to {url} failed with HTTP {response.status_code}: {response.text[:500]}",
    )


class RestStore:
    """The tracking store of a remote Cairn or MLflow server, addressed by its URL."""

    def __init__(self, uri: str, default_artifact_root: str | None = None) -> None:
        self.uri = uri
        self.http = HttpClient(uri)

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def _call(self, name: str, response_type: type[R], /, **fields: Any) -> R:
        """Build the request message of endpoint ``name`` from ``fields``, send it, and
        return the reply; a value the message refuses raises InvalidParameterValue here,
        before anything is sent."""
        endpoint = ENDPOINTS[name]
        return self.http.call(endpoint, _message(endpoint, fields), response_type)

    def _send(self, name: str, /, **fields: Any) -> None:
        self._call(name, m.Empty, **fields)

    def _call_once(
        self,
        name: str,
        response_type: type[R],
        fields: dict[str, Any],
        applied: Callable[[], R | None],
    ) -> R:
        """``_call`` for a request that must not take effect twice. When its answer is
        lost, ``applied()`` reads the store to tell: the reply it stands for if the
        request took effect, None to send it again. Sent again, it has the same
        ``Idempotency-Key``: should it have been still on its way or at work when the
        store was read (a proxy gave up waiting), a Cairn server does not do it twice.
        It is also marked as resent: a Cairn server that no longer knows the key (it was
        restarted, or its first attempt failed) then writes only what is missing of a
        log-batch, of which an mlruns store may have kept a part."""
        endpoint = ENDPOINTS[name]
        message = _message(endpoint, fields)
        key = uuid.uuid4().hex
        for attempt in range(1 + self.http.max_retries):
            try:
                return self.http.call(
                    endpoint,
                    message,
                    response_type,
                    repeatable=False,
                    idempotency_key=key,
                    resent=attempt > 0,
                )
            except OutcomeUnknown:
                if attempt == self.http.max_retries:
                    raise
            self.http.pause(attempt)
            reply = applied()
            if reply is not None:
                return reply
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- experiments -------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] = ()
    ) -> str:
        """Create it; when the answer is lost, an active experiment of that name is taken
        as the one just made (sent again, the request would answer that it exists)."""

        def applied() -> m.CreateExperimentResponse | None:
            found = self.get_experiment_by_name(name)
            if found is None or found.lifecycle_stage != "active":
                return None
            return m.CreateExperimentResponse(experiment_id=found.experiment_id)

        fields = {"name": name, "artifact_location": artifact_location, "tags": _key_values(tags)}
        reply = self._call_once("create_experiment", m.CreateExperimentResponse, fields, applied)
        return reply.experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        reply = self._call("get_experiment", m.GetExperimentResponse, experiment_id=experiment_id)
        return convert.experiment_from_wire(reply.experiment)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        try:
            reply = self._call(
                "get_experiment_by_name", m.GetExperimentResponse, experiment_name=experiment_name
            )
        except ResourceDoesNotExist:
            return None
        return convert.experiment_from_wire(reply.experiment)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        reply = self._call(
            "search_experiments",
            m.SearchExperimentsResponse,
            view_type=view_type,
            max_results=max_results,
            filter=filter_string or None,
            order_by=list(order_by or ()),
            page_token=page_token,
        )
        experiments = [convert.experiment_from_wire(x) for x in reply.experiments]
        return PagedList(experiments, reply.next_page_token or None)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._send("update_experiment", experiment_id=experiment_id, new_name=new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self._send("delete_experiment", experiment_id=experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._send("restore_experiment", experiment_id=experiment_id)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        self._send("set_experiment_tag", experiment_id=experiment_id, key=tag.key, value=tag.value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._send("delete_experiment_tag", experiment_id=experiment_id, key=key)

    # -- runs --------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        reply = self._call(
            "create_run",
            m.RunResponse,
            experiment_id=experiment_id,
            user_id=user_id,
            start_time=start_time,
            tags=_key_values(tags),
            run_name=run_name,
        )
        return convert.run_from_wire(reply.run)

    def get_run(self, run_id: str) -> Run:
        return convert.run_from_wire(self._call("get_run", m.RunResponse, run_id=run_id).run)

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        reply = self._call(
            "update_run",
            m.UpdateRunResponse,
            run_id=run_id,
            status=None if run_status is None else RunStatus(run_status).name,
            end_time=end_time,
            run_name=run_name,
        )
        return convert.run_info_from_wire(reply.run_info)

    def delete_run(self, run_id: str) -> None:
        self._send("delete_run", run_id=run_id)

    def restore_run(self, run_id: str) -> None:
        self._send("restore_run", run_id=run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._send("delete_tag", run_id=run_id, key=key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Send the batch; when its answer is lost, send it again only if the run's
        history shows its points did not arrive (a file-store server would keep them
        twice). Params and tags may simply be sent again: the same value changes nothing."""
        for metric in metrics:
            # JSON would let "0.5" or true pass as a number; Python callers get the
            # same refusal every other store gives them
            check_metric(metric)
        fields = {
            "run_id": run_id,
            "metrics": [
                {"key": x.key, "value": x.value, "timestamp": x.timestamp, "step": x.step}
                for x in metrics
            ],
            "params": _key_values(params),
            "tags": _key_values(tags),
        }

        def applied() -> m.Empty | None:
            return m.Empty() if history_holds(self, run_id, metrics) else None

        self._call_once("log_batch", m.Empty, fields, applied)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        self._send(
            "log_inputs",
            run_id=run_id,
            datasets=[convert.dataset_input_to_wire(d) for d in datasets],
        )

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """One page; with neither ``max_results`` nor ``page_token``, the whole history,
        fetched in pages of MLflow's largest so that no answer grows without bound."""
        whole = max_results is None and page_token is None
        points: list[Metric] = []
        while True:
            reply = self._call(
                "get_metric_history",
                m.GetMetricHistoryResponse,
                run_id=run_id,
                metric_key=metric_key,
                max_results=GET_METRIC_HISTORY_MAX_RESULTS if whole else max_results,
                page_token=page_token,
            )
            points.extend(map(convert.metric_from_wire, reply.metrics))
            page_token = reply.next_page_token or None
            if not (whole and page_token):
                return PagedList(points, page_token)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        reply = self._call(
            "search_runs",
            m.SearchRunsResponse,
            experiment_ids=[str(x) for x in experiment_ids],
            filter=filter_string or None,
            run_view_type=run_view_type,
            max_results=max_results,
            order_by=list(order_by or ()),
            page_token=page_token,
        )
        runs = [convert.run_from_wire(r) for r in reply.runs]
        return PagedList(runs, reply.next_page_token or None)

    # -- garbage collection: the REST API has no such calls ---------------------------
    def deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        raise _no_gc()

    def hard_delete_run(self, run_id: str) -> None:
        raise _no_gc()

    def deleted_experiment_ids(self, older_than_ms: int | None = None) -> list[str]:
        raise _no_gc()

    def hard_delete_experiment(self, experiment_id: str) -> None:
        raise _no_gc()


def _key_values(items: Sequence[Param | RunTag | ExperimentTag]) -> list[dict[str, Any]]:
    return [{"key": item.key, "value": item.value} for item in items]


def _no_gc() -> NotImplementedByStore:
    return NotImplementedByStore(
        "Garbage collection is not available over REST; run `cairn gc` with the server's "
        "--backend-store-uri instead."
    )
