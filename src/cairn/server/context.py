"""What a request handler can reach: the tracking store and the artifact destination."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from cairn.artifacts.local import clean_artifact_path
from cairn.artifacts.registry import get_artifact_repository
from cairn.artifacts.repository import ArtifactRepository
from cairn.exceptions import EndpointNotFound
from cairn.server.idempotency import AnswerKeeper
from cairn.store.tracking import TrackingStore

PROXY_SCHEME = "mlflow-artifacts"


@dataclass
class ServerContext:
    """The server's shared state, built once per process by ``create_app``.

    ``store`` is None on an artifacts-only server; ``artifacts_destination`` is None
    when the server does not proxy artifacts; ``answers`` keeps the answers of writes sent
    with an ``Idempotency-Key`` (``cairn.server.idempotency``).
    """

    store: TrackingStore | None
    artifacts_destination: str | None
    answers: AnswerKeeper

    def tracking_store(self) -> TrackingStore:
        if self.store is None:
            raise EndpointNotFound("This server only serves artifacts (--artifacts-only).")
        return self.store

    def destination_repository(self, path: str | None = None) -> ArtifactRepository:
        """The repository over the proxy destination, or the sub-tree ``path`` of it."""
        if self.artifacts_destination is None:
            raise EndpointNotFound(
                "This server does not serve artifacts (it runs with --no-serve-artifacts)."
            )
        clean = clean_artifact_path(path)
        root = self.artifacts_destination.rstrip("/")
        return get_artifact_repository(f"{root}/{clean}" if clean else self.artifacts_destination)

    def run_artifact_repository(self, artifact_uri: str) -> ArtifactRepository:
        """The repository behind a run's artifact URI, read directly rather than over HTTP
        when the URI points at this server's own proxy."""
        if urlparse(artifact_uri).scheme == PROXY_SCHEME and self.artifacts_destination:
            return self.destination_repository(urlparse(artifact_uri).path.lstrip("/"))
        return get_artifact_repository(artifact_uri)
