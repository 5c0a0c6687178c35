"""Log a small learning-rate sweep with Cairn, exactly as you would with MLflow.

Run it with ``python examples/quickstart.py``; the runs land in the tracking URI in
effect (``./mlruns`` unless CAIRN_TRACKING_URI or MLFLOW_TRACKING_URI says otherwise).
Then look at them with ``cairn runs list --experiment-id <id>`` or ``cairn ui``.

The "training" is a closed-form toy so the example needs nothing beyond Cairn.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from pathlib import Path

import cairn as mlflow

EXPERIMENT = "quickstart"
LEARNING_RATES = [0.3, 0.1, 0.03]
EPOCHS = 12


def train(learning_rate: float, seed: int) -> list[tuple[float, float]]:
    """(loss, accuracy) per epoch of a pretend model that converges at ``learning_rate``."""
    rng = random.Random(seed)
    history = []
    for epoch in range(EPOCHS):
        loss = 2.3 * math.exp(-learning_rate * (epoch + 1)) + 0.05 + rng.uniform(0, 0.02)
        accuracy = min(0.99, 1 - loss / 2.5)
        history.append((round(loss, 4), round(accuracy, 4)))
    return history


def main() -> None:
    experiment = mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name="lr-sweep") as parent:
        mlflow.set_tags({"purpose": "quickstart", "model": "toy-logistic"})
        mlflow.log_param("epochs", EPOCHS)
        best: tuple[float, float] | None = None
        for seed, learning_rate in enumerate(LEARNING_RATES):
            with mlflow.start_run(run_name=f"lr-{learning_rate}", nested=True):
                mlflow.log_params({"learning_rate": learning_rate, "seed": seed, "batch_size": 32})
                history = train(learning_rate, seed)
                for step, (loss, accuracy) in enumerate(history):
                    mlflow.log_metrics({"loss": loss, "accuracy": accuracy}, step=step)
                final_loss = history[-1][0]
                if best is None or final_loss < best[1]:
                    best = (learning_rate, final_loss)
        assert best is not None
        mlflow.log_metric("best_loss", best[1])
        mlflow.set_tag("best_learning_rate", str(best[0]))
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / "summary.json"
            summary.write_text(
                json.dumps({"best_learning_rate": best[0], "best_loss": best[1]}, indent=2)
            )
            mlflow.log_artifact(str(summary), artifact_path="reports")

    print(f"Logged {len(LEARNING_RATES) + 1} runs to {mlflow.get_tracking_uri()}")
    print(f"Experiment '{EXPERIMENT}' has id {experiment.experiment_id}")
    print(f"Parent run {parent.info.run_id}: best learning rate {best[0]} (loss {best[1]})")


if __name__ == "__main__":
    main()
