"""The tracking store on SQL databases (SQLite, PostgreSQL, MySQL/MariaDB).

``store.SqlStore`` is the entry point; ``migrate.upgrade(uri)`` brings an older database
up to date (``cairn db upgrade URI``). Importing this package loads SQLAlchemy.
"""
