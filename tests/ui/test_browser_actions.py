"""The UI's second cut in a real browser: long charts (downsampled, zoomed, smoothed),
experiment and run lifecycle, tags, downloads, previews, compare plots, live runs."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from ui.conftest import ConsoleWatch, UiServer
from ui.seed import (
    ARTIFACTS,
    PREVIEW_ARTIFACTS,
    TRIAL_ACC,
    WAVE_POINTS,
    WAVE_SPIKE,
    WAVE_SPIKE_STEP,
)

pytestmark = [pytest.mark.ui, pytest.mark.server]

Page = Any


def rest(server: UiServer, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the tracking API the way a client script would (POST with a body, else GET)."""
    url = f"{server.url}/api/2.0/mlflow/{path}"
    if body is None:
        response = requests.get(url, timeout=10)
    else:
        response = requests.post(url, json=body, timeout=10)
    assert response.ok, response.text
    result: dict[str, Any] = response.json()
    return result


def new_experiment(server: UiServer, name: str) -> str:
    experiment_id: str = rest(server, "experiments/create", {"name": name})["experiment_id"]
    return experiment_id


def new_run(server: UiServer, experiment_id: str, name: str) -> str:
    body = {"experiment_id": experiment_id, "run_name": name, "start_time": 1_700_000_000_000}
    run_id: str = rest(server, "runs/create", body)["run"]["info"]["run_id"]
    return run_id


def run_tags(server: UiServer, run_id: str) -> dict[str, str]:
    run = rest(server, f"runs/get?run_id={run_id}")["run"]
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


# -- charts ----------------------------------------------------------------------------


def test_a_long_metric_charts_downsampled_with_its_spike(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/runs/{ui_server.seed.runs['wave-run']}")
    figure = page.get_by_role("figure", name="Chart of wave")
    chart = figure.locator(".metric-chart")
    expect(chart.locator("canvas")).to_be_visible()
    expect(figure).to_have_attribute("data-total-points", str(WAVE_POINTS))
    # 1000 min/max buckets at most, yet the single spike is among the points drawn
    assert 1000 <= int(chart.get_attribute("data-point-count") or 0) <= 2000
    assert float(chart.get_attribute("data-y-max") or 0) == WAVE_SPIKE


def test_dragging_zooms_in_and_fetches_the_detail(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/runs/{ui_server.seed.runs['wave-run']}")
    figure = page.get_by_role("figure", name="Chart of wave")
    chart = figure.locator(".metric-chart")
    expect(chart.locator("canvas")).to_be_visible()
    expect(figure).to_have_attribute("data-total-points", str(WAVE_POINTS))
    over = chart.locator(".u-over")
    box = over.bounding_box()
    spike_at = box["x"] + box["width"] * WAVE_SPIKE_STEP / WAVE_POINTS
    with page.expect_response(lambda r: "start_step=" in r.url) as response_info:
        page.mouse.move(spike_at - 8, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(spike_at, box["y"] + 40, steps=4)
        page.mouse.move(spike_at + 8, box["y"] + 40, steps=4)
        page.mouse.up()
    detail = response_info.value.json()
    low, high = detail["start_step"], detail["end_step"]
    assert low < WAVE_SPIKE_STEP < high
    assert high - low + 1 < 1000  # a narrow range: every step comes back on its own
    expect(figure).to_have_attribute("data-zoom-steps", f"{low},{high}")
    expect(chart).to_have_attribute("data-point-count", str(high - low + 1))
    assert float(chart.get_attribute("data-y-max") or 0) == WAVE_SPIKE
    page.get_by_role("button", name="Reset zoom").click()
    expect(figure).to_have_attribute("data-zoom-steps", "")
    expect(chart).to_have_attribute("data-x-range", "")


def test_axis_smoothing_and_log_scale_controls(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/runs/{ui_server.seed.runs['annotated']}")
    chart = page.locator(".metric-chart[data-metric=val_loss]")
    expect(chart.locator("canvas")).to_be_visible()
    legend_x = chart.locator(".u-legend .u-series").first
    expect(legend_x).to_contain_text("step")
    page.get_by_label("X axis of val_loss").select_option("relative")
    expect(chart.locator(".u-legend .u-series").first).to_contain_text("time")
    page.get_by_label("Smoothing of val_loss").fill("0.9")
    expect(chart).to_have_attribute("data-smoothing", "0.9")
    page.get_by_label("Log scale of val_loss").check()
    expect(chart).to_have_attribute("data-log-scale", "true")
    expect(chart.locator("canvas")).to_be_visible()


# -- experiments, runs, tags -----------------------------------------------------------


def test_create_rename_delete_and_restore_an_experiment(page: Page, ui_server: UiServer) -> None:
    page.goto("/")
    page.get_by_role("button", name="New", exact=True).click()
    page.get_by_label("New experiment name").fill("made-in-ui")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="made-in-ui", level=1)).to_be_visible()
    experiment_id = page.url.split("#/experiments/")[1]
    item = page.locator(f".experiment-list li[data-experiment-id='{experiment_id}']")
    item.hover()
    item.get_by_role("button", name="Rename made-in-ui").click()
    page.get_by_label("New name for made-in-ui").fill("renamed-in-ui")
    page.get_by_label("New name for made-in-ui").press("Enter")
    expect(item.get_by_role("button", name="renamed-in-ui", exact=True)).to_be_visible()
    stored = rest(ui_server, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    assert stored["name"] == "renamed-in-ui"

    item.hover()
    item.get_by_role("button", name="Delete renamed-in-ui").click()
    expect(item).to_have_count(0)
    stored = rest(ui_server, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    assert stored["lifecycle_stage"] == "deleted"

    page.get_by_label("Show deleted experiments").check()
    page.get_by_role("button", name="Restore renamed-in-ui").click()
    expect(page.get_by_role("button", name="Restore renamed-in-ui")).to_have_count(0)
    page.get_by_label("Show deleted experiments").uncheck()
    expect(item.get_by_role("button", name="renamed-in-ui", exact=True)).to_be_visible()
    stored = rest(ui_server, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    assert stored["lifecycle_stage"] == "active"


def test_a_duplicate_experiment_name_shows_the_server_error(
    page: Page, console: ConsoleWatch
) -> None:
    console.allow("status of 400")
    page.goto("/")
    page.get_by_role("button", name="New", exact=True).click()
    page.get_by_label("New experiment name").fill("ui-alpha")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".sidebar [role=alert]")).to_contain_text("RESOURCE_ALREADY_EXISTS")


def test_delete_and_restore_runs_from_the_table(page: Page, ui_server: UiServer) -> None:
    experiment_id = new_experiment(ui_server, "lifecycle")
    ids = {name: new_run(ui_server, experiment_id, name) for name in ("keep", "drop-1", "drop-2")}
    page.goto(f"/#/experiments/{experiment_id}")
    expect(page.locator(".run-row")).to_have_count(3)
    page.get_by_label("Select run drop-1", exact=True).check()
    page.get_by_label("Select run drop-2", exact=True).check()
    page.get_by_role("button", name="Delete (2)").click()
    expect(page.locator(".run-row")).to_have_count(1)
    expect(page.locator(".run-row")).to_contain_text("keep")
    stage = rest(ui_server, f"runs/get?run_id={ids['drop-1']}")["run"]["info"]["lifecycle_stage"]
    assert stage == "deleted"

    page.get_by_label("Deleted runs").check()
    expect(page.locator(".run-row")).to_have_count(2)
    assert "deleted=1" in page.url
    page.get_by_label("Select run drop-2", exact=True).check()
    page.get_by_role("button", name="Restore (1)").click()
    expect(page.locator(".run-row")).to_have_count(1)
    page.get_by_label("Deleted runs").uncheck()
    expect(page.locator(".run-row")).to_have_count(2)
    stage = rest(ui_server, f"runs/get?run_id={ids['drop-2']}")["run"]["info"]["lifecycle_stage"]
    assert stage == "active"


def test_add_edit_and_delete_tags(page: Page, ui_server: UiServer) -> None:
    run_id = new_run(ui_server, new_experiment(ui_server, "tagging"), "tag-target")
    page.goto(f"/#/runs/{run_id}")
    tags = page.get_by_role("table", name="Tags")
    page.get_by_label("New tag key").fill("stage")
    page.get_by_label("New tag value").fill("dev")
    page.get_by_role("button", name="Add tag").click()
    expect(tags.locator("tr[data-key=stage] td").first).to_have_text("dev")
    assert run_tags(ui_server, run_id)["stage"] == "dev"

    page.get_by_role("button", name="Edit tag stage").click()
    page.get_by_label("Value of tag stage").fill("prod")
    page.get_by_role("button", name="Save").click()
    expect(tags.locator("tr[data-key=stage] td").first).to_have_text("prod")
    assert run_tags(ui_server, run_id)["stage"] == "prod"

    page.get_by_role("button", name="Delete tag stage").click()
    expect(page.locator("tr[data-key=stage]")).to_have_count(0)
    assert "stage" not in run_tags(ui_server, run_id)


def experiment_tags(server: UiServer, experiment_id: str) -> dict[str, str]:
    experiment = rest(server, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    return {t["key"]: t.get("value", "") for t in experiment.get("tags", [])}


def test_add_edit_and_delete_experiment_tags(page: Page, ui_server: UiServer) -> None:
    experiment_id = new_experiment(ui_server, "experiment-tagging")
    page.goto(f"/#/experiments/{experiment_id}")
    page.get_by_text("Experiment tags (0)").click()
    tags = page.get_by_role("table", name="Experiment tags")
    page.get_by_label("New tag key").fill("owner")
    page.get_by_label("New tag value").fill("vision-team")
    page.get_by_role("button", name="Add tag").click()
    expect(tags.locator("tr[data-key=owner] td").first).to_have_text("vision-team")
    expect(page.get_by_text("Experiment tags (1)")).to_be_visible()
    assert experiment_tags(ui_server, experiment_id)["owner"] == "vision-team"

    page.get_by_role("button", name="Edit tag owner").click()
    page.get_by_label("Value of tag owner").fill("nlp-team")
    page.get_by_role("button", name="Save").click()
    expect(tags.locator("tr[data-key=owner] td").first).to_have_text("nlp-team")
    assert experiment_tags(ui_server, experiment_id)["owner"] == "nlp-team"

    page.get_by_role("button", name="Delete tag owner").click()
    expect(page.locator("tr[data-key=owner]")).to_have_count(0)
    expect(page.get_by_text("Experiment tags (0)")).to_be_visible()
    assert "owner" not in experiment_tags(ui_server, experiment_id)


def test_experiment_tags_show_only_for_a_single_experiment(page: Page, ui_server: UiServer) -> None:
    alpha, beta = ui_server.seed.experiments["ui-alpha"], ui_server.seed.experiments["ui-beta"]
    page.goto(f"/#/experiments/{alpha}")
    expect(page.get_by_text(re.compile(r"Experiment tags \(\d+\)"))).to_be_visible()
    page.goto(f"/#/experiments/{alpha},{beta}")
    expect(page.get_by_role("heading", name="ui-alpha, ui-beta")).to_be_visible()
    expect(page.locator(".experiment-tags")).to_have_count(0)


# -- downloads and previews ------------------------------------------------------------


def download(page: Page, click: Any) -> tuple[str, bytes]:
    with page.expect_download() as info:
        click()
    with open(info.value.path(), "rb") as file:
        return info.value.suggested_filename, file.read()


def test_download_the_runs_table_as_csv(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/experiments/{ui_server.seed.experiments['ui-alpha']}")
    expect(page.locator(".run-row").first).to_be_visible()
    name, content = download(page, page.get_by_role("button", name="Download CSV").click)
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    by_name = {row["Run name"]: row for row in rows}
    assert len(rows) == 11  # every run of ui-alpha, children included
    trial = by_name["trial-1"]
    assert trial["Run ID"] == ui_server.seed.runs["trial-1"]
    assert trial["metrics.acc"] == str(TRIAL_ACC[1])
    assert trial["params.model"] == "linear"
    assert trial["Status"] == "FINISHED"


def test_download_a_run_as_json_and_artifacts_as_zip(page: Page, ui_server: UiServer) -> None:
    run_id = ui_server.seed.runs["annotated"]
    page.goto(f"/#/runs/{run_id}")
    expect(page.get_by_role("heading", name="annotated", level=1)).to_be_visible()
    name, content = download(page, page.get_by_role("button", name="Download JSON").click)
    assert name == f"run-{run_id}.json"
    run = json.loads(content)
    assert run["info"]["run_id"] == run_id
    assert {p["key"]: p["value"] for p in run["data"]["params"]}["optimizer"] == "adam"

    name, content = download(page, page.get_by_role("link", name="Download all (zip)").click)
    assert name == f"{run_id}-artifacts.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    assert files == {**ARTIFACTS, "plots/curve.png": ui_server.seed.image}

    link = page.get_by_role("link", name="Download config as zip")
    name, content = download(page, link.click)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["params.json"]


def test_csv_yaml_and_html_previews(page: Page, ui_server: UiServer, console: ConsoleWatch) -> None:
    # the sandbox refuses the report's script, and chromium says so on the console
    console.allow("Blocked script execution")
    page.goto(f"/#/runs/{ui_server.seed.runs['previews']}")
    tree = page.get_by_role("tree")
    tree.locator("[data-path='table.csv']").click()
    table = page.get_by_role("table", name="CSV preview")
    expect(table.locator("thead th")).to_have_text(["name", "score", "comment"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(
        ["beta", "0.75", "has, comma"]
    )

    tree.locator("[data-path='config.yaml']").click()
    yaml_preview = page.locator(".preview-text[data-kind=yaml]")
    expect(yaml_preview).to_have_text(PREVIEW_ARTIFACTS["config.yaml"].decode().rstrip("\n"))

    tree.locator("[data-path='report.html']").click()
    frame = page.locator("iframe.preview-html")
    expect(frame).to_have_attribute("sandbox", "")
    expect(frame.content_frame.locator("#title")).to_have_text("Report heading")
    assert page.title() != "escaped"


# -- compare ---------------------------------------------------------------------------


def test_compare_scatter_and_parallel_coordinates(page: Page, ui_server: UiServer) -> None:
    ids = [ui_server.seed.runs[f"trial-{i}"] for i in range(3)]
    page.goto(f"/#/compare?runs={','.join(ids)}")
    expect(page.get_by_role("heading", name="Comparing 3 runs")).to_be_visible()
    page.get_by_label("Scatter x").select_option("params.lr")
    page.get_by_label("Scatter y").select_option("metrics.acc")
    scatter = page.get_by_role("img", name="Scatter plot of metrics.acc against params.lr")
    points = scatter.locator("circle.scatter-point")
    expect(points).to_have_count(3)
    position = {
        p.get_attribute("data-run"): (float(p.get_attribute("cx")), float(p.get_attribute("cy")))
        for p in points.all()
    }
    # lr grows from trial-0 to trial-2: left to right
    assert position["trial-0"][0] < position["trial-1"][0] < position["trial-2"][0]
    # higher accuracy is drawn higher up (smaller y on screen)
    by_acc = sorted(range(3), key=lambda i: TRIAL_ACC[i])
    ys = [position[f"trial-{i}"][1] for i in by_acc]
    assert ys == sorted(ys, reverse=True)

    parallel = page.get_by_role("img", name="Parallel coordinates")
    expect(parallel.locator("polyline.pc-line")).to_have_count(3)
    axes = parallel.locator("g.pc-axis")
    assert [a.get_attribute("data-key") for a in axes.all()] == [
        "metrics.acc",
        "metrics.loss",
        "params.lr",
        "params.model",
        "params.seed",
    ]


# -- live ------------------------------------------------------------------------------


def test_running_runs_update_without_a_reload(page: Page, ui_server: UiServer) -> None:
    experiment_id = new_experiment(ui_server, "live")
    run_id = new_run(ui_server, experiment_id, "live-run")
    now = int(time.time() * 1000)
    rest(ui_server, "runs/log-metric", {"run_id": run_id, "key": "progress", "value": 1, "timestamp": now, "step": 0})  # fmt: skip
    page.goto(f"/#/experiments/{experiment_id}?cols=metrics.progress")
    row = page.locator(f".run-row[data-run-id='{run_id}']")
    expect(row.locator("[data-col='metrics.progress']")).to_have_text("1")
    expect(row.locator("[data-col=status]")).to_have_text("RUNNING")
    expect(page.locator(".live-badge")).to_be_visible()
    rest(ui_server, "runs/log-metric", {"run_id": run_id, "key": "progress", "value": 2, "timestamp": now + 1, "step": 1})  # fmt: skip
    expect(row.locator("[data-col='metrics.progress']")).to_have_text("2")

    page.get_by_role("link", name="live-run").click()
    metrics = page.get_by_role("table", name="Metrics")
    expect(metrics.locator("tr[data-key=progress] td")).to_have_text("2")
    chart = page.locator(".metric-chart[data-metric=progress]")
    expect(chart).to_have_attribute("data-point-count", "2")
    rest(ui_server, "runs/log-metric", {"run_id": run_id, "key": "progress", "value": 3, "timestamp": now + 2, "step": 2})  # fmt: skip
    expect(metrics.locator("tr[data-key=progress] td")).to_have_text("3")
    expect(chart).to_have_attribute("data-point-count", "3")
    rest(ui_server, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now + 5})
    expect(page.locator("dl.overview")).to_contain_text("FINISHED")
    expect(page.locator(".live-badge")).to_have_count(0)
