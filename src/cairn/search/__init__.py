"""MLflow's search grammar: parsed once (grammar), evaluated in Python (evaluate) or SQL (sql)."""
