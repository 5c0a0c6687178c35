"""A 200 MiB artifact through the proxy: the bytes round-trip and the server's memory
stays flat, because uploads and downloads stream in chunks instead of being buffered.

The server runs with one worker, so uvicorn serves in the process that was started and
its peak resident memory (``VmHWM``) is the server's own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.artifacts.http import HttpArtifactRepository
from server.live import (
    LiveServer,
    peak_rss_bytes,
    running_server,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]

MIB = 1024 * 1024
SIZE_MIB = int(os.environ.get("CAIRN_TEST_LARGE_ARTIFACT_MIB", "200"))
# Far below the file's size: a server holding the body whole would grow by 200 MiB or more.
MAX_SERVER_GROWTH = 64 * MIB


@pytest.fixture
def proxy_server(tmp_path: Path) -> Iterator[LiveServer]:
    root = tmp_path / "server"
    root.mkdir()
    with running_server(root) as server:
        yield server


def _write_big_file(path: Path, size_mib: int) -> str:
    """A file of distinct megabytes (so a reordered or repeated chunk changes the hash);
    returns its sha256."""
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for i in range(size_mib):
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _sha256_of_stream(repository: HttpArtifactRepository, path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with repository.open_read(path) as stream:
        while chunk := stream.read(MIB):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def test_large_upload_and_download_stream_through_the_proxy(
    proxy_server: LiveServer, tmp_path: Path
) -> None:
    repository = HttpArtifactRepository(
        f"{proxy_server.url}/api/2.0/mlflow-artifacts/artifacts/big"
    )
    # warm up: the first request loads the code paths whose memory is not the body's
    warm = tmp_path / "warm.bin"
    warm.write_bytes(os.urandom(4 * MIB))
    repository.log_artifact(warm)
    _sha256_of_stream(repository, "warm.bin")
    before = peak_rss_bytes(proxy_server.process.pid)

    source = tmp_path / "huge.bin"
    expected = _write_big_file(source, SIZE_MIB)
    repository.log_artifact(source, "data")
    stored = proxy_server.artifacts / "big" / "data" / "huge.bin"
    assert stored.stat().st_size == SIZE_MIB * MIB
    after_upload = peak_rss_bytes(proxy_server.process.pid)

    assert _sha256_of_stream(repository, "data/huge.bin") == (expected, SIZE_MIB * MIB)
    downloaded = repository.download_artifacts("data/huge.bin", str(tmp_path))
    with open(downloaded, "rb") as copy:
        assert hashlib.file_digest(copy, "sha256").hexdigest() == expected
    after_download = peak_rss_bytes(proxy_server.process.pid)

    print(
        f"\nserver peak RSS: {before / MIB:.0f} MiB before, {after_upload / MIB:.0f} MiB after "
        f"a {SIZE_MIB} MiB upload, {after_download / MIB:.0f} MiB after two downloads"
    )
    assert after_upload - before < MAX_SERVER_GROWTH
    assert after_download - before < MAX_SERVER_GROWTH
