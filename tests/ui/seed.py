"""The data the browser tests read: experiments, runs (nested, noted, with datasets)
and artifacts, written straight into a tracking store and the artifact destination."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from cairn.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from cairn.store.registry import create_tracking_store
from cairn.store.tracking import TrackingStore

T0 = 1_700_000_000_000
PROXY_ROOT = "mlflow-artifacts:/"
# latest "acc" of trial-0 .. trial-5
TRIAL_ACC = [0.71, 0.93, 0.55, 0.88, 0.62, 0.79]
BULK_RUNS = 1200
# many experiments, for the paged sidebar; the prefix sorts them after every other
# experiment so the tests that pick one from the first page still find it
MANY_EXPERIMENTS = 1500
MANY_PREFIX = "zzz-page-"
ARTIFACTS = {
    "notes.txt": b"hello artifacts\nsecond line\n",
    "config/params.json": json.dumps({"layers": [64, 32], "dropout": 0.1}).encode(),
}
# previews of the second cut, on the "previews" run
PREVIEW_ARTIFACTS = {
    "table.csv": b'name,score,comment\nalpha,0.5,plain\nbeta,0.75,"has, comma"\n',
    "config.yaml": b"model:\n  layers: 3\n  activation: relu\n",
    "report.html": (
        b"<html><body><h1 id='title'>Report heading</h1>"
        b"<script>parent.document.title = 'escaped';</script></body></html>"
    ),
    "deep/a/b.txt": b"bee",
}
# a long metric with one spike, for downsampling and zoom
WAVE_POINTS = 20_000
WAVE_SPIKE_STEP = 12_345
WAVE_SPIKE = 99.0


@dataclass
class Seed:
    """What the test store holds: experiment ids by name, run ids by run name."""

    experiments: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    image: bytes = b""


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _run(
    store: TrackingStore,
    seed: Seed,
    experiment: str,
    name: str,
    start: int,
    *,
    user: str = "tester",
    params: dict[str, str] | None = None,
    metrics: dict[str, list[float]] | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    run = store.create_run(seed.experiments[experiment], user, start, [], name)
    run_id = run.info.run_id
    points = [
        Metric(key, value, start + step * 1000, step)
        for key, values in (metrics or {}).items()
        for step, value in enumerate(values)
    ]
    store.log_batch(
        run_id,
        metrics=points,
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )
    store.update_run_info(run_id, RunStatus.FINISHED, start + 65_000, None)
    seed.runs[name] = run_id
    return run_id


def seed_store(uri: str, artifacts: Path) -> Seed:
    """Experiments and runs every browser test reads (tests that write use their own run)."""
    store = create_tracking_store(uri, PROXY_ROOT)
    seed = Seed(image=_png(20, 10))
    for name in ("ui-alpha", "ui-beta", "zz-unrelated", "bulk"):
        seed.experiments[name] = store.create_experiment(name)
    for i, acc in enumerate(TRIAL_ACC):
        _run(
            store, seed, "ui-alpha", f"trial-{i}", T0 + i * 60_000,
            params={"lr": f"0.0{i + 1}", "model": "tree" if i % 2 == 0 else "linear", "seed": "42"},
            metrics={"acc": [acc / 2, acc / 1.5, acc], "loss": [1.0, 0.5, 1 - acc]},
            tags={"team": "vision"},
        )  # fmt: skip
    parent = _run(store, seed, "ui-alpha", "sweep-parent", T0 + 10 * 60_000)
    for child in ("child-a", "child-b"):
        _run(
            store, seed, "ui-alpha", child, T0 + 11 * 60_000,
            tags={"mlflow.parentRunId": parent}, params={"depth": child[-1]},
        )  # fmt: skip
    for name in ("annotated", "note-target"):
        run_id = _run(
            store, seed, "ui-alpha", name, T0 - 60_000, user="alice",
            params={"optimizer": "adam", "epochs": "12"},
            metrics={"val_loss": [0.9, 0.4, 0.25]},
            tags={
                "mlflow.source.name": "/home/alice/train.py",
                "mlflow.source.git.commit": "abc123def456",
                "mlflow.note.content": "Initial *note*",
            },
        )  # fmt: skip
        store.log_inputs(
            run_id,
            [
                DatasetInput(
                    Dataset("iris", "d1g3st", "local", '{"uri": "/data/iris.csv"}', '{"cols": 4}'),
                    [InputTag("mlflow.data.context", "training")],
                )
            ],
        )
        run_dir = artifacts / seed.experiments["ui-alpha"] / run_id / "artifacts"
        for path, content in {**ARTIFACTS, "plots/curve.png": seed.image}.items():
            (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / path).write_bytes(content)
    for i in range(2):
        _run(store, seed, "ui-beta", f"beta-{i}", T0 + i, metrics={"acc": [0.1 * (i + 1)]})
    _seed_second_cut(store, seed, artifacts)
    for i in range(MANY_EXPERIMENTS):
        store.create_experiment(f"{MANY_PREFIX}{i:04d}")
    for i in range(BULK_RUNS):
        run = store.create_run(seed.experiments["bulk"], "bulk", T0 + i * 1000, [], f"bulk-{i}")
        store.log_batch(run.info.run_id, metrics=[Metric("score", float(i), T0, 0)])
    return seed


def _seed_second_cut(store: TrackingStore, seed: Seed, artifacts: Path) -> None:
    """A run with a long spiky metric and one with previewable artifacts, in ui-beta."""
    seed.experiments["ui-charts"] = store.create_experiment("ui-charts")
    wave = _run(store, seed, "ui-charts", "wave-run", T0)
    for start in range(0, WAVE_POINTS, 1000):
        store.log_batch(
            wave,
            metrics=[
                Metric(
                    "wave",
                    WAVE_SPIKE if s == WAVE_SPIKE_STEP else math.sin(s / 300),
                    T0 + s * 10,
                    s,
                )
                for s in range(start, start + 1000)
            ],
        )
    previews = _run(store, seed, "ui-charts", "previews", T0)
    run_dir = artifacts / seed.experiments["ui-charts"] / previews / "artifacts"
    for path, content in PREVIEW_ARTIFACTS.items():
        (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / path).write_bytes(content)
