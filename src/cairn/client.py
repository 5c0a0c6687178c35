"""MLflow's ``mlflow.client`` module: ``from cairn.client import MlflowClient``."""

from cairn.tracking.client import MlflowClient

__all__ = ["MlflowClient"]
