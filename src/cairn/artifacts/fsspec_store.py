"""Artifacts on any fsspec filesystem: S3, GCS, Azure, HDFS, memory, ...

fsspec is imported when a repository is first built, so URIs of other schemes never
pay for it. The filesystem driver for the scheme (s3fs, gcsfs, adlfs, ...) must be
installed; fsspec's own message says which one is missing.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from cairn.artifacts.local import clean_artifact_path, clean_file_path
from cairn.artifacts.repository import (
    CHUNK_SIZE,
    TEMP_UPLOAD_PREFIX,
    check_not_reserved,
    missing_artifact,
    prepare_download_destination,
    source_directory,
)
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue, MlflowException

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


class FsspecArtifactRepository:
    """Artifacts under a root URI of any filesystem fsspec knows."""

    def __init__(self, artifact_uri: str, **storage_options: Any) -> None:
        import fsspec.core

        self.artifact_uri = artifact_uri
        try:
            fs, root = fsspec.core.url_to_fs(artifact_uri, **storage_options)
        except ImportError as exc:
            raise MlflowException(
                f"Cannot open artifact location '{artifact_uri}': {exc}"
            ) from None
        self.fs: AbstractFileSystem = fs
        self.root: str = root.rstrip("/") or root

    def __repr__(self) -> str:
        return f"FsspecArtifactRepository({self.artifact_uri!r})"

    def _full(self, clean: str) -> str:
        return f"{self.root.rstrip('/')}/{clean}" if clean else self.root

    # writing

    def log_artifact(self, local_file: str | Path, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        check_not_reserved(source.name)
        clean = _join(clean_artifact_path(artifact_path), source.name)
        self._copy_in(source, clean)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        source = source_directory(local_dir)
        base = clean_artifact_path(artifact_path)
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            check_not_reserved(file.name)
            clean = _join(base, file.relative_to(source).as_posix())
            self._copy_in(file, clean)

    def write_stream(self, artifact_path: str, chunks: Iterable[bytes]) -> int:
        clean = clean_file_path(artifact_path)
        written = 0

        def write(dst: BinaryIO) -> None:
            nonlocal written
            for chunk in chunks:
                dst.write(chunk)
                written += len(chunk)

        self._publish(clean, write)
        return written

    # reading

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean = clean_artifact_path(path)
        full = self._full(clean)
        if not self.fs.isdir(full):
            return []
        infos = []
        for entry in self.fs.ls(full, detail=True):
            name = posixpath.basename(str(entry["name"]).rstrip("/"))
            if not name or name.startswith(TEMP_UPLOAD_PREFIX):
                continue
            if self.fs._strip_protocol(str(entry["name"])).rstrip("/") == full.rstrip("/"):
                continue  # some object stores list the prefix itself
            is_dir = entry.get("type") == "directory"
            size = None if is_dir else int(entry.get("size") or 0)
            infos.append(FileInfo(_join(clean, name), is_dir, size))
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: str | Path | None = None) -> str:
        clean = clean_artifact_path(artifact_path)
        destination = prepare_download_destination(dst_path)
        full = self._full(clean)
        target = destination.joinpath(*clean.split("/")) if clean else destination
        if self.fs.isfile(full):
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(full, str(target))
            return str(target)
        if not self.fs.isdir(full):
            if not clean:
                return str(destination)  # an empty repository downloads as an empty directory
            raise missing_artifact(clean)
        target.mkdir(parents=True, exist_ok=True)
        self._download_tree(clean, target)
        return str(target)

    def open_read(self, artifact_path: str) -> BinaryIO:
        clean = clean_file_path(artifact_path)
        full = self._full(clean)
        if self.fs.isdir(full):
            raise InvalidParameterValue(f"Artifact path '{clean}' is a directory, not a file.")
        if not self.fs.isfile(full):
            raise missing_artifact(clean)
        return cast(BinaryIO, self.fs.open(full, "rb"))

    # deleting

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        full = self._full(clean_artifact_path(artifact_path))
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    # internals

    def _download_tree(self, clean: str, target: Path) -> None:
        # Recursing through list_artifacts keeps one definition of what is listed.
        for info in self.list_artifacts(clean):
            local = target / info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                local.mkdir(exist_ok=True)
                self._download_tree(info.path, local)
            else:
                self.fs.get_file(self._full(info.path), str(local))

    def _copy_in(self, source: Path, clean: str) -> None:
        with open(source, "rb") as src:
            self._publish(clean, lambda dst: _copy(src, dst))

    def _publish(self, clean: str, write: Callable[[BinaryIO], None]) -> None:
        """Write to a hidden temporary object beside the destination, then move it there."""
        destination = self._full(clean)
        if self.fs.isdir(destination):
            raise InvalidParameterValue(f"Artifact path '{clean}' is a directory.")
        parent = posixpath.dirname(destination)
        temp = f"{parent}/{TEMP_UPLOAD_PREFIX}{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(parent, exist_ok=True)
            with self.fs.open(temp, "wb") as handle:
                write(cast(BinaryIO, handle))
            self.fs.mv(temp, destination)
        except (FileExistsError, NotADirectoryError):
            self._discard(temp)
            raise InvalidParameterValue(
                f"Cannot write artifact '{clean}': a file is in the way."
            ) from None
        except BaseException:
            self._discard(temp)
            raise

    def _discard(self, temp: str) -> None:
        with suppress(FileNotFoundError, OSError):
            if self.fs.exists(temp):
                self.fs.rm(temp)


def _copy(src: BinaryIO, dst: BinaryIO) -> None:
    while chunk := src.read(CHUNK_SIZE):
        dst.write(chunk)
