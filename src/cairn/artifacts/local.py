"""Artifacts in a local directory, and the one place artifact paths are checked.

``clean_artifact_path`` holds the textual rules for a client-supplied relative path;
``safe_join`` adds the filesystem rule (after resolving symlinks the result must stay
under the root). Every backend and the server's artifact routes go through these two;
no other module repeats the checks.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path, PureWindowsPath
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from cairn.artifacts.repository import (
    CHUNK_SIZE,
    TEMP_UPLOAD_PREFIX,
    check_not_reserved,
    missing_artifact,
    prepare_download_destination,
    source_directory,
)
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue

_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


def _invalid(relative: object, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid artifact path {relative!r}: {why}.")


def clean_artifact_path(relative: str | None) -> str:
    """``relative`` as a normalised POSIX path ("" for the root), or InvalidParameterValue.

    Refused: absolute paths (``/x``, ``C:x``, ``\\\\host``), backslashes (a separator on
    Windows, so ``..\\x`` would escape there), NUL bytes, and any ``..`` segment, even
    one that would stay inside (as MLflow does). ``.`` and empty segments are dropped.
    """
    if relative is None:
        return ""
    if not isinstance(relative, str):
        raise _invalid(relative, "it must be a string")
    if "\x00" in relative:
        raise _invalid(relative, "it contains a NUL byte")
    if "\\" in relative:
        raise _invalid(relative, "it contains a backslash; use '/' to separate directories")
    if (
        relative.startswith("/")
        or _DRIVE_PREFIX.match(relative)
        or PureWindowsPath(relative).is_absolute()
    ):
        raise _invalid(relative, "it must be relative to the artifact root")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _invalid(relative, "'..' segments are not allowed")
    return "/".join(parts)


def safe_join(root: str | Path, relative: str | None) -> Path:
    """The path of ``relative`` under ``root``, refusing anything that leads outside it.

    The textual rules are those of ``clean_artifact_path``; in addition, symlinks along
    the path (including a dangling one at its end) are resolved and the target must lie
    under the resolved root. Raises InvalidParameterValue otherwise; nothing is touched.
    The check is as good as the filesystem stays still: someone able to plant symlinks
    inside the root between this call and the use of its result can already write there.
    """
    clean = clean_artifact_path(relative)
    base = Path(os.path.abspath(root))
    target = base.joinpath(*clean.split("/")) if clean else base
    try:
        real_base = base.resolve()
        real_target = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise _invalid(relative, f"it cannot be resolved ({exc})") from None
    if real_target != real_base and real_base not in real_target.parents:
        raise _invalid(relative, "it resolves outside the artifact root")
    return target


def clean_file_path(artifact_path: str) -> str:
    """Like ``clean_artifact_path`` for a path that must name a file: not the root, and
    not a reserved upload name."""
    clean = clean_artifact_path(artifact_path)
    if not clean:
        raise InvalidParameterValue("An artifact file path is required, got the root.")
    check_not_reserved(clean.rsplit("/", 1)[-1])
    return clean


def local_path_of_uri(uri: str) -> Path:
    """The directory a plain path or a ``file:`` URI (percent-encoded) points at."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return Path(uri)
    if parsed.netloc not in ("", "localhost"):
        raise InvalidParameterValue(
            f"File URI '{uri}' names a remote host '{parsed.netloc}'; only local paths work."
        )
    return Path(unquote(parsed.path))


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread
    # of ours writes files.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class LocalArtifactRepository:
    """Artifacts as plain files under a local directory (a path or a ``file:`` URI)."""

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri
        self.root = Path(os.path.abspath(local_path_of_uri(artifact_uri)))

    def __repr__(self) -> str:
        return f"LocalArtifactRepository({self.artifact_uri!r})"

    # writing

    def log_artifact(self, local_file: str | Path, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        check_not_reserved(source.name)
        destination = safe_join(self.root, _join(clean_artifact_path(artifact_path), source.name))
        with suppress(OSError):
            if os.path.samefile(source, destination):
                return  # logging a file onto itself would truncate it
        self._copy_in(source, destination)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        source = source_directory(local_dir)
        base = clean_artifact_path(artifact_path)
        self._make_dirs(safe_join(self.root, base))
        for dirpath, dirnames, filenames in os.walk(source, followlinks=True):
            relative_dir = Path(dirpath).relative_to(source).as_posix()
            relative_dir = "" if relative_dir == "." else relative_dir
            for name in sorted(dirnames):
                self._make_dirs(safe_join(self.root, _join(base, relative_dir, name)))
            for name in sorted(filenames):
                check_not_reserved(name)
                destination = safe_join(self.root, _join(base, relative_dir, name))
                self._copy_in(Path(dirpath, name), destination)

    def write_stream(self, artifact_path: str, chunks: Iterable[bytes]) -> int:
        clean = clean_file_path(artifact_path)
        destination = safe_join(self.root, clean)
        if destination.is_dir():
            raise InvalidParameterValue(f"Artifact path '{clean}' is a directory.")
        written = 0

        def write(dst: BinaryIO) -> None:
            nonlocal written
            for chunk in chunks:
                dst.write(chunk)
                written += len(chunk)

        self._publish(destination, write, finish=_set_default_mode)
        return written

    # reading

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        clean = clean_artifact_path(path)
        directory = safe_join(self.root, clean)
        if not directory.is_dir():
            return []
        return sorted(
            (info for info, _ in self._children(clean, directory)), key=lambda info: info.path
        )

    def download_artifacts(self, artifact_path: str, dst_path: str | Path | None = None) -> str:
        clean = clean_artifact_path(artifact_path)
        destination = prepare_download_destination(dst_path)
        source = safe_join(self.root, clean)
        if clean == "" and not source.is_dir():
            return str(destination)  # an empty repository downloads as an empty directory
        if not source.exists():
            raise missing_artifact(clean)
        target = destination.joinpath(*clean.split("/")) if clean else destination
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            return str(target)
        target.mkdir(parents=True, exist_ok=True)
        for relative, local, is_dir in self._walk(clean, source):
            copy = target.joinpath(*relative[len(clean) :].strip("/").split("/"))
            if is_dir:
                copy.mkdir(parents=True, exist_ok=True)
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(local, copy)
        return str(target)

    def open_read(self, artifact_path: str) -> BinaryIO:
        clean = clean_file_path(artifact_path)
        source = safe_join(self.root, clean)
        if source.is_dir():
            raise InvalidParameterValue(f"Artifact path '{clean}' is a directory, not a file.")
        try:
            return open(source, "rb")
        except FileNotFoundError:
            raise missing_artifact(clean) from None

    # deleting

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        target = safe_join(self.root, artifact_path)
        if target.is_symlink() or target.is_file():
            target.unlink()  # a link goes, never what it points at
        elif target.is_dir():
            shutil.rmtree(target)

    # internals

    def _make_dirs(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidParameterValue(
                f"Cannot create artifact directory '{directory.relative_to(self.root)}': "
                "a file is in the way."
            ) from None

    def _copy_in(self, source: Path, destination: Path) -> None:
        with open(source, "rb") as src:
            self._publish(
                destination,
                lambda dst: shutil.copyfileobj(src, dst, CHUNK_SIZE),
                finish=lambda temp: shutil.copystat(source, temp),
            )

    def _publish(
        self,
        destination: Path,
        write: Callable[[BinaryIO], None],
        finish: Callable[[str], None],
    ) -> None:
        """Write into a hidden temporary file beside ``destination``, then rename it there."""
        self._make_dirs(destination.parent)
        if destination.is_dir():
            raise InvalidParameterValue(
                f"Artifact path '{destination.relative_to(self.root)}' is a directory."
            )
        descriptor, temp = tempfile.mkstemp(dir=destination.parent, prefix=TEMP_UPLOAD_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
            finish(temp)
            os.replace(temp, destination)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def _children(self, clean: str, directory: Path) -> Iterator[tuple[FileInfo, Path]]:
        """Entries of a directory that stay inside the root (escaping symlinks are skipped)."""
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_UPLOAD_PREFIX):
                    continue
                relative = _join(clean, entry.name)
                try:
                    local = safe_join(self.root, relative)
                    is_dir = local.is_dir()
                    size = None if is_dir else local.stat().st_size
                except (InvalidParameterValue, OSError):
                    continue  # escapes the root, or a dangling link
                yield FileInfo(relative, is_dir, size), local

    def _walk(self, clean: str, directory: Path) -> Iterator[tuple[str, Path, bool]]:
        """Every entry below ``directory`` as (relative path, local path, is_dir)."""
        seen = {directory.resolve()}
        pending = [(clean, directory)]
        while pending:
            relative_dir, local_dir = pending.pop()
            for info, local in self._children(relative_dir, local_dir):
                yield info.path, local, info.is_dir
                if info.is_dir and local.resolve() not in seen:  # links may form loops
                    seen.add(local.resolve())
                    pending.append((info.path, local))


def _set_default_mode(path: str) -> None:
    # mkstemp creates 0600 files; streamed uploads get the mode open() would have given.
    if os.name != "nt":
        os.chmod(path, 0o666 & ~_UMASK)
