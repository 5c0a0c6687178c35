"""Artifact storage: the repository Protocol, its backends, and files made from objects.

Import-light: fsspec, numpy, PIL, pandas and matplotlib load inside the functions that
need them.
"""

from cairn.artifacts.local import LocalArtifactRepository, clean_artifact_path, safe_join
from cairn.artifacts.registry import get_artifact_repository
from cairn.artifacts.repository import ArtifactRepository

__all__ = [
    "ArtifactRepository",
    "LocalArtifactRepository",
    "clean_artifact_path",
    "get_artifact_repository",
    "safe_join",
]
