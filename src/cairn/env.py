"""Every environment variable Cairn reads: name, type, default and meaning, in one place.

Each Cairn variable has an MLflow twin; the ``CAIRN_`` name wins when both are set,
so code written for MLflow keeps working unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", str, int, float, bool)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One setting read from the environment, with its MLflow-compatible fallback."""

    name: str
    kind: type[T]
    default: T | None
    doc: str
    mlflow_name: str | None = None

    def get_raw(self) -> str | None:
        for name in (self.name, self.mlflow_name):
            if name and name in os.environ:
                return os.environ[name]
        return None

    def get(self) -> T | None:
        raw = self.get_raw()
        if raw is None:
            return self.default
        if self.kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(f"{self.name} must be true or false, got {raw!r}")
            return lowered in _TRUE  # type: ignore[return-value,unused-ignore]
        return self.kind(raw)

    def is_set(self) -> bool:
        return self.get_raw() is not None


TRACKING_URI = EnvVar(
    "CAIRN_TRACKING_URI", str, None, "Where runs are recorded.", "MLFLOW_TRACKING_URI"
)
EXPERIMENT_NAME = EnvVar(
    "CAIRN_EXPERIMENT_NAME",
    str,
    None,
    "Experiment used when none is set.",
    "MLFLOW_EXPERIMENT_NAME",
)
EXPERIMENT_ID = EnvVar(
    "CAIRN_EXPERIMENT_ID", str, None, "Experiment id used when none is set.", "MLFLOW_EXPERIMENT_ID"
)
RUN_ID = EnvVar("CAIRN_RUN_ID", str, None, "Run that start_run() resumes.", "MLFLOW_RUN_ID")
TRACKING_USERNAME = EnvVar(
    "CAIRN_TRACKING_USERNAME", str, None, "HTTP basic auth user.", "MLFLOW_TRACKING_USERNAME"
)
TRACKING_PASSWORD = EnvVar(
    "CAIRN_TRACKING_PASSWORD", str, None, "HTTP basic auth password.", "MLFLOW_TRACKING_PASSWORD"
)
TRACKING_TOKEN = EnvVar(
    "CAIRN_TRACKING_TOKEN", str, None, "HTTP bearer token.", "MLFLOW_TRACKING_TOKEN"
)
TRACKING_INSECURE_TLS = EnvVar(
    "CAIRN_TRACKING_INSECURE_TLS",
    bool,
    False,
    "Skip TLS verification.",
    "MLFLOW_TRACKING_INSECURE_TLS",
)
HTTP_REQUEST_TIMEOUT = EnvVar(
    "CAIRN_HTTP_REQUEST_TIMEOUT",
    float,
    120.0,
    "Seconds per HTTP request.",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)
HTTP_REQUEST_MAX_RETRIES = EnvVar(
    "CAIRN_HTTP_REQUEST_MAX_RETRIES",
    int,
    7,
    "Retries per HTTP request.",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
)
HTTP_REQUEST_BACKOFF_FACTOR = EnvVar(
    "CAIRN_HTTP_REQUEST_BACKOFF_FACTOR",
    float,
    2.0,
    "Seconds of the first retry's wait; each further retry waits twice as long (max 60 s).",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
)
TRUNCATE_LONG_VALUES = EnvVar(
    "CAIRN_TRUNCATE_LONG_VALUES",
    bool,
    False,
    "Truncate over-long param/tag values instead of refusing them.",
    "MLFLOW_TRUNCATE_LONG_VALUES",
)
SQLITE_BUSY_TIMEOUT = EnvVar(
    "CAIRN_SQLITE_BUSY_TIMEOUT", float, 30.0, "Seconds SQLite waits for a lock before failing."
)
SERVER_CONFIG = EnvVar(
    "_CAIRN_SERVER_CONFIG",
    str,
    None,
    "Internal: the tracking server's settings (JSON), handed by `serve` to uvicorn workers.",
)
ASYNC_LOGGING = EnvVar(
    "CAIRN_ASYNC_LOGGING",
    bool,
    True,
    "Hand logged metrics, params and tags to a background batching queue; false logs "
    "synchronously, as MLflow does by default.",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
)
ASYNC_LOGGING_FLUSH_INTERVAL = EnvVar(
    "CAIRN_ASYNC_LOGGING_FLUSH_INTERVAL",
    float,
    0.1,
    "Seconds the background logger waits to gather a batch before writing it.",
)
ASYNC_LOGGING_QUEUE_SIZE = EnvVar(
    "CAIRN_ASYNC_LOGGING_QUEUE_SIZE",
    int,
    100_000,
    "Metrics, params and tags the background logger holds before callers wait.",
)
JOURNAL_DIR = EnvVar(
    "CAIRN_JOURNAL_DIR",
    str,
    None,
    "Directory of the offline journals (default: $XDG_CACHE_HOME/cairn/journal).",
)
JOURNAL_RETRY_INTERVAL = EnvVar(
    "CAIRN_JOURNAL_RETRY_INTERVAL",
    float,
    5.0,
    "Seconds between attempts to replay the offline journal while the server is unreachable.",
)
