"""A directory of a run's artifacts as a zip archive, produced while it is sent.

The archive is written into a small buffer that is drained after every chunk, so a
directory of any size streams in constant memory (zip's data descriptors make that
possible without seeking back). Paths are normalised by ``clean_artifact_path``; the
repository itself keeps every read inside the run's artifact root (the local one
through ``safe_join``, skipping symlinks that lead outside).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator

from cairn.artifacts.local import clean_artifact_path
from cairn.artifacts.repository import CHUNK_SIZE, ArtifactRepository
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist

# Guards against directory-symlink loops in repositories that do not detect them.
MAX_DEPTH = 64


class _Drain:
    """A write-only file whose contents are taken away as they arrive."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def files_under(repository: ArtifactRepository, directory: str) -> list[tuple[str, int | None]]:
    """Every file below ``directory`` as (path relative to the root, size), sorted."""
    found: list[tuple[str, int | None]] = []
    pending = [(directory, 0)]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidParameterValue(
                f"Artifact directory '{directory}' nests deeper than {MAX_DEPTH} levels."
            )
        for info in repository.list_artifacts(current or None):
            if info.is_dir:
                pending.append((info.path, depth + 1))
            else:
                found.append((info.path, info.file_size))
    return sorted(found)


def plan_zip(repository: ArtifactRepository, path: str | None) -> tuple[str, list[str]]:
    """The cleaned directory and the files the archive of ``path`` will hold; raises
    before anything is sent if the path is bad or holds no files."""
    directory = clean_artifact_path(path)
    files = [name for name, _ in files_under(repository, directory)]
    if not files:
        where = f"'{directory}'" if directory else "the run's artifact root"
        raise ResourceDoesNotExist(f"No artifact files under {where}.")
    return directory, files


def zip_chunks(repository: ArtifactRepository, directory: str, files: list[str]) -> Iterator[bytes]:
    """The archive's bytes, chunk by chunk; member names are relative to ``directory``."""
    sink = _Drain()
    with zipfile.ZipFile(
        sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
    ) as archive:  # type: ignore[call-overload]
        for path in files:
            name = posixpath.relpath(path, directory) if directory else path
            with (
                repository.open_read(path) as source,
                archive.open(name, mode="w", force_zip64=True) as member,
            ):
                while chunk := source.read(CHUNK_SIZE):
                    member.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data
