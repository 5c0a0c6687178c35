"""The ``cairn`` command line: one click group, with a module per command group.

Every command reports failures as a single ``Error: ...`` line on stderr and a
non-zero exit status (see ``cairn.cli.errors``).
"""

from __future__ import annotations

import click

import cairn
from cairn.cli.artifacts import artifacts
from cairn.cli.db import db
from cairn.cli.errors import CairnGroup
from cairn.cli.experiments import experiments
from cairn.cli.gc import gc
from cairn.cli.runs import runs
from cairn.cli.server import server, ui
from cairn.cli.sync import sync


@click.group(cls=CairnGroup)
@click.version_option(cairn.__version__, prog_name="cairn")
def main() -> None:
    """Cairn: an ML experiment tracker compatible with MLflow Tracking.

    Commands that read or change runs use the tracking URI in CAIRN_TRACKING_URI (or
    MLFLOW_TRACKING_URI), and ./mlruns when neither is set.
    """


for _command in (experiments, runs, artifacts, db, gc, server, ui, sync):
    main.add_command(_command)

__all__ = ["main"]
