"""``cairn sync``: send what offline journals hold to their tracking servers.

When a training process could not reach its ``http(s)://`` tracking server, it kept
what it logged in a local journal (``cairn.store.journal``). Processes replay their own
journal once the server answers; ``cairn sync`` does it for a process that has ended.
"""

from __future__ import annotations

import sys

import click

from cairn.store.journal import Journal, journal_base_dir, journal_dir_for
from cairn.store.registry import create_tracking_store


@click.command("sync")
@click.option(
    "--tracking-uri",
    default=None,
    help="Replay only the journal of this server (http://... or https://...). "
    "Without it, every journal found is replayed to the server it was written for.",
)
def sync(tracking_uri: str | None) -> None:
    """Replay offline journals to their tracking servers, in order, exactly once.

    Credentials come from CAIRN_TRACKING_USERNAME/PASSWORD/TOKEN, as for logging. A
    batch the server refuses stops the replay of its journal with an error; the batch
    and those after it stay in the journal.
    """
    if tracking_uri is not None:
        journals = [(tracking_uri, Journal(journal_dir_for(tracking_uri), tracking_uri))]
    else:
        base = journal_base_dir()
        journals = []
        for directory in sorted(base.iterdir()) if base.is_dir() else []:
            journal = Journal(directory)
            uri = journal.tracking_uri
            if uri is not None and (directory / "batches.jsonl").exists():
                journals.append((uri, journal))
    pending = [(uri, journal) for uri, journal in journals if len(journal)]
    if not pending:
        click.echo("Nothing to sync: no journal holds pending batches.")
        return
    for uri, journal in pending:
        count = len(journal)
        # an outage of hours journals tens of thousands of batches: say how far it is
        with click.progressbar(length=count, label=f"Replaying to {uri}", file=sys.stderr) as bar:
            sent = journal.replay(create_tracking_store(uri), on_batch=bar.update)
        click.echo(
            f"{uri}: sent {sent} of {count} journaled batch{'es' if count != 1 else ''} "
            f"({count - sent} found already applied)."
        )


__all__ = ["sync"]
