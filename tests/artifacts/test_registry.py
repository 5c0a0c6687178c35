"""Which repository serves which artifact URI, and that backends load only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cairn.artifacts.fsspec_store import FsspecArtifactRepository
from cairn.artifacts.local import LocalArtifactRepository
from cairn.artifacts.registry import get_artifact_repository, supported_schemes
from cairn.exceptions import InvalidParameterValue


def test_local_paths_and_file_uris(tmp_path: Path) -> None:
    for uri in [str(tmp_path), f"file://{tmp_path}", "relative/dir"]:
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.artifact_uri == uri


def test_memory_uri_uses_fsspec() -> None:
    repo = get_artifact_repository("memory://cairn-registry-test/root")
    assert isinstance(repo, FsspecArtifactRepository)
    assert repo.list_artifacts() == []


@pytest.mark.parametrize("uri", ["ftp://host/x", "unknown-scheme://x", "dbfs:/x"])
def test_unknown_scheme_is_named_in_the_error(uri: str) -> None:
    scheme = uri.split(":", 1)[0]
    with pytest.raises(InvalidParameterValue, match=f"'{scheme}'"):
        get_artifact_repository(uri)


def test_every_required_scheme_is_registered() -> None:
    expected = {"file", "mlflow-artifacts", "http", "https", "s3", "gs", "gcs", "az"}
    expected |= {"abfs", "abfss", "wasbs", "hdfs", "memory"}
    assert expected <= set(supported_schemes())


def test_missing_driver_is_reported_as_mlflow_error() -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed, so the driver is not missing")
    from cairn.exceptions import MlflowException

    with pytest.raises(MlflowException, match="s3"):
        get_artifact_repository("s3://bucket/prefix")


def test_importing_artifacts_loads_no_backend_dependency() -> None:
    code = (
        "import sys, cairn.artifacts, cairn.artifacts.payloads; "
        "heavy = {'fsspec', 'numpy', 'PIL', 'pandas', 'matplotlib', 'requests'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
