"""Writes sent again with the same Idempotency-Key are done once.

Over HTTP against a live server for what a client sees; the keeper alone for the orders
of events a live server cannot be made to produce on cue (a repeat arriving while the
first attempt is still at work, a server failure, expiry).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.responses import Response, StreamingResponse

from cairn.exceptions import TemporarilyUnavailable
from cairn.server import idempotency
from cairn.server.idempotency import AnswerKeeper, MemoryAnswers, SharedAnswers, fingerprint
from server.live import LiveServer, running_server

pytestmark = pytest.mark.server

API = "/api/2.0/mlflow"


def post(server: LiveServer, path: str, body: Any, key: str | None) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(server.url + API + path, json=body, headers=headers, timeout=30)


def run_ids(server: LiveServer, experiment_id: str) -> list[str]:
    found = post(server, "/runs/search", {"experiment_ids": [experiment_id]}, None).json()
    return [run["info"]["run_id"] for run in found.get("runs", [])]


@pytest.fixture
def experiment_id(live_server: LiveServer) -> str:
    created = post(live_server, "/experiments/create", {"name": f"idem-{uuid.uuid4().hex}"}, None)
    return str(created.json()["experiment_id"])


def test_a_repeated_create_run_gets_the_first_answer_and_makes_one_run(
    live_server: LiveServer, experiment_id: str
) -> None:
    body = {"experiment_id": experiment_id, "start_time": 1}
    first = post(live_server, "/runs/create", body, "k-" + experiment_id)
    again = post(live_server, "/runs/create", body, "k-" + experiment_id)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotency-Key"] == "k-" + experiment_id
    assert run_ids(live_server, experiment_id) == [first.json()["run"]["info"]["run_id"]]


def test_requests_without_a_key_or_with_new_keys_are_each_done(
    live_server: LiveServer, experiment_id: str
) -> None:
    body = {"experiment_id": experiment_id, "start_time": 1}
    post(live_server, "/runs/create", body, None)
    post(live_server, "/runs/create", body, None)
    post(live_server, "/runs/create", body, uuid.uuid4().hex)
    post(live_server, "/runs/create", body, uuid.uuid4().hex)
    assert len(run_ids(live_server, experiment_id)) == 4


def test_a_refusal_is_kept_too(live_server: LiveServer, experiment_id: str) -> None:
    key = uuid.uuid4().hex
    missing = {"experiment_id": "999999", "start_time": 1}
    first = post(live_server, "/runs/create", missing, key)
    assert first.status_code == 404
    again = post(live_server, "/runs/create", missing, key)
    assert (again.status_code, again.json()) == (404, first.json())


def test_a_key_used_again_for_another_request_is_refused(
    live_server: LiveServer, experiment_id: str
) -> None:
    key = uuid.uuid4().hex
    assert post(live_server, "/runs/create", {"experiment_id": experiment_id}, key).ok
    other = post(
        live_server, "/runs/create", {"experiment_id": experiment_id, "run_name": "b"}, key
    )
    assert other.status_code == 400
    assert other.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "already used for a different request" in other.json()["message"]
    assert len(run_ids(live_server, experiment_id)) == 1


def test_searches_are_not_kept(live_server: LiveServer, experiment_id: str) -> None:
    key = uuid.uuid4().hex
    search = {"experiment_ids": [experiment_id]}
    assert "runs" not in post(live_server, "/runs/search", search, key).json()
    post(live_server, "/runs/create", {"experiment_id": experiment_id}, None)
    assert len(post(live_server, "/runs/search", search, key).json()["runs"]) == 1


@pytest.mark.parametrize("key", ["k" * 256, ""], ids=["overlong", "empty"])
def test_an_overlong_or_empty_key_is_refused(
    live_server: LiveServer, experiment_id: str, key: str
) -> None:
    headers = {"Idempotency-Key": key}  # sent as it is, even empty
    refused = requests.post(
        live_server.url + API + "/runs/create",
        json={"experiment_id": experiment_id},
        headers=headers,
        timeout=30,
    )
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert run_ids(live_server, experiment_id) == []


def test_the_fingerprint_tells_apart_endpoints_whose_names_share_a_prefix() -> None:
    body = b'{"experiment_id": "1", "key": "k"}'
    assert fingerprint("delete_experiment", body) != fingerprint("delete_experiment_tag", body)


class Work:
    """A request's work that counts its runs and can be held until released."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.done = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> Response:
        await self.release.wait()
        self.done += 1
        return Response(f"answer {self.done}".encode(), status_code=self.status)


Table = MemoryAnswers | SharedAnswers
MakeTable = Callable[..., Table]


@pytest.fixture(params=["memory", "shared"])
def make_table(request: pytest.FixtureRequest, tmp_path: Path) -> MakeTable:
    """Tables of both kinds: a server of one process, and one of several workers."""

    def make(**limits: float) -> Table:
        if request.param == "memory":
            return MemoryAnswers(**limits)  # type: ignore[arg-type]
        table = SharedAnswers(tmp_path / f"{uuid.uuid4().hex}.sqlite", **limits)  # type: ignore[arg-type]
        table.forget_every = 1  # at every answer kept, so the bounds show at once
        return table

    return make


PRINT = fingerprint("create_run", b"{}")


def test_a_repeat_during_the_first_attempt_waits_for_its_answer(make_table: MakeTable) -> None:
    async def scenario() -> list[bytes]:
        keeper, work = AnswerKeeper(make_table()), Work()
        work.release.clear()
        first = asyncio.create_task(keeper.answer("k", PRINT, work))
        repeat = asyncio.create_task(keeper.answer("k", PRINT, work))
        await asyncio.sleep(0.01)
        assert not repeat.done()  # waiting for the first attempt, not working
        work.release.set()
        answers = await asyncio.gather(first, repeat)
        assert work.done == 1
        return [answer.body for answer in answers]

    assert asyncio.run(scenario()) == [b"answer 1", b"answer 1"]


def test_a_server_failure_is_not_kept_so_a_repeat_does_the_work(make_table: MakeTable) -> None:
    async def scenario() -> None:
        keeper, work = AnswerKeeper(make_table()), Work(status=500)
        await keeper.answer("k", PRINT, work)
        work.status = 200
        assert (await keeper.answer("k", PRINT, work)).status_code == 200
        assert (await keeper.answer("k", PRINT, work)).body == b"answer 2"
        assert work.done == 2

    asyncio.run(scenario())


def test_a_repeat_waiting_on_a_failed_attempt_does_the_work_itself(make_table: MakeTable) -> None:
    async def scenario() -> None:
        keeper = AnswerKeeper(make_table())

        async def fails() -> Response:
            await asyncio.sleep(0.01)
            raise RuntimeError("store down")

        first = asyncio.create_task(keeper.answer("k", PRINT, fails))
        await asyncio.sleep(0)
        repeat = await keeper.answer("k", PRINT, Work())
        assert repeat.body == b"answer 1"
        with pytest.raises(RuntimeError):
            await first

    asyncio.run(scenario())


def test_a_cancelled_first_attempt_still_finishes_and_its_repeat_gets_its_answer(
    make_table: MakeTable,
) -> None:
    async def scenario() -> None:
        keeper, work = AnswerKeeper(make_table()), Work()
        work.release.clear()
        first = asyncio.create_task(keeper.answer("k", PRINT, work))
        await asyncio.sleep(0.01)
        first.cancel()  # the client went away; the write it started goes on
        await asyncio.sleep(0.01)
        repeat = asyncio.create_task(keeper.answer("k", PRINT, work))
        await asyncio.sleep(0.01)
        work.release.set()
        assert (await repeat).body == b"answer 1"
        assert work.done == 1

    asyncio.run(scenario())


def test_a_failure_after_the_work_leaves_no_key_held(make_table: MakeTable) -> None:
    async def scenario() -> None:
        keeper = AnswerKeeper(make_table())

        async def unkeepable() -> Response:
            return StreamingResponse(iter([b"x"]))  # has no body to keep

        with pytest.raises(AttributeError):
            await keeper.answer("k", PRINT, unkeepable)
        assert (await keeper.answer("k", PRINT, Work())).body == b"answer 1"

    asyncio.run(scenario())


def test_a_request_at_work_holds_up_no_forgetting(make_table: MakeTable) -> None:
    async def scenario() -> None:
        table = make_table(capacity=2)
        keeper, stuck, work = AnswerKeeper(table), Work(), Work()
        stuck.release.clear()
        at_work = asyncio.create_task(keeper.answer("stuck", PRINT, stuck))
        await asyncio.sleep(0.01)
        for key in "abcde":
            await keeper.answer(key, PRINT, work)
        assert len(table) == 2
        stuck.release.set()
        await at_work

    asyncio.run(scenario())


def test_answers_are_forgotten_after_their_time_and_beyond_capacity(make_table: MakeTable) -> None:
    async def scenario() -> None:
        work = Work()
        expiring = AnswerKeeper(make_table(keep_seconds=0.0))
        await expiring.answer("k", PRINT, work)
        await expiring.answer("k", PRINT, work)
        assert work.done == 2

        table = make_table(capacity=3)
        bounded = AnswerKeeper(table)
        for key in "abcd":
            await bounded.answer(key, PRINT, work)
        assert len(table) == 3
        assert (await bounded.answer("d", PRINT, work)).body == b"answer 6"  # kept
        assert (await bounded.answer("a", PRINT, work)).body == b"answer 7"  # forgotten

    asyncio.run(scenario())


def test_workers_sharing_a_file_see_each_other_s_keys(tmp_path: Path) -> None:
    one, two = SharedAnswers(tmp_path / "a.sqlite"), SharedAnswers(tmp_path / "a.sqlite")
    assert one.claim("k", PRINT) == "mine"
    assert two.claim("k", PRINT) == "at work"
    assert two.claim("k", fingerprint("create_run", b"{ }")) == "another request"
    one.keep("k", (200, b"{}", "application/json"))
    assert two.claim("k", PRINT) == (200, b"{}", "application/json")


def test_a_key_left_at_work_by_a_worker_that_died_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    claim_and_die = (
        "import sys; from pathlib import Path; from cairn.server.idempotency import SharedAnswers;"
        f" SharedAnswers(Path({str(path)!r})).claim('k', bytes.fromhex({PRINT.hex()!r}))"
    )
    subprocess.run([sys.executable, "-c", claim_and_die], check=True)
    assert SharedAnswers(path).claim("k", PRINT) == "mine"


@pytest.fixture(scope="module")
def two_worker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("two-workers")
    with running_server(root, workers=2) as server:
        yield server


def test_repeats_reaching_different_workers_are_done_once(
    two_worker_server: LiveServer,
) -> None:
    """A retry comes on a new connection, which any worker process may take."""
    server = two_worker_server
    created = post(server, "/experiments/create", {"name": f"w-{uuid.uuid4().hex}"}, None)
    experiment_id = created.json()["experiment_id"]
    body, key = {"experiment_id": experiment_id, "start_time": 1}, uuid.uuid4().hex
    with ThreadPoolExecutor(16) as pool:  # each post on a connection of its own
        answers = list(pool.map(lambda _: post(server, "/runs/create", body, key), range(200)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert run_ids(server, experiment_id) == [answers[0].json()["run"]["info"]["run_id"]]


def test_a_repeat_waits_a_bounded_time_then_is_told_to_come_back(
    make_table: MakeTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.05)

    async def scenario() -> None:
        keeper, stuck = AnswerKeeper(make_table()), Work()
        stuck.release.clear()
        first = asyncio.create_task(keeper.answer("k", PRINT, stuck))
        await asyncio.sleep(0.01)
        with pytest.raises(TemporarilyUnavailable):  # 503: the client retries later
            await keeper.answer("k", PRINT, Work())
        stuck.release.set()
        assert (await first).body == b"answer 1"

    asyncio.run(scenario())


def test_a_key_at_work_too_long_in_a_live_process_is_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker hangs, or its pid now belongs to another process."""
    one, two = SharedAnswers(tmp_path / "a.sqlite"), SharedAnswers(tmp_path / "a.sqlite")
    assert one.claim("k", PRINT) == "mine"
    assert two.claim("k", PRINT) == "at work"
    monkeypatch.setattr(idempotency, "STALE_WORK_SECONDS", 0.0)
    assert two.claim("k", PRINT) == "mine"


def test_a_shared_file_whose_directory_went_away_is_made_again(tmp_path: Path) -> None:
    table = SharedAnswers(tmp_path / "cleaned-away" / "answers.sqlite")
    assert table.claim("k", PRINT) == "mine"
