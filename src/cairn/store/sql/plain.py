"""The hot statements, compiled once per database and run on the driver's cursor.

SQLAlchemy's execution machinery (execution context, events, result rows) costs
30-40 us a statement, more than SQLite takes to run a one-row insert, and a run that
is created, logged to and ended issues about fifteen statements. The statements
here are ordinary Core statements: compiled once per dialect, they run on the DBAPI
cursor of the connection's transaction, and driver errors still surface as
SQLAlchemy's (``IntegrityError``, ``OperationalError``...) so the deadlock retry
and the duplicate checks see what they expect.

Only for statements whose columns need no type processing: strings, integers,
floats and booleans, which every supported driver converts itself. ``IN`` lists are
written out by ``select_in``, not as SQLAlchemy's expanding parameters.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa


class _Compiled(NamedTuple):
    sql: str
    # parameter names in the order a positional paramstyle wants them; None: named
    order: tuple[str, ...] | None


# (statement, dialect, driver, server version, column keys) -> compiled; statements are
# built once (module constants), so this holds a handful of entries
_compiled: dict[tuple[Any, ...], _Compiled] = {}
_row_types: dict[tuple[str, ...], Any] = {}
# (inputs, dialect, driver, server version) -> (SQL, arguments) of fetch_built's statements
_built: dict[tuple[Any, ...], tuple[str, Any]] = {}
_MAX_BUILT = 512


def _compile(conn: sa.Connection, stmt: Any, keys: tuple[str, ...]) -> _Compiled:
    dialect = conn.dialect
    cache_key = (stmt, dialect.name, dialect.driver, dialect.server_version_info, keys)
    found = _compiled.get(cache_key)
    if found is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) or None)
        order = tuple(compiled.positiontup) if compiled.positional else None
        found = _compiled[cache_key] = _Compiled(compiled.string, order)
    return found


def _arguments(compiled: _Compiled, parameters: Mapping[str, Any]) -> Any:
    if compiled.order is None:
        return parameters
    return tuple(parameters[name] for name in compiled.order)


def placeholder(dialect: str) -> str:
    """The driver's positional parameter marker (sqlite3: qmark; psycopg2, PyMySQL: format)."""
    return "?" if dialect == "sqlite" else "%s"


def run_sql(
    conn: sa.Connection, sql: str, arguments: Any, *, many: bool = False, fetch: bool = False
) -> Any:
    """Run SQL in the driver's paramstyle: ``(description, rows)`` if ``fetch``, else the
    row count.

    ``many``: ``arguments`` is a list of parameter sets, one execution each.
    """
    cursor = conn.connection.cursor()
    dbapi_error = conn.dialect.loaded_dbapi.Error
    before = conn.dispatch.before_cursor_execute
    if before:  # listeners still see every statement (tests count them)
        before(conn, cursor, sql, arguments, None, many)
    try:
        if many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
        if fetch:
            return cursor.description, cursor.fetchall()
        return cursor.rowcount
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(sql, arguments, error, dbapi_error) from error
    finally:
        cursor.close()


def _named_rows(description: Any, rows: list[Any]) -> list[Any]:
    names = tuple(column[0] for column in description)
    row_type: Any = _row_types.get(names)
    if row_type is None:
        row_type = _row_types[names] = namedtuple("Row", names)
    return list(map(row_type._make, rows))


def fetch(conn: sa.Connection, stmt: Any, parameters: Mapping[str, Any]) -> list[Any]:
    """The rows of a select, as named tuples (``row.column`` works as on Core rows)."""
    compiled = _compile(conn, stmt, ())
    description, rows = run_sql(conn, compiled.sql, _arguments(compiled, parameters), fetch=True)
    return _named_rows(description, rows)


def fetch_built(conn: sa.Connection, inputs: Hashable, build: Callable[[], Any]) -> list[Any]:
    """The rows of the select ``build()`` makes, as named tuples, where ``build`` depends
    on nothing but ``inputs``: its SQL and arguments are kept by ``inputs``.

    For statements too varied to be module constants, such as a search (filter, order,
    page, experiments). Building and compiling one with SQLAlchemy costs about as much
    as the database takes to answer it, and the same one comes again and again: a UI
    polling a runs table, a script paging through results.
    """
    dialect = conn.dialect
    key = (inputs, dialect.name, dialect.driver, dialect.server_version_info)
    found = _built.get(key)
    if found is None:
        # IN lists written out as one parameter each, so the SQL takes plain arguments
        compiled = build().compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.construct_params()
        arguments = (
            tuple(values[name] for name in compiled.positiontup or ())
            if compiled.positional
            else values
        )
        if len(_built) >= _MAX_BUILT:
            _built.clear()
        found = _built[key] = (compiled.string, arguments)
    sql, arguments = found
    description, rows = run_sql(conn, sql, arguments, fetch=True)
    return _named_rows(description, rows)


def execute(conn: sa.Connection, stmt: Any, parameters: Mapping[str, Any]) -> int:
    """Run an insert, update or delete with one set of parameters; the rows it touched.

    For an insert or update the keys of ``parameters`` name the columns written.
    """
    compiled = _compile(conn, stmt, tuple(parameters))
    count: int = run_sql(conn, compiled.sql, _arguments(compiled, parameters))
    return count


def execute_many(conn: sa.Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run an insert once per row; every row has the keys of the first."""
    if rows and conn.dialect.name == "postgresql":
        # psycopg2's executemany is a round trip per row; SQLAlchemy batches them
        conn.execute(stmt, list(rows))
    elif rows:
        compiled = _compile(conn, stmt, tuple(rows[0]))
        arguments = [_arguments(compiled, row) for row in rows]
        run_sql(conn, compiled.sql, arguments, many=True)


def select_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    where_in: tuple[str, Sequence[Any]],
    order_by: Sequence[str] = (),
    where_equal: Mapping[str, Any] | None = None,
) -> list[Any]:
    """``SELECT columns FROM table WHERE [column = value AND ...] column IN (values)``, as
    the driver's tuples.

    What loading a page of runs reads from each child table: thousands of rows, for
    which SQLAlchemy's expanding parameter and result rows cost more than the query.
    """
    quote = conn.dialect.identifier_preparer.quote
    mark = placeholder(conn.dialect.name)
    equal = where_equal or {}
    column, values = where_in
    conditions = [f"{quote(name)} = {mark}" for name in equal]
    conditions.append(f"{quote(column)} IN ({', '.join([mark] * len(values))})")
    sql = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(table.name)}"
        f" WHERE {' AND '.join(conditions)}"
    )
    if order_by:
        sql += f" ORDER BY {', '.join(map(quote, order_by))}"
    _, rows = run_sql(conn, sql, (*equal.values(), *values), fetch=True)
    return list(rows)
