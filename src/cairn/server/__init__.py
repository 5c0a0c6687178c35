"""The tracking server: MLflow's REST API and artifact proxy over any tracking store."""

from cairn.server.app import ServerConfig, create_app, serve

__all__ = ["ServerConfig", "create_app", "serve"]
