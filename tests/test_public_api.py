"""The MLflow names Cairn claims exist, under the same modules."""

from __future__ import annotations

import importlib

import pytest

import cairn

# MLflow's fluent tracking API (``mlflow.<name>``) that Cairn provides.
FLUENT_NAMES = [
    "ActiveRun",
    "MlflowClient",
    "MlflowException",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_run",
    "delete_tag",
    "end_run",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_registry_uri",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "restore_experiment",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_registry_uri",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

# "module:attribute" paths MLflow code imports.
QUALIFIED_NAMES = [
    "cairn.tracking:MlflowClient",
    "cairn.tracking:get_tracking_uri",
    "cairn.tracking:set_tracking_uri",
    "cairn.client:MlflowClient",
    "cairn.entities:Metric",
    "cairn.entities:Param",
    "cairn.entities:RunTag",
    "cairn.entities:ViewType",
    "cairn.entities:RunStatus",
    "cairn.exceptions:MlflowException",
]

# Client methods MLflow code calls.
CLIENT_METHODS = [
    "create_experiment",
    "get_experiment",
    "get_experiment_by_name",
    "search_experiments",
    "rename_experiment",
    "delete_experiment",
    "restore_experiment",
    "set_experiment_tag",
    "delete_experiment_tag",
    "create_run",
    "get_run",
    "get_parent_run",
    "update_run",
    "set_terminated",
    "delete_run",
    "restore_run",
    "log_metric",
    "log_param",
    "set_tag",
    "delete_tag",
    "log_batch",
    "log_inputs",
    "log_artifact",
    "log_artifacts",
    "log_text",
    "log_dict",
    "log_figure",
    "log_image",
    "log_table",
    "list_artifacts",
    "download_artifacts",
    "get_metric_history",
    "search_runs",
]


@pytest.mark.parametrize("name", FLUENT_NAMES)
def test_fluent_name_exists(name: str) -> None:
    assert getattr(cairn, name) is not None
    assert name in dir(cairn)


@pytest.mark.parametrize("path", QUALIFIED_NAMES)
def test_qualified_name_resolves(path: str) -> None:
    module_name, _, attribute = path.partition(":")
    assert getattr(importlib.import_module(module_name), attribute) is not None


@pytest.mark.parametrize("method", CLIENT_METHODS)
def test_client_method_exists(method: str) -> None:
    assert callable(getattr(cairn.MlflowClient, method))


def test_aliases_are_the_same_objects() -> None:
    assert cairn.MlflowClient is cairn.tracking.MlflowClient is cairn.client.MlflowClient
    assert cairn.MlflowException is cairn.exceptions.MlflowException
    assert cairn.tracking.MlflowClient is importlib.import_module("cairn.client").MlflowClient


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = cairn.no_such_thing  # type: ignore[attr-defined]


def test_fluent_all_matches_the_lazy_table() -> None:
    from cairn.tracking import fluent

    lazy_fluent = {name for name, module in cairn._LAZY.items() if module == fluent.__name__}
    assert lazy_fluent == set(fluent.__all__)


def test_lazy_table_and_fluent_all_agree() -> None:
    """``cairn/__init__`` lists the fluent names (it must not import the module to learn
    them); this keeps that list and ``fluent.__all__`` in step."""
    from cairn.tracking import fluent

    lazy_fluent = {name for name, module in cairn._LAZY.items() if module == cairn._FLUENT}
    assert lazy_fluent == set(fluent.__all__)
