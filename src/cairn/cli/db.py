"""``cairn db``: manage the schema of a SQL tracking database."""

from __future__ import annotations

import click

from cairn.cli.errors import one_line


@click.group("db")
def db() -> None:
    """Manage the schema of a SQL tracking database."""


@db.command("upgrade")
@click.argument("url")
def upgrade(url: str) -> None:
    """Upgrade the schema of the tracking database at URL to the latest version.

    Back up the database first: a migration of a large database can take a while and
    some databases (MySQL) cannot roll back schema changes if it fails halfway.
    """
    import sqlalchemy as sa

    from cairn.store.sql.migrate import upgrade as upgrade_schema

    try:
        upgrade_schema(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise click.BadParameter(f"not a database URL: {exc}", param_hint="'URL'") from None
    except sa.exc.DBAPIError as exc:
        # The driver's own message (e.g. "could not connect") says more than SQLAlchemy's wrapper.
        raise click.ClickException(
            "Could not upgrade the database: " + one_line(str(exc.orig))
        ) from None
    click.echo("The tracking database schema is up to date.")
