"""Generic statement primitives: model rows written and read with the least work per row.

`select(model, sql, params)` reads rows of a hand-written statement as model instances;
`insert(obj)` inserts one unsaved model instance with its model's INSERT statement,
compiled once per process; `update(obj, fields)` writes some fields of a saved one the
same way; `write_together(updates=..., inserts=...)` does both for several rows in one
statement; `insert_together(a, b, c)` inserts unsaved instances, in order, as ONE
statement on PostgreSQL (`WITH a AS (INSERT ...), b AS (INSERT ...) SELECT ...`).

Guarantees: several rows written together are written all or nothing, and in autocommit
inserts alone are one round trip with its own commit. Foreign keys between the rows are
fine (Django's are deferred to commit). Elsewhere (SQLite) the rows are written one by
one in one transaction. No `pre_save`/`post_save` signals are sent (so never for a model
with receivers or simple-history), and rows whose primary key the database assigns are
given theirs. Only model metadata (quoted names) goes into a statement's text; every value
is a parameter.

On PostgreSQL statements go with PostgreSQL's own `$1, $2, ...` placeholders through a
psycopg RawCursor (server-side binding: psycopg parses no statement text per call), and a
statement a connection has sent DATABASE_PREPARE_THRESHOLD times (settings) is prepared.
So a statement read by select() names its columns (`column_list(model)`) rather than `*`,
which a prepared statement could not keep once a migration added a column. What each of
these saves is recorded in bench/RESULTS.md ("Statement layer").

Named operations of the domain built on these live with the domain (workflows.statements).
"""

import functools
from collections.abc import Sequence
from contextlib import nullcontext

import psycopg
from django.db import connections, router, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

__all__ = ["column_list", "insert", "insert_together", "select", "update", "write_together"]


def _numbered(sql: str, first: int = 1) -> tuple[str, int]:
    """Django's `%s` placeholders in `sql` as PostgreSQL's `$first, $first+1, ...`, and the
    number of them (the text is Django's compiled statement: no literal `%`)."""
    if "%%" in sql:
        raise ValueError("A literal % in a compiled statement: keep Django's placeholders.")
    parts = sql.split("%s")
    numbered = parts[0]
    for offset, part in enumerate(parts[1:]):
        numbered += f"${first + offset}{part}"
    return numbered, len(parts) - 1


def _cursor(connection):
    """A cursor for statements in the database's own placeholders: on PostgreSQL a psycopg
    RawCursor wrapped as Django wraps its own (errors translated, queries logged when
    DEBUG asks); elsewhere Django's cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = psycopg.RawCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


@functools.cache
def _row_plan(model: type[Model], columns: tuple[str, ...], alias: str) -> tuple[tuple, tuple]:
    """How a row of `columns` becomes a `model` instance, worked out once per model and
    column list: for each concrete field (in the model's order) its column's position, its
    column expression and the converters Django's own queries apply (the backend's, then
    the field's `from_db_value`); and the other columns with their positions."""
    connection = connections[alias]
    position = {name: index for index, name in enumerate(columns)}
    meta = model._meta
    fields = []
    for field in meta.concrete_fields:
        if field.column not in position:
            raise ValueError(f"select() of {meta.label} needs every column: {field.column}.")
        column = field.get_col(meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        fields.append((position[field.column], column, tuple(converters)))
    known = {field.column for field in meta.concrete_fields}
    extras = tuple((name, index) for index, name in enumerate(columns) if name not in known)
    return tuple(fields), extras


@functools.cache
def column_list(model: type[Model], table: str = "") -> str:
    """Every concrete field's column of `model`, quoted, comma-separated, qualified by the
    alias `table` if given: the column list select() needs, named instead of `*`. A
    statement a connection has prepared then survives a migration that adds a column
    (PostgreSQL plans it again), where `*` would fail with "cached plan must not change
    result type" until the connection closes."""
    prefix = f"{table}." if table else ""
    return ", ".join(f'{prefix}"{field.column}"' for field in model._meta.concrete_fields)


def select(model: type[Model], sql: str, params: Sequence) -> list[Model]:
    """The rows `sql` (Django's `%s` placeholders) returns, as `model` instances: every
    concrete field's column is required, converted as Django's own queries convert it,
    and any other column becomes an attribute of that name. What `Model.objects.raw()`
    gives, with the mapping of columns to fields worked out once per model and column list
    instead of per query, and on PostgreSQL without psycopg parsing the statement."""
    connection = connections[router.db_for_read(model)]
    # Parameters adapted as raw() adapts them (SQLite keeps datetimes as Django's text).
    params = [connection.ops.adapt_unknown_value(param) for param in params]
    with _cursor(connection) as cursor:
        cursor.execute(_statement(sql, connection.vendor), params)
        columns = tuple(column[0] for column in cursor.description)
        rows = cursor.fetchall()
    fields, extras = _row_plan(model, columns, connection.alias)
    found = []
    for row in rows:
        values = []
        for index, column, converters in fields:
            value = row[index]
            for converter in converters:
                value = converter(value, column, connection)
            values.append(value)
        obj = model.from_db(connection.alias, None, values)
        for name, index in extras:
            setattr(obj, name, row[index])
        found.append(obj)
    return found


@functools.cache
def _insert_template(
    model: type[Model], returning: bool, alias: str, ignore_conflicts: bool = False
) -> tuple[str, tuple]:
    """The INSERT statement of one `model` row (with RETURNING of its database-assigned key
    if `returning`; skipped without error when it conflicts with a unique constraint if
    `ignore_conflicts`) and the fields its placeholders stand for, compiled by Django once
    per model rather than per row."""
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if not (returning and f is meta.pk))
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    query.insert_values(fields, [model()])
    compiler = query.get_compiler(using=alias)
    if returning:
        compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    if len(params) != len(fields):
        # A database default or a custom placeholder: the text depends on the values.
        raise TypeError(f"{meta.label} rows cannot be inserted from a shared statement.")
    return sql, fields


@functools.cache
def _statement(sql: str, vendor: str) -> str:
    """`sql` (Django's placeholders) as the cursor of _cursor() takes it."""
    return _numbered(sql)[0] if vendor == "postgresql" else sql


def _insert_sql(
    obj: Model, connection, returning: bool, ignore_conflicts: bool = False
) -> tuple[str, list]:
    """The INSERT of `obj` and its parameters, prepared as Django's own INSERT prepares
    them (each field's pre_save, then get_db_prep_save); values are plain, never
    expressions."""
    sql, fields = _insert_template(type(obj), returning, connection.alias, ignore_conflicts)
    return sql, [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def insert(obj: Model, *, ignore_conflicts: bool = False) -> bool:
    """Insert one unsaved object with its model's statement compiled once (see
    _insert_template): like `save(force_insert=True)` without its signals and per-row
    compiling. A refused row fails the caller's transaction as any failed INSERT does;
    with `ignore_conflicts` a row that a unique constraint refuses is skipped instead (no
    savepoint needed, nothing to roll back) and False returned."""
    using = router.db_for_write(type(obj))
    connection = connections[using]
    returning = obj.pk is None
    sql, params = _insert_sql(obj, connection, returning, ignore_conflicts)
    with _cursor(connection) as cursor:
        cursor.execute(_statement(sql, connection.vendor), params)
        if returning:
            row = cursor.fetchone()
            if row is None:  # skipped (ignore_conflicts): RETURNING gave nothing
                return False
            obj.pk = row[0]
        elif cursor.rowcount == 0:
            return False
    obj._state.adding = False
    obj._state.db = using
    return True


@functools.cache
def _update_template(model: type[Model], names: tuple[str, ...], alias: str) -> tuple[str, tuple]:
    """`UPDATE <table> SET <field> = %s, ... WHERE <pk> = %s` for `names` of `model`, and
    the fields its placeholders stand for (the key last); built once per model and fields."""
    connection = connections[alias]
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    return sql, (*fields, meta.pk)


def _update_sql(obj: Model, fields, connection) -> tuple[str, list]:
    """The UPDATE of `fields` of `obj` and its parameters (the key last), prepared as
    Django's own `save(update_fields=...)` prepares them."""
    sql, columns = _update_template(type(obj), tuple(fields), connection.alias)
    return sql, [
        field.get_db_prep_save(field.pre_save(obj, False), connection) for field in columns
    ]


def update(obj: Model, fields: list[str] | tuple[str, ...]) -> None:
    """Write `fields` of a saved object with a statement built once per model and fields:
    like `save(update_fields=fields)` without its signals and per-call compiling (so only
    for models with neither receivers nor simple-history). Raises if no row was updated."""
    using = obj._state.db or router.db_for_write(type(obj))
    connection = connections[using]
    sql, params = _update_sql(obj, fields, connection)
    with _cursor(connection) as cursor:
        cursor.execute(_statement(sql, connection.vendor), params)
        if cursor.rowcount != 1:
            raise type(obj).DoesNotExist(f"No {type(obj).__name__} {obj.pk} to update.")


def insert_together(*objs: Model) -> None:
    """Insert every object of `objs` (unsaved, in this order) in one statement where the
    database allows it, else in one transaction (see the module docstring). Inside a
    transaction a savepoint keeps a refused row (say a unique constraint) from spoiling
    the caller's transaction: it can catch the IntegrityError and go on."""
    connection = connections[router.db_for_write(type(objs[0]))]
    guard = (
        transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext()
    )
    with guard:
        write_together(inserts=objs)


@functools.cache
def _together_statement(
    rows: tuple[tuple[type[Model], bool], ...],
    alias: str,
    updates: tuple[tuple[type[Model], tuple[str, ...]], ...] = (),
) -> str:
    """`WITH u0 AS (UPDATE ... RETURNING 1), w0 AS (INSERT ...), ... SELECT <rows each
    UPDATE changed>, <assigned keys>` for updates of these (model, fields) and inserts of
    these (model, returning) kinds, in PostgreSQL's placeholders (the updates' first);
    built once per combination. Only model metadata (quoted names) and our CTE names go
    into the text; every value is a parameter."""
    quote = connections[alias].ops.quote_name
    ctes, selected, first = [], [], 1
    for index, (model, names) in enumerate(updates):
        sql, count = _numbered(_update_template(model, names, alias)[0], first)
        first += count
        ctes.append(f"u{index} AS ({sql} RETURNING 1)")
        selected.append(f"(SELECT count(*) FROM u{index})")  # noqa: S608
    for index, (model, returning) in enumerate(rows):
        sql, count = _numbered(_insert_template(model, returning, alias)[0], first)
        first += count
        ctes.append(f"w{index} AS ({sql})")
        if returning:
            selected.append(f"(SELECT {quote(model._meta.pk.column)} FROM w{index})")  # noqa: S608
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selected) or '1'}"


def write_together(
    *,
    updates: Sequence[tuple[Model, Sequence[str]]] = (),
    inserts: Sequence[Model] = (),
) -> None:
    """Write the named fields of saved objects (`updates`) and insert unsaved ones
    (`inserts`, in this order) as ONE statement on PostgreSQL, else one by one; in the
    caller's transaction without a savepoint (a failure fails it, as a failed statement
    does); in autocommit, inserts alone are one statement with its own commit, and
    anything else runs in a transaction of its own. Raises DoesNotExist, and nothing is
    kept, when a row to update is gone. No signals (see the module docstring)."""
    model = type(updates[0][0] if updates else inserts[0])
    using = router.db_for_write(model)
    connection = connections[using]
    own_statement = connection.vendor == "postgresql" and not updates
    with nullcontext() if own_statement else transaction.atomic(using=using, savepoint=False):
        if connection.vendor != "postgresql":
            for obj, fields in updates:
                update(obj, fields)
            for obj in inserts:
                insert(obj)
            return
        changes = tuple((type(obj), tuple(fields)) for obj, fields in updates)
        rows = tuple((type(obj), obj.pk is None) for obj in inserts)
        statement = _together_statement(rows, connection.alias, changes)
        params = []
        for obj, fields in updates:
            params += _update_sql(obj, fields, connection)[1]
        for obj, (_, returning) in zip(inserts, rows, strict=True):
            params += _insert_sql(obj, connection, returning)[1]
        with _cursor(connection) as cursor:
            cursor.execute(statement, params)
            row = cursor.fetchone()
        for (obj, _), changed in zip(updates, row, strict=False):
            if changed != 1:
                raise type(obj).DoesNotExist(f"No {type(obj).__name__} {obj.pk} to update.")
        assigned = [obj for obj, (_, returning) in zip(inserts, rows, strict=True) if returning]
        for position, obj in enumerate(assigned, start=len(updates)):
            obj.pk = row[position]
        for obj in inserts:
            obj._state.adding = False
            obj._state.db = using
