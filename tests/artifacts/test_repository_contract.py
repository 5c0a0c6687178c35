"""Behaviour every artifact repository shows, run against a local directory and memory://."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.artifacts.repository import TEMP_UPLOAD_PREFIX, ArtifactRepository
from cairn.entities import FileInfo
from cairn.exceptions import (
    ErrorCode,
    InvalidParameterValue,
    MlflowException,
    ResourceDoesNotExist,
)


def _read(repo: ArtifactRepository, path: str) -> bytes:
    with repo.open_read(path) as stream:
        return stream.read()


def _file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_satisfies_protocol(repo: ArtifactRepository) -> None:
    assert isinstance(repo, ArtifactRepository)


def test_empty_repository_lists_nothing(repo: ArtifactRepository) -> None:
    assert repo.list_artifacts() == []
    assert repo.list_artifacts("missing/dir") == []


def test_log_artifact_at_root_and_in_nested_directory(
    repo: ArtifactRepository, tmp_path: Path
) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"))
    repo.log_artifact(_file(tmp_path, "b.txt", b"beta!"), "x/y")

    assert repo.list_artifacts() == [
        FileInfo("a.txt", False, 5),
        FileInfo("x", True, None),
    ]
    assert repo.list_artifacts("x") == [FileInfo("x/y", True, None)]
    assert repo.list_artifacts("x/y") == [FileInfo("x/y/b.txt", False, 5)]
    assert _read(repo, "x/y/b.txt") == b"beta!"


def test_log_artifact_replaces_existing_file(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"first version"))
    repo.log_artifact(_file(tmp_path, "a.txt", b"second"))
    assert _read(repo, "a.txt") == b"second"
    assert repo.list_artifacts() == [FileInfo("a.txt", False, 6)]


def test_log_artifact_of_missing_local_file_writes_nothing(
    repo: ArtifactRepository, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        repo.log_artifact(tmp_path / "nope.txt", "dir")
    assert repo.list_artifacts("dir") == []


def test_log_artifacts_copies_whole_tree(repo: ArtifactRepository, source_tree: Path) -> None:
    repo.log_artifacts(source_tree, "model")

    # object stores cannot hold an empty directory, so "model/empty" is not required
    listing = [i for i in repo.list_artifacts("model") if i.path != "model/empty"]
    assert listing == [FileInfo("model/sub", True, None), FileInfo("model/top.txt", False, 3)]
    assert repo.list_artifacts("model/sub") == [
        FileInfo("model/sub/deeper", True, None),
        FileInfo("model/sub/mid.bin", False, 1024),
    ]
    assert _read(repo, "model/sub/deeper/leaf.json") == b'{"a": 1}'
    assert _read(repo, "model/sub/mid.bin") == bytes(range(256)) * 4


def test_log_artifacts_at_root(repo: ArtifactRepository, source_tree: Path) -> None:
    repo.log_artifacts(source_tree)
    assert _read(repo, "top.txt") == b"top"
    assert "sub" in {info.path for info in repo.list_artifacts()}


def test_log_artifacts_of_missing_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        repo.log_artifacts(tmp_path / "nope")
    assert repo.list_artifacts() == []


def test_listing_a_file_is_empty(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"))
    assert repo.list_artifacts("a.txt") == []


def test_listing_is_sorted_and_normalises_the_path(
    repo: ArtifactRepository, tmp_path: Path
) -> None:
    for name in ["b.txt", "a.txt", "c.txt"]:
        repo.log_artifact(_file(tmp_path, name, b"x"), "d")
    expected = [FileInfo(f"d/{n}", False, 1) for n in ["a.txt", "b.txt", "c.txt"]]
    assert repo.list_artifacts("d") == expected
    assert repo.list_artifacts("d/") == expected
    assert repo.list_artifacts("./d") == expected


def test_download_file_to_given_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"), "x/y")
    dst = tmp_path / "dst"
    dst.mkdir()

    local = repo.download_artifacts("x/y/a.txt", dst)

    assert Path(local) == dst / "x" / "y" / "a.txt"
    assert Path(local).read_bytes() == b"alpha"


def test_download_file_to_new_temporary_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"))
    local = Path(repo.download_artifacts("a.txt"))
    assert local.read_bytes() == b"alpha"
    assert local.name == "a.txt"
    # a copy, never the stored file itself: changing it leaves the artifact intact
    local.write_bytes(b"changed")
    assert _read(repo, "a.txt") == b"alpha"


def test_download_directory(repo: ArtifactRepository, source_tree: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source_tree, "model")
    dst = tmp_path / "dst"
    dst.mkdir()

    local = Path(repo.download_artifacts("model/sub", dst))

    assert local == dst / "model" / "sub"
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*")) == [
        "deeper",
        "deeper/leaf.json",
        "mid.bin",
    ]
    assert (local / "mid.bin").read_bytes() == bytes(range(256)) * 4


def test_download_root(repo: ArtifactRepository, source_tree: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source_tree)
    dst = tmp_path / "dst"
    dst.mkdir()
    local = Path(repo.download_artifacts("", dst))
    assert local == dst
    assert (local / "top.txt").read_text() == "top"
    assert (local / "sub" / "deeper" / "leaf.json").read_text() == '{"a": 1}'


def test_download_root_of_empty_repository(repo: ArtifactRepository, tmp_path: Path) -> None:
    local = Path(repo.download_artifacts(""))
    assert local.is_dir()
    assert list(local.iterdir()) == []


def test_download_missing_artifact(repo: ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(ResourceDoesNotExist, match="No such artifact") as info:
        repo.download_artifacts("missing.txt", tmp_path)
    assert info.value.error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert info.value.get_http_status_code() == 404


def test_download_to_missing_or_non_directory_destination(
    repo: ArtifactRepository, tmp_path: Path
) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"))
    with pytest.raises(ResourceDoesNotExist):
        repo.download_artifacts("a.txt", tmp_path / "does-not-exist")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(InvalidParameterValue):
        repo.download_artifacts("a.txt", not_a_dir)
    assert not (tmp_path / "does-not-exist").exists()


def test_delete_file_directory_and_missing(repo: ArtifactRepository, source_tree: Path) -> None:
    repo.log_artifacts(source_tree, "m")
    repo.delete_artifacts("m/top.txt")
    assert "m/top.txt" not in {i.path for i in repo.list_artifacts("m")}
    repo.delete_artifacts("m/sub")
    assert repo.list_artifacts("m/sub") == []
    with pytest.raises(ResourceDoesNotExist):
        repo.download_artifacts("m/sub/mid.bin")
    repo.delete_artifacts("never/existed")  # no error


def test_delete_everything(repo: ArtifactRepository, source_tree: Path) -> None:
    repo.log_artifacts(source_tree)
    repo.delete_artifacts()
    assert repo.list_artifacts() == []


def test_open_read_streams_content(repo: ArtifactRepository, tmp_path: Path) -> None:
    content = bytes(range(256)) * 5000
    repo.log_artifact(_file(tmp_path, "big.bin", content), "d")
    with repo.open_read("d/big.bin") as stream:
        pieces = iter(lambda: stream.read(65536), b"")
        assert b"".join(pieces) == content


def test_open_read_of_missing_file_or_directory(repo: ArtifactRepository, tmp_path: Path) -> None:
    repo.log_artifact(_file(tmp_path, "a.txt", b"alpha"), "d")
    with pytest.raises(ResourceDoesNotExist):
        repo.open_read("d/missing.txt")
    with pytest.raises(InvalidParameterValue):
        repo.open_read("d")
    with pytest.raises(InvalidParameterValue):
        repo.open_read("")


def test_write_stream_creates_nested_file(repo: ArtifactRepository) -> None:
    written = repo.write_stream("a/b/c.bin", [b"one", b"", b"two", b"three"])
    assert written == 11
    assert _read(repo, "a/b/c.bin") == b"onetwothree"
    assert repo.list_artifacts("a/b") == [FileInfo("a/b/c.bin", False, 11)]


def test_write_stream_accepts_a_generator(repo: ArtifactRepository) -> None:
    source = io.BytesIO(b"z" * 300_000)
    written = repo.write_stream("z.bin", iter(lambda: source.read(4096), b""))
    assert written == 300_000
    assert repo.list_artifacts() == [FileInfo("z.bin", False, 300_000)]


def _broken_upload() -> Iterator[bytes]:
    yield b"partial data"
    raise ConnectionResetError("client went away")


def test_broken_stream_leaves_nothing(repo: ArtifactRepository) -> None:
    with pytest.raises(ConnectionResetError):
        repo.write_stream("d/new.bin", _broken_upload())
    assert repo.list_artifacts("d") == []
    with pytest.raises(ResourceDoesNotExist):
        repo.open_read("d/new.bin")


def test_broken_stream_keeps_previous_version(repo: ArtifactRepository) -> None:
    repo.write_stream("d/file.bin", [b"good old content"])
    with pytest.raises(ConnectionResetError):
        repo.write_stream("d/file.bin", _broken_upload())
    assert _read(repo, "d/file.bin") == b"good old content"
    assert repo.list_artifacts("d") == [FileInfo("d/file.bin", False, 16)]


def test_write_stream_onto_a_directory_is_refused(repo: ArtifactRepository) -> None:
    repo.write_stream("d/inner.txt", [b"x"])
    with pytest.raises(InvalidParameterValue):
        repo.write_stream("d", [b"y"])
    assert _read(repo, "d/inner.txt") == b"x"


def test_write_below_a_file_is_refused(repo: ArtifactRepository) -> None:
    repo.write_stream("f.txt", [b"x"])
    with pytest.raises(InvalidParameterValue):
        repo.write_stream("f.txt/inner.txt", [b"y"])
    assert _read(repo, "f.txt") == b"x"


def test_reserved_upload_names_are_refused(repo: ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="reserved"):
        repo.write_stream(f"d/{TEMP_UPLOAD_PREFIX}x", [b"y"])
    with pytest.raises(InvalidParameterValue, match="reserved"):
        repo.log_artifact(_file(tmp_path, f"{TEMP_UPLOAD_PREFIX}x", b"y"))
    assert repo.list_artifacts() == []


ESCAPES = [
    "../outside.txt",
    "../../outside.txt",
    "a/../../outside.txt",
    "a/../b.txt",
    "/etc/passwd",
    "//server/share/x",
    "..\\outside.txt",
    "a\\..\\..\\outside.txt",
    "C:\\outside.txt",
    "C:outside.txt",
    "a\x00b.txt",
    "..",
]


@pytest.mark.parametrize("bad", ESCAPES)
def test_escaping_paths_are_refused_everywhere(
    repo: ArtifactRepository, tmp_path: Path, bad: str
) -> None:
    upload = _file(tmp_path, "ok.txt", b"payload")
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))

    calls = [
        lambda: repo.write_stream(bad, [b"evil"]),
        lambda: repo.log_artifact(upload, bad),
        lambda: repo.log_artifacts(upload.parent, bad),
        lambda: repo.list_artifacts(bad),
        lambda: repo.download_artifacts(bad, tmp_path),
        lambda: repo.open_read(bad),
        lambda: repo.delete_artifacts(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidParameterValue) as info:
            call()
        assert info.value.error_code is ErrorCode.INVALID_PARAMETER_VALUE
        assert info.value.get_http_status_code() == 400

    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before
    assert not (tmp_path.parent / "outside.txt").exists()  # where "../../" would land
    assert repo.list_artifacts() == []


def test_error_is_an_mlflow_exception(repo: ArtifactRepository) -> None:
    with pytest.raises(MlflowException):
        repo.open_read("../x")
