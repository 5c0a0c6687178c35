"""The web UI in a real browser against a live server: what a user sees and does."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from playwright.sync_api import expect

from ui.conftest import ConsoleWatch, UiServer
from ui.seed import ARTIFACTS, BULK_RUNS, MANY_EXPERIMENTS, MANY_PREFIX, TRIAL_ACC

pytestmark = [pytest.mark.ui, pytest.mark.server]

Page = Any


def open_experiment(page: Page, name: str) -> None:
    page.goto("/")
    page.get_by_role("button", name=name, exact=True).click()
    expect(page.locator(".run-row").first).to_be_visible()


def row_names(page: Page) -> list[str]:
    names: list[str] = page.locator(".run-row [data-col=run_name] a").all_inner_texts()
    return names


def cell(page: Page, run_id: str, column: str) -> Any:
    return page.locator(f".run-row[data-run-id='{run_id}'] [data-col='{column}']")


def test_experiment_search_and_selection(page: Page, ui_server: UiServer) -> None:
    page.goto("/")
    page.get_by_label("Search experiments").fill("beta")
    expect(page.locator(".experiment-list li")).to_have_count(1)
    page.get_by_role("button", name="ui-beta", exact=True).click()
    expect(page.locator(".run-row")).to_have_count(2)
    assert sorted(row_names(page)) == ["beta-0", "beta-1"]
    assert f"#/experiments/{ui_server.seed.experiments['ui-beta']}" in page.url


def test_thousands_of_experiments_are_listed_page_by_page(page: Page) -> None:
    searches: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: searches.append(r.post_data_json) if "experiments/search" in r.url else None,
    )
    page.goto("/")
    items = page.locator(".experiment-list li")
    # one page of the server's list, not all of the seeded experiments
    expect(items).to_have_count(100)
    assert searches[-1]["max_results"] == 100
    assert not searches[-1].get("page_token")
    page.get_by_role("button", name="Load more").click()
    expect(items).to_have_count(200)
    assert searches[-1]["page_token"]
    # the search is server-side, so the last experiment is found without paging to it
    last = f"{MANY_PREFIX}{MANY_EXPERIMENTS - 1:04d}"
    page.get_by_label("Search experiments").fill(f"{MANY_PREFIX}149")
    expect(items).to_have_count(10)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    page.get_by_role("button", name=last, exact=True).click()
    expect(page.get_by_role("heading", name=last, level=1)).to_be_visible()
    expect(page.get_by_text("No runs.")).to_be_visible()


def test_runs_of_two_experiments_at_once(page: Page, ui_server: UiServer) -> None:
    open_experiment(page, "ui-beta")
    page.get_by_label("Add ui-alpha to the selection").check()
    expect(page.get_by_role("heading", name="ui-beta, ui-alpha")).to_be_visible()
    expect(page.get_by_text("beta-0")).to_be_visible()
    expect(page.get_by_text("trial-3")).to_be_visible()
    beta_run = ui_server.seed.runs["beta-0"]
    expect(cell(page, beta_run, "experiment")).to_have_text("ui-beta")


def test_rows_show_attributes_and_picked_columns(page: Page, ui_server: UiServer) -> None:
    open_experiment(page, "ui-alpha")
    trial = ui_server.seed.runs["trial-1"]
    expect(cell(page, trial, "status")).to_have_text("FINISHED")
    expect(cell(page, trial, "duration")).to_have_text("1min 5s")
    expect(cell(page, trial, "user_id")).to_have_text("tester")
    # the source column shows the file name of mlflow.source.name, and nothing without it
    expect(cell(page, ui_server.seed.runs["annotated"], "source")).to_have_text("train.py")
    expect(cell(page, trial, "source")).to_have_text("")
    expect(cell(page, trial, "metrics.acc")).to_have_text(str(TRIAL_ACC[1]))
    expect(cell(page, trial, "params.model")).to_have_text("linear")
    # add a tag column through the picker; the choice goes into the URL
    page.get_by_role("button", name="Columns").click()
    page.get_by_label("Tags: team").check()
    expect(cell(page, trial, "tags.team")).to_have_text("vision")
    assert "cols=" in page.url
    assert "tags.team" in unquote(page.url)


def test_filter_with_the_search_grammar(page: Page) -> None:
    open_experiment(page, "ui-alpha")
    page.get_by_label("Filter runs").fill("params.model = 'tree' and metrics.acc > 0.65")
    page.get_by_label("Filter runs").press("Enter")
    expect(page.locator(".run-row")).to_have_count(1)
    assert row_names(page) == ["trial-0"]
    assert "filter=" in page.url
    page.get_by_label("Filter runs").fill("params.model = 'no such model'")
    page.get_by_label("Filter runs").press("Enter")
    expect(page.get_by_text("No runs match the filter.")).to_be_visible()
    expect(page.locator(".run-row")).to_have_count(0)


def test_bad_filter_shows_the_server_message(page: Page, console: ConsoleWatch) -> None:
    console.allow("status of 400")  # the rejected search request itself
    open_experiment(page, "ui-alpha")
    page.get_by_label("Filter runs").fill("metrics.acc >>> 1")
    page.get_by_role("button", name="Search").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("INVALID_PARAMETER_VALUE")
    expect(page.locator(".run-row")).to_have_count(0)


def test_sort_by_clicking_a_metric_header(page: Page) -> None:
    open_experiment(page, "ui-alpha")
    by_acc = [f"trial-{i}" for i in sorted(range(6), key=lambda i: TRIAL_ACC[i])]
    page.locator("[data-col='metrics.acc'] button.sort").click()
    expect(page.locator("[role=columnheader][data-col='metrics.acc']")).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(page.locator(".run-row").first).to_contain_text(by_acc[-1])
    assert row_names(page)[:6] == by_acc[::-1]
    page.locator("[data-col='metrics.acc'] button.sort").click()
    expect(page.locator(".run-row").first).to_contain_text(by_acc[0])
    assert row_names(page)[:6] == by_acc
    assert "sort=metrics.acc" in page.url
    assert "dir=asc" in page.url
    page.get_by_role("button", name="Run name").click()
    expect(page.locator(".run-row").first).to_contain_text("trial-5")  # names descending


def test_a_link_reproduces_the_view(page: Page, ui_server: UiServer) -> None:
    alpha = ui_server.seed.experiments["ui-alpha"]
    page.goto(
        f"/#/experiments/{alpha}?filter=metrics.acc+%3E+0.7&sort=metrics.acc&dir=asc&cols=metrics.acc"
    )
    expect(page.locator(".run-row")).to_have_count(4)
    assert row_names(page) == ["trial-0", "trial-5", "trial-3", "trial-1"]
    expect(page.locator("[role=columnheader][data-col='params.lr']")).to_have_count(0)
    expect(page.get_by_label("Filter runs")).to_have_value("metrics.acc > 0.7")


def test_nested_runs_expand_under_their_parent(page: Page, ui_server: UiServer) -> None:
    open_experiment(page, "ui-alpha")
    expect(page.get_by_text("sweep-parent")).to_be_visible()
    assert "child-a" not in row_names(page)
    page.get_by_role("button", name="Expand 2 child runs").click()
    names = row_names(page)
    parent_at = names.index("sweep-parent")
    assert sorted(names[parent_at + 1 : parent_at + 3]) == ["child-a", "child-b"]
    child = cell(page, ui_server.seed.runs["child-a"], "run_name")
    parent = cell(page, ui_server.seed.runs["sweep-parent"], "run_name")
    indent = "el => parseFloat(getComputedStyle(el).paddingLeft)"
    assert child.evaluate(indent) > parent.evaluate(indent)
    page.get_by_role("button", name="Collapse 2 child runs").click()
    expect(page.get_by_text("child-a")).to_have_count(0)


def test_run_page_overview_params_and_metrics(page: Page, ui_server: UiServer) -> None:
    open_experiment(page, "ui-alpha")
    page.get_by_role("link", name="annotated").click()
    run_id = ui_server.seed.runs["annotated"]
    expect(page.get_by_role("heading", name="annotated", level=1)).to_be_visible()
    assert f"#/runs/{run_id}" in page.url
    overview = page.locator("dl.overview")
    expect(overview).to_contain_text("FINISHED")
    expect(overview).to_contain_text("alice")
    expect(overview).to_contain_text("train.py")
    expect(overview).to_contain_text("abc123def456")
    expect(overview).to_contain_text("1min 5s")
    params = page.get_by_role("table", name="Parameters")
    expect(params.locator("tr[data-key=optimizer] td")).to_have_text("adam")
    expect(params.locator("tr[data-key=epochs] td")).to_have_text("12")
    metrics = page.get_by_role("table", name="Metrics")
    expect(metrics.locator("tr[data-key=val_loss] td")).to_have_text("0.25")
    chart = page.locator(".metric-chart[data-metric=val_loss]")
    expect(chart.locator("canvas")).to_be_visible()
    expect(chart).to_have_attribute("data-series-count", "1")
    datasets = page.get_by_role("table", name="Dataset inputs")
    expect(datasets).to_contain_text("iris")
    expect(datasets).to_contain_text("d1g3st")
    expect(datasets).to_contain_text("training")


def test_run_page_links_parent_and_children(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/runs/{ui_server.seed.runs['sweep-parent']}")
    children = page.locator("dd.children")
    expect(children.get_by_role("link", name="child-a")).to_be_visible()
    children.get_by_role("link", name="child-b").click()
    expect(page.get_by_role("heading", name="child-b", level=1)).to_be_visible()
    page.locator("dl.overview").get_by_role(
        "link", name=ui_server.seed.runs["sweep-parent"]
    ).click()
    expect(page.get_by_role("heading", name="sweep-parent", level=1)).to_be_visible()


def test_edit_the_note(page: Page, ui_server: UiServer) -> None:
    run_id = ui_server.seed.runs["note-target"]
    page.goto(f"/#/runs/{run_id}")
    expect(page.locator(".note-body em")).to_have_text("note")
    page.get_by_role("button", name="Edit note").click()
    page.get_by_label("Note text").fill("## Findings\n\nA **bold** result")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator(".note-body strong")).to_have_text("bold")
    expect(page.locator(".note-body h2")).to_have_text("Findings")
    stored = requests.get(
        f"{ui_server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10
    ).json()
    tags = {t["key"]: t["value"] for t in stored["run"]["data"]["tags"]}
    assert tags["mlflow.note.content"] == "## Findings\n\nA **bold** result"
    page.reload()
    expect(page.locator(".note-body strong")).to_have_text("bold")


def test_browse_preview_and_download_artifacts(page: Page, ui_server: UiServer) -> None:
    page.goto(f"/#/runs/{ui_server.seed.runs['annotated']}")
    tree = page.get_by_role("tree")
    expect(tree.locator("[data-path='notes.txt']")).to_be_visible()
    expect(tree.locator("[data-path='config/params.json']")).to_have_count(0)
    tree.locator("[data-path=config]").click()
    tree.locator("[data-path='config/params.json']").click()
    preview = page.locator(".preview-text")
    expect(preview).to_contain_text('"dropout": 0.1')
    assert '"layers": [\n    64,' in preview.inner_text()  # pretty-printed
    assert "artifact=config%2Fparams.json" in page.url

    tree.locator("[data-path='notes.txt']").click()
    expect(preview).to_have_text(ARTIFACTS["notes.txt"].decode().rstrip("\n"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "notes.txt"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == ARTIFACTS["notes.txt"]

    tree.locator("[data-path=plots]").click()
    tree.locator("[data-path='plots/curve.png']").click()
    image = page.locator(".preview-image")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.preview-image').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [20, 10]


def test_compare_three_runs(page: Page, ui_server: UiServer) -> None:
    open_experiment(page, "ui-alpha")
    for name in ("trial-0", "trial-1", "trial-2"):
        page.get_by_label(f"Select run {name}", exact=True).check()
    page.get_by_role("button", name="Compare (3)").click()
    expect(page.get_by_role("heading", name="Comparing 3 runs")).to_be_visible()
    params = page.get_by_role("table", name="Parameters")
    expect(params.locator("tr[data-key=lr]")).to_have_attribute("data-differs", "true")
    expect(params.locator("tr[data-key=model]")).to_have_attribute("data-differs", "true")
    expect(params.locator("tr[data-key=seed]")).to_have_attribute("data-differs", "false")
    expect(params.locator("tr[data-key=lr] td")).to_have_text(["0.01", "0.02", "0.03"])
    chart = page.locator(".metric-chart[data-metric=acc]")
    expect(chart.locator("canvas")).to_be_visible()
    # uPlot's legend: one row for the x axis, then one per run
    legend = chart.locator(".u-legend .u-series")
    expect(legend).to_have_count(4)
    labels = legend.all_inner_texts()
    assert all(any(name in label for label in labels) for name in ("trial-0", "trial-1", "trial-2"))
    ids = [ui_server.seed.runs[f"trial-{i}"] for i in range(3)]
    assert re.search("runs=" + "%2C".join(ids), page.url)


def test_large_experiment_is_virtualised_and_paged(page: Page) -> None:
    open_experiment(page, "bulk")
    status = page.locator(".run-count")
    expect(status).to_have_text("1000 runs loaded, more on scroll")
    # only the rows in view are in the DOM
    assert page.locator(".run-row").count() < 100
    scroller = page.locator(".runs-scroll")
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight }")
    expect(status).to_have_text(f"{BULK_RUNS} runs")
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight }")
    expect(page.locator(".run-row").last).to_contain_text("bulk-0")
    assert page.locator(".run-row").count() < 100


def test_missing_run_shows_the_server_error(page: Page, console: ConsoleWatch) -> None:
    console.allow("status of 404")
    page.goto("/#/runs/0123456789abcdef0123456789abcdef")
    expect(page.get_by_role("alert")).to_contain_text("RESOURCE_DOES_NOT_EXIST")
