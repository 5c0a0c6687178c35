"""The tracking REST API of a live server process: JSON shapes, statuses and errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from cairn.wire.endpoints import ENDPOINTS
from server.live import LiveServer

pytestmark = pytest.mark.server


class Api:
    """Raw HTTP against one prefix of the server, returning (status, JSON body)."""

    def __init__(self, server: LiveServer, prefix: str = "/api/2.0/mlflow") -> None:
        self.base = server.url + prefix

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        response = requests.post(self.base + path, json=body, timeout=30)
        return response.status_code, response.json()

    def get(self, path: str, params: Any = None) -> tuple[int, Any]:
        response = requests.get(self.base + path, params=params, timeout=30)
        return response.status_code, response.json()

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, reply = self.post(path, body) if method == "POST" else self.get(path, body)
        assert status == 200, reply
        return reply


@pytest.fixture
def api(live_server: LiveServer) -> Api:
    return Api(live_server)


def _name() -> str:
    return f"exp-{uuid.uuid4().hex[:10]}"


def _new_run(api: Api, **fields: Any) -> dict[str, Any]:
    exp_id = api.ok("POST", "/experiments/create", {"name": _name()})["experiment_id"]
    run: dict[str, Any] = api.ok("POST", "/runs/create", {"experiment_id": exp_id, **fields})["run"]
    return run


# -- experiments ------------------------------------------------------------------------


def test_experiment_create_and_get_have_mlflow_shape(api: Api) -> None:
    name = _name()
    reply = api.ok(
        "POST", "/experiments/create", {"name": name, "tags": [{"key": "a", "value": "b"}]}
    )
    assert list(reply) == ["experiment_id"]
    experiment = api.ok("GET", "/experiments/get", {"experiment_id": reply["experiment_id"]})[
        "experiment"
    ]
    assert list(experiment) == [
        "experiment_id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        "last_update_time",
        "creation_time",
        "tags",
    ]
    assert experiment["name"] == name
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{reply['experiment_id']}"
    assert isinstance(experiment["creation_time"], int)
    assert experiment["tags"] == [{"key": "a", "value": "b"}]
    by_name = api.ok("GET", "/experiments/get-by-name", {"experiment_name": name})
    assert by_name["experiment"] == experiment


def test_experiment_lifecycle_calls_answer_empty_objects(api: Api) -> None:
    exp_id = api.ok("POST", "/experiments/create", {"name": _name()})["experiment_id"]
    new_name = _name()
    for path, body in [
        ("/experiments/update", {"experiment_id": exp_id, "new_name": new_name}),
        ("/experiments/set-experiment-tag", {"experiment_id": exp_id, "key": "k", "value": "v"}),
        ("/experiments/delete-experiment-tag", {"experiment_id": exp_id, "key": "k"}),
        ("/experiments/delete", {"experiment_id": exp_id}),
    ]:
        assert api.ok("POST", path, body) == {}
    experiment = api.ok("GET", "/experiments/get", {"experiment_id": exp_id})["experiment"]
    assert (experiment["name"], experiment["lifecycle_stage"]) == (new_name, "deleted")
    assert "tags" not in experiment
    assert api.ok("POST", "/experiments/restore", {"experiment_id": exp_id}) == {}


def test_experiment_search_by_get_with_repeated_keys_and_by_post(api: Api) -> None:
    prefix = f"srch-{uuid.uuid4().hex[:6]}"
    for suffix in ("a", "b", "c"):
        api.ok("POST", "/experiments/create", {"name": f"{prefix}-{suffix}"})
    query = [("filter", f"name LIKE '{prefix}%'"), ("max_results", "2"), ("order_by", "name DESC")]
    first = api.ok("GET", "/experiments/search", query)
    assert [x["name"] for x in first["experiments"]] == [f"{prefix}-c", f"{prefix}-b"]
    second = api.ok(
        "POST",
        "/experiments/search",
        {
            "filter": f"name LIKE '{prefix}%'",
            "max_results": 2,
            "order_by": ["name DESC"],
            "page_token": first["next_page_token"],
            "view_type": "ALL",
        },
    )
    assert [x["name"] for x in second["experiments"]] == [f"{prefix}-a"]
    assert "next_page_token" not in second


# -- runs -------------------------------------------------------------------------------


def test_run_create_has_mlflow_shape(api: Api) -> None:
    run = _new_run(api, run_name="first", start_time=123, tags=[{"key": "t", "value": "1"}])
    assert list(run) == ["info", "data", "inputs"]
    info = run["info"]
    assert list(info) == [
        "run_uuid",
        "experiment_id",
        "run_name",
        "user_id",
        "status",
        "start_time",
        "artifact_uri",
        "lifecycle_stage",
        "run_id",
    ]  # end_time is unset, so absent
    assert info["run_uuid"] == info["run_id"]
    assert (info["status"], info["start_time"], info["run_name"]) == ("RUNNING", 123, "first")
    assert (
        info["artifact_uri"]
        == f"mlflow-artifacts:/{info['experiment_id']}/{info['run_id']}/artifacts"
    )
    assert {"key": "mlflow.runName", "value": "first"} in run["data"]["tags"]
    assert run["inputs"] == {}


def test_logging_calls_and_get_run(api: Api) -> None:
    run_id = _new_run(api)["info"]["run_id"]
    assert (
        api.ok(
            "POST",
            "/runs/log-metric",
            {"run_uuid": run_id, "key": "nan", "value": "NaN", "timestamp": 5},
        )
        == {}
    )
    assert api.ok("POST", "/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}) == {}
    assert api.ok("POST", "/runs/set-tag", {"run_id": run_id, "key": "gone", "value": "x"}) == {}
    assert api.ok("POST", "/runs/delete-tag", {"run_id": run_id, "key": "gone"}) == {}
    assert (
        api.ok(
            "POST",
            "/runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "inf", "value": "-Infinity", "timestamp": 1, "step": 2}],
                "params": [{"key": "q", "value": ""}],
                "tags": [{"key": "t", "value": "v"}],
            },
        )
        == {}
    )
    assert (
        api.ok(
            "POST",
            "/runs/log-inputs",
            {
                "run_id": run_id,
                "datasets": [
                    {
                        "tags": [{"key": "mlflow.data.context", "value": "train"}],
                        "dataset": {
                            "name": "d",
                            "digest": "abc",
                            "source_type": "local",
                            "source": "/x",
                        },
                    }
                ],
            },
        )
        == {}
    )
    run = api.ok("GET", "/runs/get", {"run_id": run_id})["run"]
    metrics = {x["key"]: x for x in run["data"]["metrics"]}
    assert metrics["nan"] == {"key": "nan", "value": "NaN", "timestamp": 5, "step": 0}
    assert metrics["inf"]["value"] == "-Infinity"
    assert {"key": "q", "value": ""} in run["data"]["params"]
    assert "gone" not in {t["key"] for t in run["data"]["tags"]}
    dataset_input = run["inputs"]["dataset_inputs"][0]
    assert dataset_input["dataset"] == {
        "name": "d",
        "digest": "abc",
        "source_type": "local",
        "source": "/x",
    }


def test_update_delete_and_restore_run(api: Api) -> None:
    run_id = _new_run(api)["info"]["run_id"]
    info = api.ok(
        "POST",
        "/runs/update",
        {"run_id": run_id, "status": 3, "end_time": 99, "run_name": "renamed"},
    )["run_info"]
    assert (info["status"], info["end_time"], info["run_name"]) == ("FINISHED", 99, "renamed")
    assert api.ok("POST", "/runs/delete", {"run_id": run_id}) == {}
    assert (
        api.ok("GET", "/runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"]
        == "deleted"
    )
    assert api.ok("POST", "/runs/restore", {"run_id": run_id}) == {}


def test_search_runs_filters_orders_and_pages(api: Api) -> None:
    exp_id = api.ok("POST", "/experiments/create", {"name": _name()})["experiment_id"]
    for i in range(3):
        run_id = api.ok("POST", "/runs/create", {"experiment_id": exp_id})["run"]["info"]["run_id"]
        api.ok(
            "POST", "/runs/log-metric", {"run_id": run_id, "key": "acc", "value": i, "timestamp": 1}
        )
    body: dict[str, Any] = {
        "experiment_ids": [exp_id],
        "filter": "metrics.acc >= 1",
        "order_by": ["metrics.acc DESC"],
        "max_results": 1,
        "run_view_type": "ACTIVE_ONLY",
    }
    first = api.ok("POST", "/runs/search", body)
    second = api.ok("POST", "/runs/search", {**body, "page_token": first["next_page_token"]})
    values = [r["data"]["metrics"][0]["value"] for r in first["runs"] + second["runs"]]
    assert values == [2.0, 1.0]
    assert "next_page_token" not in second
    assert api.ok("POST", "/runs/search", {"experiment_ids": [exp_id], "run_view_type": 2}) == {}


def test_metric_history_pages_and_bulk_interval(api: Api) -> None:
    run_id = _new_run(api)["info"]["run_id"]
    metrics = [
        {"key": "m", "value": step / 2, "timestamp": 10 + step, "step": step} for step in range(10)
    ]
    api.ok("POST", "/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    first = api.ok(
        "GET", "/metrics/get-history", {"run_id": run_id, "metric_key": "m", "max_results": 4}
    )
    assert [x["step"] for x in first["metrics"]] == [0, 1, 2, 3]
    rest = api.ok(
        "GET",
        "/metrics/get-history",
        {"run_id": run_id, "metric_key": "m", "page_token": first["next_page_token"]},
    )
    assert [x["step"] for x in rest["metrics"]] == list(range(4, 10))
    bulk = api.ok(
        "GET",
        "/metrics/get-history-bulk-interval",
        [
            ("run_ids", run_id),
            ("metric_key", "m"),
            ("start_step", 2),
            ("end_step", 8),
            ("max_results", 3),
        ],
    )
    assert [(x["step"], x["run_id"]) for x in bulk["metrics"]] == [
        (2, run_id),
        (5, run_id),
        (8, run_id),
    ]


def test_artifact_listing_of_a_run(api: Api, live_server: LiveServer) -> None:
    info = _new_run(api)["info"]
    relative = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    upload = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/{relative}/dir/a.txt"
    assert requests.put(upload, data=b"abc", timeout=30).status_code == 200
    listing = api.ok("GET", "/artifacts/list", {"run_id": info["run_id"]})
    assert listing == {"root_uri": info["artifact_uri"], "files": [{"path": "dir", "is_dir": True}]}
    inner = api.ok("GET", "/artifacts/list", {"run_id": info["run_id"], "path": "dir"})
    assert inner["files"] == [{"path": "dir/a.txt", "is_dir": False, "file_size": 3}]


def test_ajax_prefix_mirrors_the_api(live_server: LiveServer, api: Api) -> None:
    exp_id = api.ok("POST", "/experiments/create", {"name": _name()})["experiment_id"]
    ajax = Api(live_server, "/ajax-api/2.0/mlflow")
    assert ajax.ok("GET", "/experiments/get", {"experiment_id": exp_id}) == api.ok(
        "GET", "/experiments/get", {"experiment_id": exp_id}
    )


def test_log_model_appends_to_the_model_history_tag(api: Api) -> None:
    run_id = _new_run(api)["info"]["run_id"]
    for flavor in ("a", "b"):
        model_json = json.dumps({"artifact_path": "model", "flavors": {flavor: {}}})
        assert api.ok("POST", "/runs/log-model", {"run_id": run_id, "model_json": model_json}) == {}
    tags = {
        t["key"]: t["value"]
        for t in api.ok("GET", "/runs/get", {"run_id": run_id})["run"]["data"]["tags"]
    }
    history = json.loads(tags["mlflow.log-model.history"])
    assert [list(model["flavors"]) for model in history] == [["a"], ["b"]]


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "fragment"),
    [
        ("POST", "/experiments/create", {}, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'"),
        ("POST", "/experiments/create", {"name": 5}, 400, "INVALID_PARAMETER_VALUE", "parameter 'name'"),
        ("GET", "/experiments/get", {"experiment_id": "987654"}, 404, "RESOURCE_DOES_NOT_EXIST", "987654"),
        ("GET", "/experiments/get-by-name", {"experiment_name": "no such"}, 404, "RESOURCE_DOES_NOT_EXIST", "no such"),
        ("GET", "/runs/get", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", "0" * 32),
        ("GET", "/runs/get", None, 400, "INVALID_PARAMETER_VALUE", "'run_id'"),
        ("POST", "/runs/log-metric", {"run_id": "r", "key": "k", "value": 1}, 400, "INVALID_PARAMETER_VALUE", "'timestamp'"),
        ("POST", "/runs/search", {"run_view_type": "SOMETIMES"}, 400, "INVALID_PARAMETER_VALUE", "run_view_type"),
        ("POST", "/runs/search", {"experiment_ids": ["0"], "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
        ("POST", "/runs/log-model", {"run_id": "r", "model_json": "[1]"}, 400, "INVALID_PARAMETER_VALUE", "model_json"),
    ],
)  # fmt: skip
def test_client_mistakes_get_mlflow_error_json(
    api: Api, method: str, path: str, body: Any, status: int, code: str, fragment: str
) -> None:
    got_status, reply = api.post(path, body) if method == "POST" else api.get(path, body)
    assert (got_status, reply["error_code"]) == (status, code), reply
    assert fragment in reply["message"]
    assert set(reply) == {"error_code", "message"}


def test_duplicate_experiment_is_resource_already_exists_400(api: Api) -> None:
    name = _name()
    api.ok("POST", "/experiments/create", {"name": name})
    status, reply = api.post("/experiments/create", {"name": name})
    assert (status, reply["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize(
    ("body", "fragment"), [(b"{not json", "Malformed JSON"), (b"[1, 2]", "JSON object")]
)
def test_malformed_bodies_are_bad_requests(
    live_server: LiveServer, body: bytes, fragment: str
) -> None:
    response = requests.post(
        live_server.api("/experiments/create"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert fragment in response.json()["message"]


def _post_raw(api: Api, path: str, body: bytes) -> tuple[int, Any]:
    response = requests.post(
        api.base + path, data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    return response.status_code, response.json()


def test_json_beyond_the_strict_standard_is_read_as_python_reads_it(api: Api) -> None:
    """Bodies that Python's json module (and so MLflow's server) reads: NaN literals and
    UTF-16 text; an integer past 64 bits is read, then refused as out of bounds."""
    run_id = _new_run(api)["info"]["run_id"]
    literal = b'{"run_id": "%s", "key": "lit", "value": NaN, "timestamp": 1}' % run_id.encode()
    assert _post_raw(api, "/runs/log-metric", literal) == (200, {})
    utf16 = json.dumps({"run_id": run_id, "key": "k\u00e9", "value": "v"}).encode("utf-16")
    assert _post_raw(api, "/runs/log-parameter", utf16) == (200, {})
    run = api.ok("GET", "/runs/get", {"run_id": run_id})["run"]
    assert {"key": "lit", "value": "NaN", "timestamp": 1, "step": 0} in run["data"]["metrics"]
    assert {"key": "k\u00e9", "value": "v"} in run["data"]["params"]
    huge = b'{"run_id": "%s", "key": "h", "value": 1, "timestamp": %d}' % (
        run_id.encode(),
        2**64,
    )
    status, reply = _post_raw(api, "/runs/log-metric", huge)
    assert (status, reply["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "'timestamp'" in reply["message"]
    surrogate = b'{"run_id": "%s", "key": "s", "value": "a\\ud800"}' % run_id.encode()
    status, reply = _post_raw(api, "/runs/log-parameter", surrogate)
    assert (status, reply["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "surrogate" in reply["message"]


def test_unknown_endpoints_and_methods_answer_json(live_server: LiveServer) -> None:
    missing = requests.get(live_server.api("/runs/teleport"), timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong_method = requests.get(live_server.api("/experiments/create"), timeout=30)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_oversized_bodies_are_refused_with_413(live_server: LiveServer) -> None:
    huge = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    response = requests.post(live_server.api("/experiments/create"), data=huge, timeout=60)
    assert response.status_code == 413
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_every_endpoint_is_served_on_both_prefixes_and_documented(
    live_server: LiveServer,
) -> None:
    document = requests.get(f"{live_server.url}/openapi.json", timeout=30).json()
    for endpoint in ENDPOINTS.values():
        for method in endpoint.methods:
            assert method.lower() in document["paths"][endpoint.api_path], endpoint.name
            for path in endpoint.served_paths():
                response = requests.request(method, live_server.url + path, json={}, timeout=30)
                # routed: answered by the endpoint (success or a refusal of the empty message)
                assert response.status_code in (200, 400, 404), (path, response.text)
                assert response.json().get("error_code") != "ENDPOINT_NOT_FOUND", path


def test_health_version_and_openapi(live_server: LiveServer) -> None:
    assert requests.get(f"{live_server.url}/health", timeout=30).text == "OK"
    assert requests.get(f"{live_server.url}/version", timeout=30).status_code == 200
    document = requests.get(f"{live_server.url}/openapi.json", timeout=30).json()
    create = document["paths"]["/api/2.0/mlflow/experiments/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateExperiment"
    }
    schemas = document["components"]["schemas"]
    assert "name" in schemas["CreateExperiment"]["properties"]
    assert "experiment_id" in schemas["CreateExperimentResponse"]["properties"]
    get_run = document["paths"]["/api/2.0/mlflow/runs/get"]["get"]
    assert "run_id" in {p["name"] for p in get_run["parameters"]}
