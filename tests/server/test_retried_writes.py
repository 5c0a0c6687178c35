"""A write whose answer was lost is not applied twice.

Between the client and a real server over an ``mlruns`` store (which keeps every point it
is sent, as MLflow's file store does) sits a proxy that passes each request on but, for
the ones the test picks, hangs up instead of passing the answer back: the server applied
the write, the client cannot know it. Or it gives up at once with a 504 and passes the
request on only later, as a proxy in front of a busy server does. The client must
neither lose the write nor apply it twice.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from cairn.entities import Metric, Param
from cairn.exceptions import ErrorCode, MlflowException
from cairn.store.rest import RestStore
from cairn.tracking.offline import is_unreachable
from cairn.wire.endpoints import IDEMPOTENCY_HEADER, RESENT_HEADER
from server.live import LiveServer, free_port, running_server

pytestmark = [pytest.mark.server]

LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"


class Dropper:
    """A proxy to ``upstream`` that fails the next ``drops`` requests to ``path``: it hangs
    up after passing the request on (``lose="answer"``: the server applied it) or before
    (``lose="request"``: it never reached the server), or answers 504 at once and passes
    the request on a second later (``lose="late"``). ``lose="part"`` stands for a server
    that died in the middle of a log-batch and was restarted: it passes on the first half
    of the batch's metrics, without the key (the new process never saw it), and hangs up."""

    def __init__(self, upstream: str) -> None:
        self.path = LOG_BATCH
        self.drops = 0
        self.lose = "answer"
        self.arrived = 0  # how many requests to ``path`` reached the server
        self.headers_seen: list[dict[str, str]] = []
        self.late: list[threading.Thread] = []
        dropper = self

        def forward(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Any:
            answer = requests.request(
                method, upstream + path, data=body, headers=headers, timeout=30
            )
            dropper.arrived += path.startswith(dropper.path)
            return answer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                dropping = self.path.startswith(dropper.path) and dropper.drops > 0
                if dropping:
                    dropper.drops -= 1
                headers = {
                    name: self.headers[name]
                    for name in ("Content-Type", IDEMPOTENCY_HEADER, RESENT_HEADER)
                    if name in self.headers
                }
                dropper.headers_seen.append(dict(headers))
                if dropping and dropper.lose == "part" and body:
                    batch = json.loads(body)
                    batch["metrics"] = batch["metrics"][: len(batch["metrics"]) // 2]
                    body = json.dumps(batch).encode()
                    headers.pop(IDEMPOTENCY_HEADER, None)
                request = (self.command, self.path, body, headers)
                if dropping and dropper.lose == "late":
                    late = threading.Timer(1.0, forward, request)
                    late.start()
                    dropper.late.append(late)
                    self.send_response(504)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if not (dropping and dropper.lose == "request"):
                    answer = forward(*request)
                if dropping:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        for late in self.late:
            late.join()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def file_store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("retried-writes")
    with running_server(root, str(root / "mlruns")) as server:
        yield server


@pytest.fixture
def proxied(
    file_store_server: LiveServer, quick_client: None
) -> Iterator[tuple[Dropper, RestStore, RestStore, str]]:
    """The proxy, a store through it, a store straight to the server, and a new run."""
    direct = RestStore(file_store_server.url)
    experiment_id = direct.create_experiment(f"e{free_port()}")
    run_id = direct.create_run(experiment_id, "u", 0, [], "r").info.run_id
    dropper = Dropper(file_store_server.url)
    yield dropper, RestStore(dropper.url), direct, run_id
    dropper.close()


def steps(store: RestStore, run_id: str, key: str) -> list[int]:
    return [point.step for point in store.get_metric_history(run_id, key)]


def points(key: str, count: int) -> list[Metric]:
    return [Metric(key, 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(count)]


def test_a_batch_whose_answer_was_lost_is_logged_once(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, run_id = proxied
    dropper.drops = 1
    store.log_batch(run_id, points("loss", 50), [Param("lr", "0.1")])
    assert steps(direct, run_id, "loss") == list(range(50))
    assert direct.get_run(run_id).data.params == {"lr": "0.1"}
    assert dropper.arrived == 1  # the history showed it had arrived


def test_a_batch_lost_on_its_way_is_sent_again(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, run_id = proxied
    store.log_batch(run_id, points("acc", 3))
    dropper.drops, dropper.lose = 1, "request"
    store.log_batch(run_id, points("acc", 6)[3:])
    assert steps(direct, run_id, "acc") == list(range(6))
    assert dropper.arrived == 2


def test_a_batch_without_metrics_is_simply_sent_again(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, run_id = proxied
    dropper.drops = 1
    store.log_batch(run_id, params=[Param("layers", "4")])
    assert direct.get_run(run_id).data.params == {"layers": "4"}
    assert dropper.arrived == 2  # a param logged again with its value changes nothing


def test_a_batch_still_unanswered_after_the_retries_says_so(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, run_id = proxied
    dropper.drops, dropper.lose = 10, "request"
    with pytest.raises(MlflowException) as caught:
        store.log_batch(run_id, points("x", 2))
    assert is_unreachable(caught.value)  # the offline journal takes it from here
    assert dropper.arrived == 0
    assert steps(direct, run_id, "x") == []


def test_an_experiment_whose_answer_was_lost_is_created_once(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, _ = proxied
    dropper.path, dropper.drops = "/api/2.0/mlflow/experiments/create", 1
    name = f"lost-answer-{free_port()}"
    experiment_id = store.create_experiment(name)  # sent again, it would say "exists"
    found = direct.get_experiment_by_name(name)
    assert found is not None
    assert found.experiment_id == experiment_id
    assert dropper.arrived == 1


def test_a_deleted_experiment_of_that_name_is_not_taken_for_the_new_one(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, _ = proxied
    name = f"deleted-{free_port()}"
    direct.delete_experiment(direct.create_experiment(name))
    dropper.path, dropper.drops, dropper.lose = "/api/2.0/mlflow/experiments/create", 1, "request"
    with pytest.raises(MlflowException) as caught:
        store.create_experiment(name)
    assert caught.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS  # the server's answer
    assert dropper.arrived == 1


def test_a_batch_passed_on_after_its_retry_is_logged_once(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    """The 504 comes at once; the request reaches the server only after the client read
    the history, found nothing and sent the batch again. The server knows the key."""
    dropper, store, direct, run_id = proxied
    dropper.drops, dropper.lose = 1, "late"
    store.log_batch(run_id, points("late", 40))
    assert steps(direct, run_id, "late") == list(range(40))  # the retry arrived
    dropper.late[0].join()
    assert dropper.arrived == 2  # and then the first attempt
    assert steps(direct, run_id, "late") == list(range(40))


def test_a_run_whose_answer_was_lost_is_created_once(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    dropper, store, direct, run_id = proxied
    experiment_id = direct.get_run(run_id).info.experiment_id
    dropper.path, dropper.drops = "/api/2.0/mlflow/runs/create", 1
    run = store.create_run(experiment_id, "u", 0, [], "lost-answer")
    assert dropper.arrived == 2  # sent again, answered from what the server kept
    named = direct.search_runs([experiment_id], "attributes.run_name = 'lost-answer'")
    assert [found.info.run_id for found in named] == [run.info.run_id]


def test_a_batch_the_server_kept_in_part_is_completed_once(
    proxied: tuple[Dropper, RestStore, RestStore, str],
) -> None:
    """An mlruns store writes a batch a file at a time; the history shows the batch
    incomplete, and the batch sent again, marked as resent, adds only what is missing."""
    dropper, store, direct, run_id = proxied
    dropper.drops, dropper.lose = 1, "part"
    store.log_batch(run_id, points("part", 10) + points("rest", 10), [Param("opt", "adam")])
    assert steps(direct, run_id, "part") == list(range(10))
    assert steps(direct, run_id, "rest") == list(range(10))
    assert direct.get_run(run_id).data.params == {"opt": "adam"}
    first, again = (h for h in dropper.headers_seen if IDEMPOTENCY_HEADER in h)
    assert RESENT_HEADER not in first
    assert again[RESENT_HEADER] == "1"
    assert again[IDEMPOTENCY_HEADER] == first[IDEMPOTENCY_HEADER]


def test_the_resent_mark_is_heeded_only_under_a_key(
    file_store_server: LiveServer, proxied: tuple[Dropper, RestStore, RestStore, str]
) -> None:
    """Without a key the server cannot know that no earlier attempt is still at work, so
    a batch marked as resent is then written whole."""
    _, _, direct, run_id = proxied

    def log(batch: list[Metric], headers: dict[str, str]) -> None:
        metrics = [
            {"key": x.key, "value": x.value, "timestamp": x.timestamp, "step": x.step}
            for x in batch
        ]
        answer = requests.post(
            file_store_server.url + LOG_BATCH,
            json={"run_id": run_id, "metrics": metrics},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 200

    log(points("m", 1), {})  # what a first attempt that died half-way had written
    log(points("m", 2), {RESENT_HEADER: "1", IDEMPOTENCY_HEADER: uuid.uuid4().hex})
    assert steps(direct, run_id, "m") == [0, 1]
    log(points("m", 2), {RESENT_HEADER: "1"})
    assert steps(direct, run_id, "m") == [0, 0, 1, 1]
