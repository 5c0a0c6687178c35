"""``python -m benchmarks [--quick] [--only W1,W3] [--no-mlflow]``."""

from benchmarks.run_all import main

raise SystemExit(main())
