"""What only a local directory can show: symlinks, file modes, file: URIs, leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cairn.artifacts.local import (
    LocalArtifactRepository,
    clean_artifact_path,
    local_path_of_uri,
    safe_join,
)
from cairn.artifacts.repository import TEMP_UPLOAD_PREFIX
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValue


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the artifact root that must never be read or written."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("secret")
    return directory


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(directory).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("a", "a"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("a//b/", "a/b"),
        ("./a/./b", "a/b"),
        ("...", "..."),
        ("a..b/..c", "a..b/..c"),
        ("%2e%2e/x", "%2e%2e/x"),  # no decoding: a literal, harmless name
        ("spaced name/ü.txt", "spaced name/ü.txt"),
    ],
)
def test_clean_artifact_path_accepts(given: str | None, expected: str) -> None:
    assert clean_artifact_path(given) == expected


@pytest.mark.parametrize(
    "bad", ["..", "../x", "a/..", "a/../b", "/x", "\\x", "a\\b", "C:/x", "c:x", "a\x00", 3]
)
def test_clean_artifact_path_refuses(bad: object) -> None:
    with pytest.raises(InvalidParameterValue):
        clean_artifact_path(bad)  # type: ignore[arg-type]


def test_safe_join_stays_under_root(artifact_root: Path) -> None:
    assert safe_join(artifact_root, "a/b.txt") == artifact_root / "a" / "b.txt"
    assert safe_join(artifact_root, None) == artifact_root
    assert safe_join(str(artifact_root), "") == artifact_root


def test_safe_join_follows_symlinks_that_stay_inside(artifact_root: Path) -> None:
    (artifact_root / "real").mkdir()
    (artifact_root / "alias").symlink_to(artifact_root / "real")
    assert safe_join(artifact_root, "alias/x.txt") == artifact_root / "alias" / "x.txt"


@pytest.mark.parametrize("link_kind", ["directory", "file", "dangling"])
def test_safe_join_refuses_symlinks_out(artifact_root: Path, outside: Path, link_kind: str) -> None:
    target = {
        "directory": outside,
        "file": outside / "secret.txt",
        "dangling": outside / "not-yet.txt",
    }[link_kind]
    (artifact_root / "link").symlink_to(target)
    with pytest.raises(InvalidParameterValue, match="outside"):
        safe_join(artifact_root, "link")
    with pytest.raises(InvalidParameterValue, match="outside"):
        safe_join(artifact_root, "link/below.txt")


def test_safe_join_refuses_symlink_loops(artifact_root: Path) -> None:
    (artifact_root / "a").symlink_to(artifact_root / "b")
    (artifact_root / "b").symlink_to(artifact_root / "a")
    with pytest.raises(InvalidParameterValue):
        safe_join(artifact_root, "a/x")


def test_root_that_is_a_symlink_works(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    (tmp_path / "root-link").symlink_to(real)
    repo = LocalArtifactRepository(str(tmp_path / "root-link"))
    repo.write_stream("a.txt", [b"x"])
    assert (real / "a.txt").read_bytes() == b"x"


def test_symlink_escape_writes_and_reads_nothing(
    local_repo: LocalArtifactRepository, outside: Path, tmp_path: Path
) -> None:
    (local_repo.root / "escape").symlink_to(outside)
    (local_repo.root / "secret-link.txt").symlink_to(outside / "secret.txt")
    upload = tmp_path / "upload.txt"
    upload.write_text("evil")
    before = _snapshot(outside)

    attempts = [
        lambda: local_repo.write_stream("escape/new.txt", [b"evil"]),
        lambda: local_repo.write_stream("secret-link.txt", [b"evil"]),
        lambda: local_repo.log_artifact(upload, "escape"),
        lambda: local_repo.log_artifact(upload, "escape/deeper"),
        lambda: local_repo.open_read("escape/secret.txt"),
        lambda: local_repo.open_read("secret-link.txt"),
        lambda: local_repo.download_artifacts("escape/secret.txt", tmp_path),
        lambda: local_repo.download_artifacts("escape", tmp_path),
        lambda: local_repo.list_artifacts("escape"),
        lambda: local_repo.delete_artifacts("escape/secret.txt"),
        lambda: local_repo.delete_artifacts("escape"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidParameterValue):
            attempt()

    assert _snapshot(outside) == before
    assert not (tmp_path / "escape").exists()


def test_escaping_symlinks_are_hidden_from_listing_and_download(
    local_repo: LocalArtifactRepository, outside: Path, tmp_path: Path
) -> None:
    local_repo.write_stream("d/ok.txt", [b"ok"])
    (local_repo.root / "d" / "escape").symlink_to(outside)
    (local_repo.root / "d" / "secret-link.txt").symlink_to(outside / "secret.txt")

    assert local_repo.list_artifacts("d") == [FileInfo("d/ok.txt", False, 2)]

    dst = tmp_path / "dst"
    dst.mkdir()
    copied = Path(local_repo.download_artifacts("d", dst))
    assert sorted(p.name for p in copied.rglob("*")) == ["ok.txt"]
    copied_root = Path(local_repo.download_artifacts("", dst))
    assert "secret" not in "".join(p.read_text() for p in copied_root.rglob("*") if p.is_file())


def test_symlink_loop_inside_root_does_not_hang_download(
    local_repo: LocalArtifactRepository, tmp_path: Path
) -> None:
    local_repo.write_stream("d/ok.txt", [b"ok"])
    (local_repo.root / "d" / "loop").symlink_to(local_repo.root / "d")
    dst = tmp_path / "dst"
    dst.mkdir()
    copied = Path(local_repo.download_artifacts("d", dst))
    assert (copied / "ok.txt").read_bytes() == b"ok"


def test_deleting_an_inside_symlink_keeps_its_target(local_repo: LocalArtifactRepository) -> None:
    local_repo.write_stream("real/kept.txt", [b"kept"])
    (local_repo.root / "alias").symlink_to(local_repo.root / "real")
    local_repo.delete_artifacts("alias")
    assert not (local_repo.root / "alias").exists()
    assert (local_repo.root / "real" / "kept.txt").read_bytes() == b"kept"


def test_empty_directories_are_uploaded_and_listed(
    local_repo: LocalArtifactRepository, source_tree: Path
) -> None:
    local_repo.log_artifacts(source_tree, "m")
    assert FileInfo("m/empty", True, None) in local_repo.list_artifacts("m")


def test_uploads_in_progress_are_invisible(local_repo: LocalArtifactRepository) -> None:
    local_repo.write_stream("d/done.txt", [b"done"])
    (local_repo.root / "d" / f"{TEMP_UPLOAD_PREFIX}abc").write_bytes(b"half")
    assert local_repo.list_artifacts("d") == [FileInfo("d/done.txt", False, 4)]


def test_failed_write_leaves_no_temporary_file(local_repo: LocalArtifactRepository) -> None:
    def chunks() -> object:
        yield b"x"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        local_repo.write_stream("d/f.bin", chunks())  # type: ignore[arg-type]
    assert [p.name for p in (local_repo.root / "d").iterdir()] == []


def test_streamed_files_get_ordinary_permissions(local_repo: LocalArtifactRepository) -> None:
    local_repo.write_stream("f.txt", [b"x"])
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((local_repo.root / "f.txt").stat().st_mode)
    assert mode == 0o666 & ~mask


def test_log_artifact_keeps_file_mode(local_repo: LocalArtifactRepository, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    local_repo.log_artifact(script)
    assert stat.S_IMODE((local_repo.root / "run.sh").stat().st_mode) == 0o755


def test_logging_a_stored_file_onto_itself_keeps_it(local_repo: LocalArtifactRepository) -> None:
    local_repo.write_stream("a.txt", [b"content"])
    local_repo.log_artifact(local_repo.root / "a.txt")
    assert (local_repo.root / "a.txt").read_bytes() == b"content"


def test_file_uris(tmp_path: Path) -> None:
    spaced = tmp_path / "with space"
    assert local_path_of_uri(f"file://{tmp_path}/with%20space") == spaced
    assert local_path_of_uri(f"file://localhost{tmp_path}") == tmp_path
    assert local_path_of_uri(str(spaced)) == spaced
    with pytest.raises(InvalidParameterValue, match="remote host"):
        local_path_of_uri("file://otherhost/data")

    repo = LocalArtifactRepository(f"file://{tmp_path}/with%20space")
    repo.write_stream("a.txt", [b"x"])
    assert (spaced / "a.txt").read_bytes() == b"x"


def test_relative_root_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = LocalArtifactRepository("mlruns/0/abc/artifacts")
    monkeypatch.chdir(tmp_path.parent)
    repo.write_stream("a.txt", [b"x"])
    assert (tmp_path / "mlruns" / "0" / "abc" / "artifacts" / "a.txt").read_bytes() == b"x"
