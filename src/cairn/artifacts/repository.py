"""The ArtifactRepository Protocol: where a run's files live, behind one small interface.

Every backend (a local directory, any fsspec filesystem, the tracking server's proxy)
offers the same methods, so the tracking client and the server's artifact routes never
need to know which one they hold. Paths handed to these methods are always POSIX-style
and relative to the repository root; ``None`` or ``""`` means the root itself.

This module also holds the few rules every backend shares: the reserved prefix of
in-progress uploads, the streaming chunk size and how a download destination is chosen.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue, ResourceDoesNotExist

# Uploads are written under this name beside their destination, then renamed into
# place; listings hide such files and users may not name an artifact this way.
TEMP_UPLOAD_PREFIX = ".cairn-upload-"

# Size of the pieces in which artifacts are streamed (server proxy, copies).
CHUNK_SIZE = 1024 * 1024


@runtime_checkable
class ArtifactRepository(Protocol):
    """Storage of artifact files under one root URI."""

    artifact_uri: str

    def log_artifact(self, local_file: str | Path, artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a directory), keeping its name."""
        ...

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Copy the whole tree under ``local_dir`` into ``artifact_path``."""
        ...

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path``, sorted by path; ``[]`` when it is missing or a file.

        Each FileInfo's path is relative to the repository root; directories have
        ``file_size=None``.
        """
        ...

    def download_artifacts(self, artifact_path: str, dst_path: str | Path | None = None) -> str:
        """Copy a file or directory to ``dst_path`` and return the local path of the copy.

        The copy keeps ``artifact_path``'s layout under ``dst_path`` (a new temporary
        directory when None). Raises ResourceDoesNotExist when nothing is stored there.
        """
        ...

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a whole directory (the root when None); missing is a no-op."""
        ...

    def open_read(self, artifact_path: str) -> BinaryIO:
        """An open binary stream over one stored file; the caller closes it."""
        ...

    def write_stream(self, artifact_path: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` as the file ``artifact_path``; returns the bytes written.

        Nothing becomes visible at ``artifact_path`` unless every chunk arrived: a
        failing iterator leaves the previous content (or no file) in place.
        """
        ...


def check_not_reserved(name: str) -> None:
    """Refuse a file name that would collide with an upload in progress."""
    if name.startswith(TEMP_UPLOAD_PREFIX):
        raise InvalidParameterValue(
            f"Invalid artifact file name '{name}': names starting with "
            f"'{TEMP_UPLOAD_PREFIX}' are reserved."
        )


def source_directory(local_dir: str | Path) -> Path:
    """The local directory ``log_artifacts`` copies from, refused plainly if it is not one."""
    source = Path(local_dir)
    if not source.is_dir():
        if not source.exists():
            raise FileNotFoundError(f"No such directory: '{source}'")
        raise NotADirectoryError(f"Not a directory: '{source}'")
    return source


def prepare_download_destination(dst_path: str | Path | None) -> Path:
    """The local directory a download goes into: ``dst_path`` (which must exist) or a new one."""
    if dst_path is None or str(dst_path) == "":
        return Path(tempfile.mkdtemp(prefix="cairn-artifacts-"))
    destination = Path(os.path.abspath(dst_path))
    if not destination.exists():
        raise ResourceDoesNotExist(
            f"The destination path for downloaded artifacts does not exist: {destination}"
        )
    if not destination.is_dir():
        raise InvalidParameterValue(
            f"The destination path for downloaded artifacts must be a directory: {destination}"
        )
    return destination


def missing_artifact(artifact_path: str) -> ResourceDoesNotExist:
    """The error every backend raises for a path that holds nothing."""
    return ResourceDoesNotExist(f"No such artifact: '{artifact_path}'")
