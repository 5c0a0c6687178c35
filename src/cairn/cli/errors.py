"""How the ``cairn`` command reports failures: one ``Error: ...`` line, never a traceback.

Every command runs inside ``CairnGroup.invoke``, so this is the one place where an
exception becomes what the user sees. Click's own usage errors keep click's format.
"""

from __future__ import annotations

from typing import Any

import click

from cairn.exceptions import MlflowException


class CairnGroup(click.Group):
    """A click group that turns any failure of a subcommand into a one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except MlflowException as exc:
            raise click.ClickException(one_line(exc.message)) from None
        except OSError as exc:
            # e.g. a missing --local-file: the OS message names the file, which is enough
            raise click.ClickException(one_line(str(exc))) from None
        except Exception as exc:
            # A bug rather than bad input; still no traceback for the user, but say what broke.
            raise click.ClickException(
                one_line(f"unexpected {type(exc).__name__}: {exc}")
            ) from None


def one_line(message: str) -> str:
    # Store messages sometimes embed newlines (SQL statements); keep the report to one line.
    return " ".join(str(message).split())
