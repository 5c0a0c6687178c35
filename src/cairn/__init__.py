"""Cairn: an ML experiment tracker, API- and wire-compatible with MLflow Tracking.

``import cairn as mlflow`` runs MLflow tracking code unchanged. Importing stays light:
the fluent API and everything heavy behind it load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_FLUENT = "cairn.tracking.fluent"

# public name -> module that defines it (a name equal to the module's last part is the module)
_LAZY: dict[str, str] = {
    # modules, as ``mlflow.<module>``
    "client": "cairn.client",
    "entities": "cairn.entities",
    "exceptions": "cairn.exceptions",
    "tracking": "cairn.tracking",
    # classes
    "MlflowClient": "cairn.tracking.client",
    "MlflowException": "cairn.exceptions",
    # the fluent API
    **dict.fromkeys(
        (
            "ActiveRun",
            "active_run",
            "autolog",
            "create_experiment",
            "delete_experiment",
            "delete_experiment_tag",
            "delete_run",
            "delete_tag",
            "end_run",
            "flush",
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
        ),
        _FLUENT,
    ),
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cairn' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
