"""Cairn: an ML experiment tracker, API- and wire-compatible with MLflow Tracking.

``import cairn as mlflow`` runs MLflow tracking code unchanged. Importing stays light:
the fluent API and everything heavy behind it load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; filled in as the API grows
_LAZY: dict[str, str] = {
    "MlflowException": "cairn.exceptions",
    "entities": "cairn.entities",
    "exceptions": "cairn.exceptions",
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
