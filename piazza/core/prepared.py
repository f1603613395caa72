"""Hot reads whose SQL Django compiles once per process (issue 14, P1; ADR 0034).

On the donation path most of the Python CPU is not the database's answer but Django building and
compiling each query (about 1 ms of this machine's CPU for a one-row read with a join, against
0.2 ms for sending the same SQL through a cursor). A read of fixed shape — the same SQL whatever
the values — needs the compiling once: `PreparedRead` compiles it on first use, per database
alias and argument types, and afterwards only binds the new values into the compiled parameters,
runs the SQL and builds the model instances as Django's own iterable does (`select_related`
objects and annotations included).

Which compiled parameters are the caller's values is found, not declared: the query is compiled
twice with two fixed probe values per argument (strings carry `%`, `_`, `\\` and a quote), and a
parameter that follows the probe exactly is a slot for that argument. A lookup that transforms
its value (SQLite's `iexact` escapes LIKE wildcards, a `__contains` wraps it, a date lookup turns
it into a range) or whose SQL changes with the value is not prepared: the read then simply runs
through the ORM each time, with the same result. Values are bound as parameters, never spliced
into the SQL. Only `str`, `int` (not `bool`) and `UUID` arguments are bound; any other type,
including None, takes the ORM path.

`PreparedStatement` (ADR 0043) does the same for a statement assembled from several querysets
(e.g. the F6/F2 totals of every channel): its SQL is built once per shape — the arguments that
change the SQL (a year, a territory path) are part of the cache key — and the values (a person's
id) are bound by the same probes.

Compiled SQL may hold constants read from the database at compile time (a content type's id): a
`post_migrate` (a migration, or a test's flush, which renumbers those rows) forgets every compiled
statement and read of the process.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.models.signals import post_migrate

M = TypeVar("M", bound=Model)
_generation = [0]  # bumped by forget_compiled(): caches of an older generation are dropped


def forget_compiled(**_: Any) -> None:
    """Drop every compiled read and statement (after a migration or a test's flush)."""
    _generation[0] += 1


post_migrate.connect(forget_compiled, dispatch_uid="piazza.core.prepared.forget_compiled")

_PROBES: dict[type, tuple[Any, Any]] = {
    str: ("piazza-probe-1 %_\\'", "piazza-probe-2 %_\\'"),
    int: (1_000_003, 1_000_033),
    uuid.UUID: (uuid.UUID(int=1_000_003), uuid.UUID(int=1_000_033)),
}


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the caller's argument)
    compiler: Any
    init_list: tuple[str, ...]
    fields_start: int
    fields_end: int
    annotations: tuple[tuple[str, int], ...]


class PreparedRead(Generic[M]):
    """`build(*args)` returns a queryset of `model` (no `prefetch_related`, no `values()`, sliced
    if it should be limited); `rows(*args)` runs it, `first(*args)` takes its first row."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]]) -> None:
        self.model = model
        self.build = build
        self._local = threading.local()  # a compiler belongs to its thread's connection

    def prepared(self, *args: Any) -> bool:
        """Whether these argument types, on the database this read goes to, run compiled SQL."""
        return self._compiled(router.db_for_read(self.model) or "default", args) is not None

    def rows(self, *args: Any) -> list[M]:
        alias = router.db_for_read(self.model) or "default"
        compiled = self._compiled(alias, args)
        if compiled is None:
            return list(self.build(*args).using(alias))
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, _bound(compiled, args))
            fetched = cursor.fetchall()
        return _instances(alias, compiled, fetched)

    def first(self, *args: Any) -> M | None:
        found = self.rows(*args)
        return found[0] if found else None

    def rows_within(
        self, statement: str, after: Sequence[Any], *args: Any, tail: int
    ) -> list[tuple[M, tuple[Any, ...]]] | None:
        """Run the compiled read as part of one larger statement (ADR 0048): `statement` holds
        `{read}` where the read's SQL goes (its parameters first, then `after`) and selects the
        read's columns first, then `tail` columns of its own. Each row: (instance, those columns).
        None when this read is not compiled for these arguments: the caller then runs its
        statements apart."""
        alias = router.db_for_read(self.model) or "default"
        compiled = self._compiled(alias, args)
        if compiled is None:
            return None
        with connections[alias].cursor() as cursor:
            cursor.execute(statement.replace("{read}", compiled.sql), [*_bound(compiled, args), *after])
            fetched = cursor.fetchall()
        instances = _instances(alias, compiled, [row[: len(row) - tail] for row in fetched])
        return [(obj, tuple(row[len(row) - tail :])) for obj, row in zip(instances, fetched, strict=True)]

    def _compiled(self, alias: str, args: Sequence[Any]) -> _Compiled | None:
        kinds = tuple(type(a) for a in args)
        cache: dict[tuple[Any, ...], _Compiled | None] | None = getattr(self._local, "cache", None)
        if cache is None or getattr(self._local, "generation", None) != _generation[0]:
            cache = self._local.cache = {}
            self._local.generation = _generation[0]
        key = (alias, kinds)
        if key not in cache:
            cache[key] = _compile(self.build, alias, kinds) if all(k in _PROBES for k in kinds) else None
        return cache[key]


def prepared_read(model: type[M]) -> Callable[[Callable[..., QuerySet[M]]], PreparedRead[M]]:
    """Decorator: `@prepared_read(Campaign)` over the function building the queryset."""

    def wrap(build: Callable[..., QuerySet[M]]) -> PreparedRead[M]:
        return PreparedRead(model, build)

    return wrap


def _bound(compiled: _Compiled, args: Sequence[Any]) -> list[Any]:
    """The compiled parameters with the caller's values in their slots."""
    params = list(compiled.params)
    for position, index in compiled.slots:
        params[position] = args[index]
    return params


def _instances(alias: str, compiled: _Compiled, fetched: list[Any]) -> list[Any]:
    """Model instances from the rows, as Django's ModelIterable builds them."""
    compiler = compiled.compiler
    model_cls = compiler.klass_info["model"]
    populators = get_related_populators(compiler.klass_info, compiler.select, alias)
    found = []
    for row in compiler.results_iter([fetched]):
        obj = model_cls.from_db(alias, compiled.init_list, row[compiled.fields_start : compiled.fields_end])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in compiled.annotations:
            setattr(obj, name, row[position])
        found.append(obj)
    return found


def _compile(build: Callable[..., QuerySet[Any]], alias: str, kinds: tuple[type, ...]) -> _Compiled | None:
    first = tuple(_PROBES[k][0] for k in kinds)
    second = tuple(_PROBES[k][1] for k in kinds)
    queryset = build(*first).using(alias)
    internals: Any = queryset
    if internals._prefetch_related_lookups or internals._known_related_objects or internals._fields is not None:
        return None
    compiler = queryset.query.get_compiler(using=alias)
    try:
        sql, params = compiler.as_sql()
        sql2, params2 = build(*second).using(alias).query.get_compiler(using=alias).as_sql()
    except (EmptyResultSet, ValueError, TypeError, ValidationError):  # the probes make no fixed-shape read
        return None
    if sql != sql2 or len(params) != len(params2):
        return None
    slots = _slots(params, params2, first, second)
    if slots is None:
        return None
    select, klass_info = compiler.select, compiler.klass_info
    if klass_info is None:
        return None
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return _Compiled(
        sql=sql,
        params=tuple(params),
        slots=slots,
        compiler=compiler,
        init_list=tuple(f[0].target.attname for f in select[start:end]),
        fields_start=start,
        fields_end=end,
        annotations=tuple((compiler.annotation_col_map or {}).items()),
    )


def _same(param: Any, value: Any) -> bool:
    return type(param) is type(value) and param == value


@dataclass(frozen=True)
class Statement:
    """What a `PreparedStatement`'s builder returns: the SQL ("" for none) with its parameters, and
    a `note` for the caller that depends on the shape only (e.g. which parts were left out)."""

    sql: str
    params: Sequence[Any]
    note: Any = None


@dataclass(frozen=True)
class _Bound:
    statement: Statement
    slots: tuple[tuple[int, int], ...]


class PreparedStatement:
    """`build(*values, *shape)` assembles a statement; `bind(*values, *shape)` returns it.

    The first `values` arguments are values (bound into the compiled parameters, found with the
    probes `PreparedRead` uses); the others are the shape: hashable, few distinct ones, and part
    of the cache key, so they may change the SQL. Compiled once per shape and value types; a
    builder whose SQL or note follows a value (or a value of another type) is simply called each
    time. The builder compiles for the default database (it is what `bind` returns for)."""

    MAX_SHAPES = 256  # a shape is a year and a territory path: a few per process

    def __init__(self, build: Callable[..., Statement], *, values: int) -> None:
        self.build = build
        self.values = values
        self._cache: dict[tuple[Any, ...], _Bound | None] = {}
        self._generation = _generation[0]

    def forget(self) -> None:
        self._cache = {}

    def prepared(self, *args: Any) -> bool:
        return self._bound(args) is not None

    def bind(self, *args: Any) -> Statement:
        bound = self._bound(args)
        if bound is None:
            return self.build(*args)
        params = list(bound.statement.params)
        for position, index in bound.slots:
            params[position] = args[index]
        return Statement(bound.statement.sql, params, bound.statement.note)

    def _bound(self, args: Sequence[Any]) -> _Bound | None:
        if self._generation != _generation[0]:
            self._cache, self._generation = {}, _generation[0]
        values, shape = args[: self.values], tuple(args[self.values :])
        kinds = tuple(type(a) for a in values)
        key = (connections["default"].vendor, kinds, shape)
        if key not in self._cache:
            if len(self._cache) >= self.MAX_SHAPES:
                self._cache = {}
            self._cache[key] = self._compile(kinds, shape) if all(k in _PROBES for k in kinds) else None
        return self._cache[key]

    def _compile(self, kinds: tuple[type, ...], shape: tuple[Any, ...]) -> _Bound | None:
        first = tuple(_PROBES[k][0] for k in kinds)
        second = tuple(_PROBES[k][1] for k in kinds)
        one, two = self.build(*first, *shape), self.build(*second, *shape)
        if one.sql != two.sql or one.note != two.note or len(one.params) != len(two.params):
            return None
        slots = _slots(one.params, two.params, first, second)
        return None if slots is None else _Bound(one, slots)


def _slots(
    params: Sequence[Any], params2: Sequence[Any], first: Sequence[Any], second: Sequence[Any]
) -> tuple[tuple[int, int], ...] | None:
    """(position, argument) of each parameter that follows the probes; None if one follows none."""
    slots = []
    for position, (p1, p2) in enumerate(zip(params, params2, strict=True)):
        if p1 == p2:
            continue
        owners = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if _same(p1, a) and _same(p2, b)]
        if len(owners) != 1:
            return None  # the value is transformed on its way into the SQL: not ours to bind
        slots.append((position, owners[0]))
    return tuple(slots)
