"""MLflow's ``mlflow.tracking`` module: the client and the tracking-URI functions.

``cairn.tracking.MlflowClient()`` works as in MLflow. Importing this package stays light:
the store behind a URI is loaded on first use, pandas only when a DataFrame is asked for.
"""

from cairn.tracking.client import MlflowClient
from cairn.tracking.uri import (
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_registry_uri,
    set_tracking_uri,
)

__all__ = [
    "MlflowClient",
    "get_registry_uri",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "set_tracking_uri",
]
