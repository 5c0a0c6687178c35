"""Repositories under test: a local directory and fsspec's in-memory filesystem."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.artifacts.fsspec_store import FsspecArtifactRepository
from cairn.artifacts.local import LocalArtifactRepository
from cairn.artifacts.repository import ArtifactRepository


@pytest.fixture
def memory_repo() -> Iterator[FsspecArtifactRepository]:
    # fsspec's memory filesystem is one process-wide store: give each test its own bucket.
    repo = FsspecArtifactRepository(f"memory://cairn-{uuid.uuid4().hex}/artifacts")
    yield repo
    bucket = repo.root.rsplit("/", 1)[0]
    if repo.fs.exists(bucket):
        repo.fs.rm(bucket, recursive=True)


@pytest.fixture
def local_repo(artifact_root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(artifact_root))


@pytest.fixture(params=["local", "memory"])
def repo(request: pytest.FixtureRequest) -> ArtifactRepository:
    name = "local_repo" if request.param == "local" else "memory_repo"
    repository: ArtifactRepository = request.getfixturevalue(name)
    return repository


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A local directory to upload: two levels, an empty directory, a binary file."""
    root = tmp_path / "source"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "top.txt").write_text("top")
    (root / "sub" / "mid.bin").write_bytes(bytes(range(256)) * 4)
    (root / "sub" / "deeper" / "leaf.json").write_text('{"a": 1}')
    return root
