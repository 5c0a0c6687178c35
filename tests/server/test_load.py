"""Load: ``cairn server --workers 4`` on PostgreSQL, sixteen clients logging batches.

Every point a client was told was logged is in the run's metric history exactly once,
and ``/health`` answers every poll throughout (within a generous timeout that means
"responsive", not a speed target). The duration is ``CAIRN_TEST_LOAD_SECONDS`` (60 by
default); the throughput and the slowest health answer are printed, not asserted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from cairn.entities import Metric, RunTag
from cairn.store.rest import RestStore
from server.live import LiveServer, free_port, start_cli_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.postgresql, pytest.mark.slow]

DURATION_S = float(os.environ.get("CAIRN_TEST_LOAD_SECONDS", "60"))
CLIENTS = 16
WORKERS = 4
POINTS_PER_BATCH = 50
HEALTH_TIMEOUT_S = 10.0
HEALTH_INTERVAL_S = 0.25


@pytest.fixture
def loaded_server(
    tmp_path: Path, store_uri_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_TIMEOUT", "60")
    database = store_uri_factory("postgresql")
    server = start_cli_server(
        tmp_path,
        free_port(),
        "--backend-store-uri",
        database,
        "--workers",
        str(WORKERS),
    )
    yield server
    stop_server(server.process)


@dataclass
class Client:
    """One logging client: its run, how many points the server acknowledged, any error."""

    run_id: str
    acknowledged: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)

    def log_until(self, store: RestStore, deadline: float) -> None:
        step = 0
        try:
            while time.monotonic() < deadline:
                metrics = [
                    Metric("loss", float(s), 1_700_000_000_000 + s, s)
                    for s in range(step, step + POINTS_PER_BATCH)
                ]
                store.log_batch(self.run_id, metrics, tags=[RunTag("batch", str(self.batches))])
                step += POINTS_PER_BATCH
                self.acknowledged = step
                self.batches += 1
        except Exception as exc:  # reported by the test, with the client it happened to
            self.errors.append(f"{type(exc).__name__}: {exc}")


@dataclass
class HealthProbe:
    """Polls /health until stopped, recording each answer's latency or failure."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = session.get(self.url, timeout=HEALTH_TIMEOUT_S)
                    if response.status_code != 200 or response.text != "OK":
                        self.failures.append(f"HTTP {response.status_code}: {response.text[:100]}")
                except requests.RequestException as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.latencies.append(time.monotonic() - started)
                self.stop.wait(HEALTH_INTERVAL_S)


def _history_steps(store: RestStore, run_id: str) -> list[int]:
    steps: list[int] = []
    token = None
    while True:
        page = store.get_metric_history(run_id, "loss", max_results=25_000, page_token=token)
        steps.extend(point.step for point in page)
        token = page.token
        if not token:
            return steps


def test_sixteen_clients_lose_nothing_and_health_answers_throughout(
    loaded_server: LiveServer,
) -> None:
    setup = RestStore(loaded_server.url)
    experiment_id = setup.create_experiment("load")
    clients = [
        Client(setup.create_run(experiment_id, "load", None, [], f"client-{i}").info.run_id)
        for i in range(CLIENTS)
    ]
    probe = HealthProbe(f"{loaded_server.url}/health")
    prober = threading.Thread(target=probe.run)
    prober.start()
    started = time.monotonic()
    deadline = started + DURATION_S
    # one store (one connection pool) per client, as separate processes would have
    threads = [
        threading.Thread(target=c.log_until, args=(RestStore(loaded_server.url), deadline))
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    probe.stop.set()
    prober.join()

    errors = [f"{c.run_id}: {e}" for c in clients for e in c.errors]
    assert not errors, errors
    points = sum(c.acknowledged for c in clients)
    batches = sum(c.batches for c in clients)
    print(
        f"\nload: {CLIENTS} clients x {WORKERS} workers for {elapsed:.1f} s: {batches} batches, "
        f"{points} points ({points / elapsed:.0f} points/s, {batches / elapsed:.1f} batches/s); "
        f"/health polled {len(probe.latencies)} times, max latency "
        f"{max(probe.latencies) * 1000:.0f} ms"
    )
    assert all(c.batches > 0 for c in clients)
    assert not probe.failures, probe.failures[:5]
    assert len(probe.latencies) >= 1

    for client in clients:
        steps = _history_steps(setup, client.run_id)
        # every acknowledged point once: no loss, no duplicate from a retried request
        assert sorted(steps) == list(range(client.acknowledged)), client.run_id
        assert setup.get_run(client.run_id).data.tags["batch"] == str(client.batches - 1)
