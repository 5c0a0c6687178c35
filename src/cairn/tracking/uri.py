"""Which tracking URI the client and the fluent API talk to.

The order is MLflow's: a URI given to ``set_tracking_uri`` wins, then the environment
(``CAIRN_TRACKING_URI``, falling back to ``MLFLOW_TRACKING_URI``), then ``./mlruns``
under the current directory, as a ``file:`` URI.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cairn import env
from cairn.store.registry import DEFAULT_TRACKING_URI, scheme_of

_lock = threading.Lock()
_tracking_uri: str | None = None
_registry_uri: str | None = None


def _absolute_if_local(uri: str) -> str:
    # A relative path would silently point somewhere else after os.chdir(); pin it now.
    if uri and scheme_of(uri) == "" and not os.path.isabs(uri):
        return os.path.abspath(uri)
    return uri


def export_setting(var: env.EnvVar[str], value: str | None) -> None:
    """Set (or, with None, remove) both names of a variable in ``os.environ``."""
    # Child processes (and MLflow code running in them) inherit the setting, as in MLflow.
    for name in (var.name, var.mlflow_name):
        if name is None:
            continue
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def set_tracking_uri(uri: str | Path | None) -> None:
    """Set where runs are recorded: a local path, a ``file:`` URI, a database URL or a server.

    A ``pathlib.Path`` or a relative path is made absolute. ``None`` forgets the setting.
    """
    global _tracking_uri
    if isinstance(uri, Path):
        uri = uri.absolute().resolve().as_uri()
    elif uri is not None:
        uri = _absolute_if_local(str(uri))
    with _lock:
        _tracking_uri = uri
        export_setting(env.TRACKING_URI, uri)


def default_tracking_uri() -> str:
    """``./mlruns`` under the current directory, as a ``file:`` URI."""
    return Path(os.path.abspath(DEFAULT_TRACKING_URI)).as_uri()


def get_tracking_uri() -> str:
    """The tracking URI in effect for new clients and runs."""
    if _tracking_uri is not None:
        return _tracking_uri
    from_env = env.TRACKING_URI.get()
    if from_env:
        return _absolute_if_local(from_env)
    return default_tracking_uri()


def is_tracking_uri_set() -> bool:
    """Whether a tracking URI was set explicitly or through the environment."""
    return bool(_tracking_uri or env.TRACKING_URI.get())


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri`` when given, else the tracking URI in effect."""
    return _absolute_if_local(uri) if uri else get_tracking_uri()


def set_registry_uri(uri: str | None) -> None:
    """Set the model registry URI (kept for MLflow compatibility; Cairn has no registry yet)."""
    global _registry_uri
    _registry_uri = uri


def get_registry_uri() -> str:
    """The model registry URI: the one set, else the tracking URI, as in MLflow."""
    return _registry_uri or get_tracking_uri()
