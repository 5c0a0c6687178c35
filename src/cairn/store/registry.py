"""Which store serves a tracking URI: a scheme -> dotted-path table, loaded lazily.

The table names classes as strings so that importing this module (and so ``import
cairn``) never pulls in SQLAlchemy, requests or any other backend's dependencies.
"""

from __future__ import annotations

import importlib
import os
import threading
from urllib.parse import urlparse

from cairn.exceptions import InvalidParameterValue
from cairn.store.tracking import TrackingStore

DEFAULT_TRACKING_URI = "./mlruns"

_STORES_BY_SCHEME: dict[str, str] = {
    "": "cairn.store.file.store:FileStore",
    "file": "cairn.store.file.store:FileStore",
    "sqlite": "cairn.store.sql.store:SqlStore",
    "postgresql": "cairn.store.sql.store:SqlStore",
    "mysql": "cairn.store.sql.store:SqlStore",
    "mssql": "cairn.store.sql.store:SqlStore",
    "http": "cairn.store.rest:RestStore",
    "https": "cairn.store.rest:RestStore",
}

_cache: dict[str, TrackingStore] = {}
_cache_lock = threading.Lock()


def scheme_of(uri: str) -> str:
    """The scheme that picks a backend: ``postgresql+psycopg2`` -> ``postgresql``."""
    if os.name == "nt" and len(uri) > 1 and uri[1] == ":":
        return ""  # a Windows drive letter, not a scheme
    return urlparse(uri).scheme.split("+", 1)[0].lower()


def _load(dotted: str) -> type:
    module_name, _, attr = dotted.partition(":")
    cls: type = getattr(importlib.import_module(module_name), attr)
    return cls


def create_tracking_store(uri: str, default_artifact_root: str | None = None) -> TrackingStore:
    """A new store for ``uri`` (the server and tests use this; clients share cached ones)."""
    scheme = scheme_of(uri)
    if scheme not in _STORES_BY_SCHEME:
        raise InvalidParameterValue(
            f"Unsupported tracking URI '{uri}': no store for scheme '{scheme}'. "
            f"Supported schemes: {', '.join(sorted(s for s in _STORES_BY_SCHEME if s))}, "
            "or a local path."
        )
    store: TrackingStore = _load(_STORES_BY_SCHEME[scheme])(uri, default_artifact_root)
    return store


def get_tracking_store(uri: str) -> TrackingStore:
    """The store for ``uri``, one instance per URI per process (stores are thread-safe)."""
    with _cache_lock:
        store = _cache.get(uri)
        if store is None:
            store = _cache[uri] = create_tracking_store(uri)
        return store
