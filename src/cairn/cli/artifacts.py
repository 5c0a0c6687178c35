"""``cairn artifacts``: list, download and upload the files of a run."""

from __future__ import annotations

import os
import posixpath
from urllib.parse import urlparse, urlunparse

import click

from cairn.cli.output import echo_json
from cairn.tracking.client import MlflowClient

_RUN_ID_HELP = "Id of the run."


@click.group("artifacts")
def artifacts() -> None:
    """List, download and upload run artifacts.

    The tracking store is CAIRN_TRACKING_URI (or MLFLOW_TRACKING_URI), else ./mlruns.
    """


@artifacts.command("list")
@click.option("-r", "--run-id", required=True, help=_RUN_ID_HELP)
@click.option("-a", "--artifact-path", default=None, help="A directory inside the run's artifacts.")
def list_artifacts(run_id: str, artifact_path: str | None) -> None:
    """Print, as JSON, the files and directories directly under a run's artifact path."""
    infos = MlflowClient().list_artifacts(run_id, artifact_path)
    echo_json([{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size} for f in infos])


@artifacts.command("download")
@click.option("-r", "--run-id", default=None, help=_RUN_ID_HELP)
@click.option(
    "-a", "--artifact-path", default=None, help="With --run-id: a file or directory to download."
)
@click.option(
    "-u",
    "--artifact-uri",
    default=None,
    help="URI of an artifact file or directory; instead of --run-id and --artifact-path.",
)
@click.option(
    "-d",
    "--dst-path",
    default=None,
    help="Local directory to download into (created if missing); a new temporary "
    "directory when omitted.",
)
def download(
    run_id: str | None, artifact_path: str | None, artifact_uri: str | None, dst_path: str | None
) -> None:
    """Download an artifact file or directory and print where it landed locally."""
    if (run_id is None) == (artifact_uri is None):
        raise click.UsageError("Give exactly one of --run-id or --artifact-uri.")
    if artifact_uri is not None and artifact_path is not None:
        raise click.UsageError("--artifact-path goes with --run-id, not --artifact-uri.")
    if dst_path:
        os.makedirs(dst_path, exist_ok=True)
    if run_id is not None:
        local = MlflowClient().download_artifacts(run_id, artifact_path or "", dst_path)
    else:
        assert artifact_uri is not None
        from cairn.artifacts.registry import get_artifact_repository

        root, path = _split_artifact_uri(artifact_uri)
        local = get_artifact_repository(root).download_artifacts(path, dst_path)
    click.echo(local)


@artifacts.command("log-artifact")
@click.option("-l", "--local-file", required=True, help="Local file to upload.")
@click.option("-r", "--run-id", required=True, help=_RUN_ID_HELP)
@click.option(
    "-a", "--artifact-path", default=None, help="Directory inside the run's artifacts to put it in."
)
def log_artifact(local_file: str, run_id: str, artifact_path: str | None) -> None:
    """Upload a local file (or directory) into a run's artifacts."""
    if not os.path.exists(local_file):
        raise click.BadParameter(f"no such file: {local_file}", param_hint="'--local-file'")
    MlflowClient().log_artifact(run_id, local_file, artifact_path)
    where = f"'{artifact_path}'" if artifact_path else "the artifact root"
    click.echo(f"Logged artifact from local file {local_file} to {where} of run {run_id}.")


def _split_artifact_uri(uri: str) -> tuple[str, str]:
    """``s3://b/run/artifacts/model.pkl`` -> (``s3://b/run/artifacts``, ``model.pkl``).

    The repository is opened on the parent so that a single file can be downloaded too.
    """
    parsed = urlparse(uri)
    path = parsed.path.rstrip("/")
    parent, name = posixpath.split(path)
    if not name:
        return uri, ""
    return urlunparse(parsed._replace(path=parent or ".")), name
