"""Run by the reference MLflow's interpreter: the official client against a Cairn server.

Prints one JSON object of observations for tests/server/test_mlflow_client.py to check.
"""

import json
import math
import os
import sys
import tempfile
import time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

url = sys.argv[1]
mlflow.set_tracking_uri(url)
client = MlflowClient(url)
seen = {}

exp_id = mlflow.create_experiment("official-client", tags={"team": "x"})
seen["experiment"] = [client.get_experiment(exp_id).name, client.get_experiment(exp_id).tags]
mlflow.set_experiment("official-client")
run_ids = []
for i in range(5):
    with mlflow.start_run(run_name=f"r{i}") as run:
        mlflow.log_param("i", i)
        mlflow.log_metric("loss", 1.0 / (i + 1), step=0)
        mlflow.log_metric("loss", 0.5 / (i + 1), step=1)
        mlflow.set_tag("parity", "even" if i % 2 == 0 else "odd")
        run_ids.append(run.info.run_id)
seen["finished"] = client.get_run(run_ids[0]).info.status

batch_run = client.create_run(exp_id, run_name="batch")
now = int(time.time() * 1000)
client.log_batch(
    batch_run.info.run_id,
    metrics=[Metric("m", float(k), now, k) for k in range(30)] + [Metric("nan", math.nan, now, 0)],
    params=[Param("p", "v")],
    tags=[RunTag("t", "u")],
)
client.set_terminated(batch_run.info.run_id, "FAILED")
seen["history"] = [(m.step, m.value) for m in client.get_metric_history(batch_run.info.run_id, "m")]
fetched = client.get_run(batch_run.info.run_id)
seen["batch"] = [
    math.isnan(fetched.data.metrics["nan"]),
    fetched.data.params,
    fetched.data.tags["t"],
    fetched.info.status,
]

found = mlflow.search_runs(
    [exp_id],
    filter_string="metrics.loss < 0.2 and tags.parity = 'even'",
    order_by=["params.i DESC"],
    output_format="list",
)
seen["filtered"] = [r.data.params["i"] for r in found]
first = client.search_runs([exp_id], max_results=4, order_by=["attributes.start_time ASC"])
second = client.search_runs(
    [exp_id], max_results=4, order_by=["attributes.start_time ASC"], page_token=first.token
)
seen["pages"] = [len(first), len(second), second.token]
frame = mlflow.search_runs([exp_id])
seen["dataframe_rows"] = len(frame)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "hello.txt")
    with open(path, "w") as f:
        f.write("hello artifact")
    client.log_artifact(run_ids[0], path, artifact_path="sub")
    seen["artifacts"] = [
        [f.path, f.is_dir, f.file_size] for f in client.list_artifacts(run_ids[0], "sub")
    ]
    local = client.download_artifacts(run_ids[0], "sub/hello.txt", tmp)
    with open(local) as f:
        seen["downloaded"] = f.read()
    seen["artifact_uri"] = client.get_run(run_ids[0]).info.artifact_uri

try:
    client.get_run("0123456789abcdef0123456789abcdef")
except MlflowException as exc:
    seen["missing_run"] = exc.error_code
try:
    mlflow.create_experiment("official-client")
except MlflowException as exc:
    seen["duplicate_experiment"] = exc.error_code
seen["search_experiments"] = [
    e.experiment_id for e in client.search_experiments(filter_string="name = 'official-client'")
] == [exp_id]
client.delete_run(run_ids[1])
seen["active_after_delete"] = len(client.search_runs([exp_id]))
print(json.dumps(seen))
