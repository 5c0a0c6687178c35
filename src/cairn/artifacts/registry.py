"""Which repository serves an artifact URI: a scheme -> dotted-path table, loaded lazily.

Classes are named as strings so that fsspec, requests and the like load only when a
URI of their scheme is first used. Every repository class is built as ``cls(uri)``.
"""

from __future__ import annotations

import importlib

from cairn.artifacts.repository import ArtifactRepository
from cairn.exceptions import InvalidParameterValue
from cairn.store.registry import scheme_of

_LOCAL = "cairn.artifacts.local:LocalArtifactRepository"
_PROXY = "cairn.artifacts.http:HttpArtifactRepository"
_FSSPEC = "cairn.artifacts.fsspec_store:FsspecArtifactRepository"

_REPOSITORIES_BY_SCHEME: dict[str, str] = {
    "": _LOCAL,
    "file": _LOCAL,
    "mlflow-artifacts": _PROXY,
    "http": _PROXY,
    "https": _PROXY,
    **dict.fromkeys(("s3", "gs", "gcs", "az", "abfs", "abfss", "wasbs", "hdfs", "memory"), _FSSPEC),
}


def supported_schemes() -> list[str]:
    """The URI schemes an artifact location may use (besides a plain local path)."""
    return sorted(scheme for scheme in _REPOSITORIES_BY_SCHEME if scheme)


def get_artifact_repository(uri: str) -> ArtifactRepository:
    """A repository for the artifact location ``uri``.

    Raises InvalidParameterValue for a scheme no repository serves.
    """
    scheme = scheme_of(uri)
    dotted = _REPOSITORIES_BY_SCHEME.get(scheme)
    if dotted is None:
        raise InvalidParameterValue(
            f"Unsupported artifact URI '{uri}': no artifact repository for scheme "
            f"'{scheme}'. Supported schemes: {', '.join(supported_schemes())}, or a local path."
        )
    module_name, _, attr = dotted.partition(":")
    repository: ArtifactRepository = getattr(importlib.import_module(module_name), attr)(uri)
    return repository
