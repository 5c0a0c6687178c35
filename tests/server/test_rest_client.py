"""RestStore's transport against a scripted HTTP server: retries, errors, credentials."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cairn.entities import Metric, ViewType
from cairn.exceptions import (
    EndpointNotFound,
    ErrorCode,
    InvalidParameterValue,
    InvalidState,
    MlflowException,
    NotImplementedByStore,
)
from cairn.store.rest import RestStore
from server.live import free_port

EXPERIMENT = {
    "experiment_id": "3",
    "name": "e",
    "artifact_location": "/a",
    "lifecycle_stage": "active",
}


@dataclass
class Script:
    """Replies the stub sends in order (the last one repeats), and what it received."""

    replies: list[tuple[int, str, str]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.replies.append((status, content_type, text))


@pytest.fixture
def stub(quick_client: None) -> Iterator[tuple[Script, str]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            script.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length).decode() if length else "",
                }
            )
            status, content_type, text = (
                script.replies.pop(0) if len(script.replies) > 1 else script.replies[0]
            )
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_transient_statuses_are_retried(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(503, "busy", "text/plain")
    script.reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"})
    script.reply(200, {"experiment": EXPERIMENT})
    assert RestStore(url).get_experiment("3").name == "e"
    assert len(script.seen) == 3
    assert script.seen[0]["path"] == "/api/2.0/mlflow/experiments/get?experiment_id=3"


def test_a_deliberate_server_error_is_not_retried(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(500, {"error_code": "INVALID_STATE", "message": "run is finished"})
    with pytest.raises(InvalidState, match="run is finished"):
        RestStore(url).delete_run("r")
    assert len(script.seen) == 1


def test_retries_give_up_with_the_last_error(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(502, "<html>bad gateway</html>", "text/html")
    with pytest.raises(MlflowException) as caught:
        RestStore(url).get_run("r")
    assert caught.value.error_code == ErrorCode.INTERNAL_ERROR
    assert "502" in caught.value.message
    assert len(script.seen) == 3  # the first try and CAIRN_HTTP_REQUEST_MAX_RETRIES=2


def test_a_write_that_may_have_been_applied_is_checked_before_it_is_sent_again(
    stub: tuple[Script, str],
) -> None:
    script, url = stub
    script.reply(502, "<html>bad gateway</html>", "text/html")  # applied or not? unknown
    script.reply(200, {"metrics": []})  # the history: it was not
    script.reply(200, {})
    RestStore(url).log_batch("r", [Metric("m", 1.0, 5, 0)])
    paths = [seen["path"].split("?")[0] for seen in script.seen]
    assert paths == [
        "/api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow/metrics/get-history",
        "/api/2.0/mlflow/runs/log-batch",
    ]


def test_a_write_the_server_did_not_take_is_sent_again_at_once(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"})
    script.reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"})
    script.reply(200, {})
    RestStore(url).log_batch("r", [Metric("m", 1.0, 5, 0)])
    assert [seen["path"] for seen in script.seen] == ["/api/2.0/mlflow/runs/log-batch"] * 3


def test_a_write_to_a_closed_port_is_retried_and_then_unreachable(quick_client: None) -> None:
    with pytest.raises(MlflowException) as caught:
        RestStore(f"http://127.0.0.1:{free_port()}").log_batch("r", [Metric("m", 1.0, 5, 0)])
    assert caught.value.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
    assert "could not connect" in caught.value.message


def test_non_json_404_means_no_such_endpoint(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(404, "<h1>Not Found</h1>", "text/html")
    with pytest.raises(EndpointNotFound):
        RestStore(url).get_run("r")


def test_missing_experiment_by_name_is_none(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"})
    assert RestStore(url).get_experiment_by_name("ghost") is None


def test_unreachable_server_is_temporarily_unavailable(quick_client: None) -> None:
    with pytest.raises(MlflowException) as caught:
        RestStore(f"http://127.0.0.1:{free_port()}").get_run("r")
    assert caught.value.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE


def test_basic_credentials_are_sent(
    stub: tuple[Script, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = stub
    script.reply(200, {"experiment": EXPERIMENT})
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
    monkeypatch.setenv("CAIRN_TRACKING_PASSWORD", "s3cret")
    RestStore(url).get_experiment("3")
    expected = "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert script.seen[0]["headers"]["Authorization"] == expected


def test_bearer_token_is_sent(stub: tuple[Script, str], monkeypatch: pytest.MonkeyPatch) -> None:
    script, url = stub
    script.reply(200, {"experiment": EXPERIMENT})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok")
    RestStore(url).get_experiment("3")
    assert script.seen[0]["headers"]["Authorization"] == "Bearer tok"


def test_requests_carry_the_wire_messages(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(200, {})
    store = RestStore(url + "/prefix")
    store.search_runs(["1", "2"], "metrics.a > 1", ViewType.ALL, 10, ["metrics.a DESC"])
    sent = script.seen[0]
    assert (sent["method"], sent["path"]) == ("POST", "/prefix/api/2.0/mlflow/runs/search")
    assert json.loads(sent["body"]) == {
        "experiment_ids": ["1", "2"],
        "filter": "metrics.a > 1",
        "run_view_type": 3,
        "max_results": 10,
        "order_by": ["metrics.a DESC"],
    }
    store.get_metric_history("r", "loss", max_results=5)
    assert script.seen[1]["path"] == (
        "/prefix/api/2.0/mlflow/metrics/get-history?run_id=r&metric_key=loss&max_results=5"
    )


def test_a_whole_history_is_fetched_page_by_page(stub: tuple[Script, str]) -> None:
    script, url = stub
    point = {"key": "loss", "value": 0.5, "timestamp": 7}
    script.reply(200, {"metrics": [{**point, "step": 1}], "next_page_token": "p2"})
    script.reply(200, {"metrics": [{**point, "step": 2}]})
    history = RestStore(url).get_metric_history("r", "loss")
    assert [m.step for m in history] == [1, 2]
    assert history.token is None
    assert [seen["path"].split("?")[1] for seen in script.seen] == [
        "run_id=r&metric_key=loss&max_results=25000",
        "run_id=r&metric_key=loss&page_token=p2&max_results=25000",
    ]


def test_bad_values_are_refused_before_sending(stub: tuple[Script, str]) -> None:
    script, url = stub
    script.reply(200, {})
    with pytest.raises(InvalidParameterValue, match="'value'"):
        RestStore(url).set_experiment_tag("1", type("Tag", (), {"key": "k", "value": 5})())  # type: ignore[arg-type]
    assert script.seen == []


def test_garbage_collection_is_not_available_over_rest() -> None:
    store = RestStore("http://127.0.0.1:9")
    with pytest.raises(NotImplementedByStore):
        store.deleted_run_ids()
    with pytest.raises(NotImplementedByStore):
        store.hard_delete_experiment("1")
