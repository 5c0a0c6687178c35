"""The ``mlruns`` directory store, file-compatible with MLflow's (see ``layout``)."""
