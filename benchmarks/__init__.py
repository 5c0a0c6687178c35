"""Cairn's benchmark suite: ``python -m benchmarks`` runs every workload beside MLflow."""
