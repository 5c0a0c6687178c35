"""What only the fsspec repository can show, on fsspec's real in-memory filesystem."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cairn.artifacts.fsspec_store import FsspecArtifactRepository
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue


def _all_memory_paths(repo: FsspecArtifactRepository) -> set[str]:
    store = repo.fs.store  # type: ignore[attr-defined]
    return set(store)


def test_escapes_touch_nothing_else_in_the_filesystem(
    memory_repo: FsspecArtifactRepository, tmp_path: Path
) -> None:
    # a neighbour bucket that an escaping path would reach
    neighbour = memory_repo.root.rsplit("/", 1)[0] + "/neighbour.txt"
    memory_repo.fs.pipe(neighbour, b"neighbour")
    before = _all_memory_paths(memory_repo)

    for bad in ["../neighbour.txt", "../x.txt", "/x.txt", "a/../../x"]:
        with pytest.raises(InvalidParameterValue):
            memory_repo.write_stream(bad, [b"evil"])
        with pytest.raises(InvalidParameterValue):
            memory_repo.delete_artifacts(bad)

    assert _all_memory_paths(memory_repo) == before
    assert memory_repo.fs.cat(neighbour) == b"neighbour"


def test_repository_roots_are_isolated() -> None:
    bucket = f"memory://cairn-{uuid.uuid4().hex}"
    first = FsspecArtifactRepository(f"{bucket}/run1/artifacts")
    second = FsspecArtifactRepository(f"{bucket}/run1/artifacts-other/")
    try:
        first.write_stream("a.txt", [b"1"])
        second.write_stream("a.txt", [b"22"])
        assert first.list_artifacts() == [FileInfo("a.txt", False, 1)]
        assert second.list_artifacts() == [FileInfo("a.txt", False, 2)]
        second.delete_artifacts()
        assert first.list_artifacts() == [FileInfo("a.txt", False, 1)]
    finally:
        first.fs.rm(bucket.removeprefix("memory://"), recursive=True)


def test_no_temporary_objects_remain(memory_repo: FsspecArtifactRepository) -> None:
    memory_repo.write_stream("d/a.txt", [b"a"])

    def broken() -> object:
        yield b"half"
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        memory_repo.write_stream("d/b.txt", broken())  # type: ignore[arg-type]
    stored = {p for p in _all_memory_paths(memory_repo) if p.startswith(memory_repo.root)}
    assert stored == {f"{memory_repo.root}/d/a.txt"}
