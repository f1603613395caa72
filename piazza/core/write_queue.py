"""Writes queued until the end of their transaction, sent with its audit entries (issue 14, P4; ADR 0046).

On the money paths the cost is round trips, not the work: a donation's form transaction sent one
INSERT or UPDATE per row. Inside `core.audit.audited_atomic()` a write that nothing reads back in
the transaction is queued instead (`queue_insert(obj)`, `queue_save(obj, fields)`) and the block
writes the queue at its end together with its audit entries: on PostgreSQL as ONE statement of
data-modifying CTEs (`WITH w1 AS (INSERT …), w2 AS (UPDATE …) INSERT INTO core_auditentry …`),
on SQLite (no INSERT/UPDATE inside WITH) as the plain statements in the order queued. Outside such
a block both write at once, as `save()` would.

Rules for callers (ADR 0046):
- Queue only a write that nothing later in the transaction reads (a sub-statement of a CTE does
  not see the others' rows, and queued rows are not there before the end).
- Queue only a write whose failure the code does not catch and handle: a constraint violation now
  surfaces at the end of the block and rolls the whole block back.
- A row whose id is needed before the end (by another row, by the caller) is queued with
  `need_id=True`: on PostgreSQL it takes an id from its table's sequence, fetched in a statement
  the block runs anyway where possible (`core.audit.reserve_ids`, with the chain head); on SQLite,
  which has no sequences, such a row is written at once.
- Updates of one row are merged (PostgreSQL refuses to update a row twice in one statement), and an
  update of a row queued for insertion goes into the INSERT.

The SQL is Django's (`InsertQuery`/`UpdateQuery` compilers) and compiled once per table and column
set (as `core.prepared` does for reads, ADR 0043); the values are what `save()` sends: each field's
`pre_save()` (auto_now) and `get_db_prep_save()`. Models whose `save()` is overridden or that have
`pre_save`/`post_save` receivers are refused unless they declare `QUEUE_SAFE_SAVE = True` (their
override does nothing on these writes): nothing is bypassed silently. Each queued write carries a
no-op `on_commit` marker, as audit entries do, so a write queued inside a savepoint that is rolled
back is dropped with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connections, models, router, transaction
from django.db.models import Q
from django.db.models.expressions import Expression
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery, UpdateQuery

M = TypeVar("M", bound=models.Model)


@dataclass
class _Write:
    """One queued row: an INSERT (`insert=True`, all its columns) or an UPDATE of `pk`."""

    model: type[models.Model]
    pk: Any
    insert: bool
    values: dict[str, Any]  # column attname → value prepared for the database
    marker: Any = None


@dataclass
class WriteQueue:
    """The queued writes of one `audited_atomic()` block and the ids reserved for it."""

    using: str
    writes: list[_Write] = field(default_factory=list)
    ids: dict[type[models.Model], list[int]] = field(default_factory=dict)

    def add(self, write: _Write) -> None:
        def marker() -> None:
            """Runs after the commit; only its presence until then matters (dropped with a savepoint)."""

        transaction.on_commit(marker, using=self.using)
        write.marker = marker
        self.writes.append(write)

    def take_id(self, model: type[models.Model]) -> int:
        pool = self.ids.get(model)
        if not pool:
            self.ids[model] = pool = fetch_ids(self.using, [model])
        return pool.pop(0)

    def statements(self) -> list[tuple[str, list[Any]]]:
        """The alive writes, merged per row, as statements in queue order (empties the queue)."""
        connection = connections[self.using]
        alive = {id(hook[1]) for hook in connection.run_on_commit}  # (savepoint ids, func, robust)
        writes = [w for w in self.writes if id(w.marker) in alive]
        self.writes = []
        rows: dict[tuple[type[models.Model], Any], _Write] = {}
        merged: list[_Write] = []
        for write in writes:
            key = (write.model, write.pk)
            earlier = rows.get(key) if write.pk is not None else None
            if earlier is not None and not write.insert:
                earlier.values.update(write.values)  # one row updated once (PostgreSQL requires it)
                continue
            if write.pk is not None:
                rows[key] = write
            merged.append(write)
        batches: list[list[_Write]] = []
        for write in merged:  # consecutive INSERTs of one table and column set: one statement
            if batches and _same_insert(batches[-1][0], write):
                batches[-1].append(write)
            else:
                batches.append([write])
        return [
            insert_statement(connection, b[0].model, [w.values for w in b])
            if b[0].insert
            else _update_statement(connection, b[0])
            for b in batches
        ]


def _same_insert(first: _Write, write: _Write) -> bool:
    return first.insert and write.insert and first.model is write.model and first.values.keys() == write.values.keys()


def active_queue(using: str) -> WriteQueue | None:
    """The queue of the `audited_atomic()` block running on `using`, if any."""
    connection = connections[using]
    queue = getattr(connection, "_piazza_write_queue", None)
    return queue if queue is not None and connection.in_atomic_block else None


def queue_insert(*objs: M, need_id: bool = False) -> None:
    """INSERT `objs` (of one model) at the end of the `audited_atomic()` block; at once outside one.

    The values are taken now, as `save()` takes them (auto_now included): a later change of an
    object is not written unless queued with `queue_save`. `need_id=True` gives each object its
    primary key now (PostgreSQL: from the table's sequence, see `core.audit.reserve_ids`; SQLite,
    which has no sequences: the rows are written at once)."""
    model = type(objs[0])
    _check_queueable(model)
    using = router.db_for_write(model, instance=objs[0])
    connection = connections[using]
    queue = active_queue(using)
    if queue is None or (need_id and connection.vendor != "postgresql"):
        model._default_manager.using(using).bulk_create(list(objs))  # no save() to skip: checked above
        return
    for obj in objs:
        if need_id and obj.pk is None:
            obj.pk = queue.take_id(model)
        values = {f.attname: _prepared(f, f.pre_save(obj, True), connection) for f in _insert_fields(model, obj)}
        queue.add(_Write(model, obj.pk, True, values))
        obj._state.adding, obj._state.db = False, using


def queue_save(obj: models.Model, update_fields: Sequence[str]) -> None:
    """`obj.save(update_fields=…)` at the end of the `audited_atomic()` block (at once outside one).

    Each field's `pre_save()` runs now (an `auto_now` field listed gets its time now, on `obj` too)."""
    model = type(obj)
    _check_queueable(model)
    using = router.db_for_write(model, instance=obj)
    queue = active_queue(using)
    if queue is None:
        obj.save(update_fields=list(update_fields), using=using)
        return
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in dict.fromkeys(update_fields)]
    values = {f.attname: _prepared(f, f.pre_save(obj, False), connection) for f in fields}  # type: ignore[union-attr]
    queue.add(_Write(model, obj.pk, False, values))


def nextval_sql(model: type[models.Model]) -> str:
    """PostgreSQL: the expression that takes the next id of `model`'s table (identity or serial)."""
    table, column = model._meta.db_table, model._meta.pk.column  # type: ignore[union-attr]
    return f"nextval(pg_get_serial_sequence('{table}', '{column}'))"


def fetch_ids(using: str, models_: Sequence[type[models.Model]]) -> list[int]:
    """One id of each model's table, in one statement (PostgreSQL)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(nextval_sql(m) for m in models_))
        row = cursor.fetchone()
    return [int(value) for value in row]


def combined(statements: list[tuple[str, list[Any]]], vendor: str) -> list[tuple[str, list[Any]]]:
    """PostgreSQL: the statements as one, the last one main and the others data-modifying CTEs
    (all run once, whether referenced or not); SQLite: as they are, one after the other."""
    if vendor != "postgresql" or len(statements) < 2:
        return statements
    *ctes, (main_sql, main_params) = statements
    sql = "WITH " + ", ".join(f"w{n} AS ({s})" for n, (s, _p) in enumerate(ctes, 1)) + " " + main_sql
    params = [p for _s, ps in ctes for p in ps] + list(main_params)
    return [(sql, params)]


def insert_statement(connection: Any, model: type[models.Model], rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """`INSERT INTO table (columns) VALUES (…), (…)` of rows with the same columns (attname → prepared value)."""
    columns = tuple(rows[0])
    head, row_sql = _compiled_insert(connection.alias, connection.vendor, model, columns)
    return head + ", ".join([row_sql] * len(rows)), [row[c] for row in rows for c in columns]


# --- compiling, once per table and column set ------------------------------------------------

_INSERTS: dict[tuple[str, str, type[models.Model], tuple[str, ...]], tuple[str, str]] = {}
_UPDATES: dict[tuple[str, str, type[models.Model], tuple[str, ...]], str] = {}


def _update_statement(connection: Any, write: _Write) -> tuple[str, list[Any]]:
    columns = tuple(write.values)
    sql = _compiled_update(connection.alias, connection.vendor, write.model, columns)
    pk = write.model._meta.pk.get_db_prep_value(write.pk, connection)  # type: ignore[union-attr]
    return sql, [write.values[c] for c in columns] + [pk]


def _compiled_insert(alias: str, vendor: str, model: type[models.Model], columns: tuple[str, ...]) -> tuple[str, str]:
    """('INSERT INTO "t" ("a", "b") VALUES ', '(%s, %s)') as Django's compiler writes it."""
    key = (alias, vendor, model, columns)
    if key not in _INSERTS:
        fields: list[Any] = [model._meta.get_field(_name_of(model, c)) for c in columns]
        query = InsertQuery(model)
        query.insert_values(fields, [model()], raw=True)
        compiler = query.get_compiler(using=alias)
        compiler.returning_fields = None
        (sql, _params), *more = compiler.as_sql()
        head, _, row_sql = sql.partition(" VALUES ")
        if more or row_sql != "(" + ", ".join(["%s"] * len(columns)) + ")":
            raise TypeError(f"{model._meta.label}: not a plain one-row INSERT, cannot be queued: {sql}")
        _INSERTS[key] = (head + " VALUES ", row_sql)
    return _INSERTS[key]


def _compiled_update(alias: str, vendor: str, model: type[models.Model], columns: tuple[str, ...]) -> str:
    """'UPDATE "t" SET "a" = %s, "b" = %s WHERE "t"."id" = %s' as Django's compiler writes it."""
    key = (alias, vendor, model, columns)
    if key not in _UPDATES:
        query = UpdateQuery(model)
        slots: list[Any] = [(model._meta.get_field(_name_of(model, c)), None, _Slot()) for c in columns]
        query.add_update_fields(slots)
        query.add_q(Q(pk=0))
        sql, params = query.get_compiler(using=alias).as_sql()
        if len(params) != len(columns) + 1:
            raise TypeError(f"{model._meta.label}: not a plain UPDATE by pk, cannot be queued: {sql}")
        _UPDATES[key] = sql
    return _UPDATES[key]


class _Slot(Expression):
    """A placeholder the update compiler keeps as `%s` (a None value would be compiled to NULL)."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [None]


def _name_of(model: type[models.Model], attname: str) -> str:
    for f in model._meta.concrete_fields:
        if f.attname == attname:
            return f.name
    raise LookupError(attname)


def _insert_fields(model: type[models.Model], obj: models.Model) -> list[Any]:
    """The columns `save()` inserts: all local concrete ones, the primary key only when set."""
    return [
        f
        for f in model._meta.local_concrete_fields
        if not getattr(f, "generated", False) and (f is not model._meta.pk or obj.pk is not None)
    ]


def _prepared(f: Any, value: Any, connection: Any) -> Any:
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"{f}: an expression cannot be queued (write it at once)")
    return f.get_db_prep_save(value, connection=connection)


def _check_queueable(model: type[models.Model]) -> None:
    """Refuse what queueing would bypass: a `save()` override or save signals (ADR 0046)."""
    if model._meta.parents:
        raise TypeError(f"{model._meta.label}: multi-table inheritance cannot be queued")
    overridden = model.save is not models.Model.save and not getattr(model, "QUEUE_SAFE_SAVE", False)
    if overridden or pre_save.has_listeners(model) or post_save.has_listeners(model):
        raise TypeError(f"{model._meta.label}: save() is overridden or has signal receivers; write it at once")
