"""Writing rows with the least work per row.

`insert(obj)` inserts one unsaved model instance with its model's INSERT statement,
compiled once per process; `update(obj, fields)` writes some fields of a saved one the
same way. `insert_together(a, b, c)` inserts unsaved model instances, in
order, as ONE statement on PostgreSQL (`WITH a AS (INSERT ...), b AS (INSERT ...) SELECT
...`): all or nothing, and in autocommit a single round trip with its own commit, instead
of BEGIN, one INSERT per row and COMMIT. Foreign keys between the rows are fine (Django's
are deferred to commit). Elsewhere (SQLite) the rows are saved one by one in one
transaction. Either way no `pre_save`/`post_save` signals are sent (use neither for a
model with receivers or simple-history), and rows whose primary key the database assigns
are given theirs.
"""

import functools
from contextlib import nullcontext

from django.db import connections, router, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

__all__ = ["insert", "insert_together", "update"]


@functools.cache
def _insert_template(
    model: type[Model], returning: bool, alias: str, ignore_conflicts: bool = False
) -> tuple[str, tuple]:
    """The INSERT statement of one `model` row (with RETURNING of its database-assigned key
    if `returning`; skipped without error when it conflicts with a unique constraint if
    `ignore_conflicts`) and the fields its placeholders stand for, compiled by Django once
    per model: compiling it per row cost ~0.15-0.3 ms, more than the rest of the request's
    Python work on the row."""
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
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


def update(obj: Model, fields: list[str] | tuple[str, ...]) -> None:
    """Write `fields` of a saved object with a statement built once per model and fields:
    like `save(update_fields=fields)` without its signals and per-call compiling (so only
    for models with neither receivers nor simple-history). Raises if no row was updated."""
    using = obj._state.db or router.db_for_write(type(obj))
    connection = connections[using]
    sql, columns = _update_template(type(obj), tuple(fields), connection.alias)
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise type(obj).DoesNotExist(f"No {type(obj).__name__} {obj.pk} to update.")


def insert_together(*objs: Model) -> None:
    """Insert every object of `objs` (unsaved, in this order) in one statement where the
    database allows it, else in one transaction (see the module docstring)."""
    using = router.db_for_write(type(objs[0]))
    connection = connections[using]
    if connection.vendor != "postgresql":
        with transaction.atomic(using=using):
            for obj in objs:
                obj.save(force_insert=True, using=using)
        return
    ctes, params, assigned = [], [], []
    for index, obj in enumerate(objs):
        returning = obj.pk is None
        sql, obj_params = _insert_sql(obj, connection, returning=returning)
        ctes.append(f"w{index} AS ({sql})")
        params.extend(obj_params)
        if returning:
            assigned.append((index, obj))
    # Only model metadata (quoted column names) and our CTE names go into the text; every
    # value is a parameter.
    keys = ", ".join(
        f"(SELECT {connection.ops.quote_name(obj._meta.pk.column)} FROM w{index})"  # noqa: S608
        for index, obj in assigned
    )
    statement = f"WITH {', '.join(ctes)} SELECT {keys or '1'}"
    # Inside a transaction a savepoint keeps a refused statement (say a unique constraint)
    # from spoiling the caller's transaction; in autocommit the statement is its own.
    guard = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    for position, (_, obj) in enumerate(assigned):
        obj.pk = row[position]
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
