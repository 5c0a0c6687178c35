"""The tracking snippets of MLflow's documentation run unchanged on Cairn."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REFERENCE_DOC = Path("/work/shared/reference/mlflow-tracking-2.17-docs.txt")

# Copied from the reference doc (MLflow 2.17 "Tracking" page); only the import changes.
LOG_SNIPPET = """
import mlflow

with mlflow.start_run():
    mlflow.log_param("lr", 0.001)
    # Your ml code
    ...
    mlflow.log_metric("val_loss", val_loss)
"""

SEARCH_SNIPPET = """
client = mlflow.tracking.MlflowClient()
experiment_id = "0"
best_run = client.search_runs(
    experiment_id, order_by=["metrics.val_loss ASC"], max_results=1
)[0]
print(best_run.info)
"""


def _as_cairn(snippet: str) -> str:
    return textwrap.dedent(snippet).replace("import mlflow", "import cairn as mlflow")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "snippet.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(not REFERENCE_DOC.exists(), reason="reference doc not available")
def test_snippets_are_the_documented_ones() -> None:
    doc = " ".join(REFERENCE_DOC.read_text(encoding="utf-8").split())
    for snippet in (LOG_SNIPPET, SEARCH_SNIPPET):
        lines = [line.strip() for line in snippet.strip().splitlines() if line.strip()]
        assert " ".join(lines) in doc


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_doc_snippets_log_then_find_the_best_run(tmp_path: Path, backend: str) -> None:
    setup = "import cairn\n"
    if backend == "sqlite":
        setup += f"cairn.set_tracking_uri('sqlite:///{tmp_path / 'snip.db'}')\n"
    losses = [0.4, 0.123, 0.3]
    for loss in losses:
        done = _run(setup + f"val_loss = {loss}\n" + _as_cairn(LOG_SNIPPET), tmp_path)
        assert done.returncode == 0, done.stderr
    done = _run(setup + "import cairn as mlflow\n" + _as_cairn(SEARCH_SNIPPET), tmp_path)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert printed.startswith("RunInfo(")
    assert "status='FINISHED'" in printed
    assert "experiment_id='0'" in printed

    import cairn

    if backend == "sqlite":
        cairn.set_tracking_uri(f"sqlite:///{tmp_path / 'snip.db'}")
    try:
        runs = cairn.search_runs(output_format="list")
        assert len(runs) == 3
        assert {r.data.params["lr"] for r in runs} == {"0.001"}
        assert sorted(r.data.metrics["val_loss"] for r in runs) == sorted(losses)
        best = min(runs, key=lambda r: r.data.metrics["val_loss"])
        assert f"run_id='{best.info.run_id}'" in printed
    finally:
        cairn.set_tracking_uri(None)
