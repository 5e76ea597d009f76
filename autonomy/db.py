"""Writing several new rows in one database round trip.

`insert_together(a, b, c)` inserts unsaved model instances, in order, as ONE statement on
PostgreSQL (`WITH a AS (INSERT ...), b AS (INSERT ...) SELECT ...`): all or nothing, and
in autocommit a single round trip with its own commit, instead of BEGIN, one INSERT per
row and COMMIT. Foreign keys between the rows are fine (Django's are deferred to commit).
Elsewhere (SQLite) the rows are saved one by one in one transaction. Either way no
`pre_save`/`post_save` signals are sent, and rows whose primary key the database assigns
are given theirs.
"""

from contextlib import nullcontext

from django.db import connections, router, transaction
from django.db.models import Model
from django.db.models.sql import InsertQuery

__all__ = ["insert_together"]


def _insert_sql(obj: Model, connection, returning: bool) -> tuple[str, list]:
    """The INSERT of `obj` (with RETURNING of its database-assigned key if `returning`)."""
    meta = obj._meta
    fields = [f for f in meta.local_concrete_fields if not (returning and f is meta.pk)]
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(connection=connection)
    if returning:
        compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, list(params)


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
