"""Write the audit log (rule G4). Every action and every view/export of personal data calls this."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction

from piazza.core.context import current_origin
from piazza.core.models import AuditEntry, AuditKind, chain_head, chain_head_and_ids, remember_head, written_head
from piazza.core.write_queue import WriteQueue, combined, fetch_ids, insert_statement, nextval_sql


class HasTerritory(Protocol):
    pk: Any
    path: str


if TYPE_CHECKING:
    from django.contrib.auth.models import User

Actor = AbstractBaseUser | AnonymousUser | None


def acting_user(actor: Actor) -> User | None:
    """The actor as the user row a `…_by` foreign key stores: None for the system (actor None) and for an
    anonymous visitor. Lets actions take `actor: Actor` instead of `Any`."""
    if actor is None or not actor.is_authenticated:
        return None
    return cast("User", actor)


def _without_nul(value: object) -> object:
    """PostgreSQL's JSON cannot hold U+0000: a refusal quoting what was typed (an API body may carry
    one; the forms refuse it) is still logged, the character shown as U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def record(
    action: str,
    *,
    actor: Actor,
    obj: models.Model | None = None,
    territory: HasTerritory | None = None,
    kind: str = AuditKind.WRITE,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry. Call it inside the action's transaction so both commit together."""
    origin = current_origin()
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    entry = AuditEntry(
        actor=user,  # type: ignore[misc]
        actor_label=user.get_username() if user is not None else "",
        kind=kind,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        territory_id=territory.pk if territory is not None else None,
        territory_path=territory.path if territory is not None else "",
        ip=origin.ip,
        user_agent=origin.user_agent,
        channel=origin.channel,
        data=cast("dict[str, Any]", _without_nul(data or {})),
    )
    using = router.db_for_write(AuditEntry, instance=entry)
    pending = getattr(connections[using], "_piazza_audit_pending", None)
    if pending is not None and connections[using].in_atomic_block:
        pending.add(entry)
    else:
        entry.save(using=using)
    return entry


class _Pending:
    """The audit entries of one `audited_atomic()` block, written together as its last statement.

    Each entry carries a no-op `on_commit` marker: Django drops the hooks registered inside a savepoint
    it rolls back, so an entry whose marker is gone at the end was rolled back with its savepoint and
    is not written, as its own INSERT would have been undone. The chain lock is taken (and the head
    read with it) at the first entry, where writing it straight away took it, so every transaction
    takes its locks in the same order as before (ADR 0032). Django starts a new hook list at a
    savepoint rollback, which may have released the lock with it: a changed list means locking and
    reading again.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.entries: list[tuple[AuditEntry, Any]] = []
        self.head: tuple[int | None, str] | None = None
        self.read_under: object | None = None
        self.writes = WriteQueue(using)

    def _head_holds(self) -> bool:
        return self.read_under is not None and self.read_under is connections[self.using].run_on_commit

    def _lock_and_read(self) -> None:
        self.head = chain_head(self.using)
        self.read_under = connections[self.using].run_on_commit

    def add(self, entry: AuditEntry) -> None:
        if not self._head_holds():
            self._lock_and_read()

        def marker() -> None:
            """Runs after the commit; only its presence until then matters."""

        transaction.on_commit(marker, using=self.using)
        self.entries.append((entry, marker))

    def reserve_ids(self, models_: Sequence[type[models.Model]]) -> None:
        """PostgreSQL: ids for rows the block will queue (`queue_insert(need_id=True)`), fetched with
        the chain's lock and head when the block does not hold them yet: one round trip for both."""
        connection = connections[self.using]
        if connection.vendor != "postgresql" or not models_:
            return
        if self._head_holds():
            ids = fetch_ids(self.using, models_)
        else:
            head, ids = chain_head_and_ids(self.using, [nextval_sql(m) for m in models_])
            self.head, self.read_under = head, connection.run_on_commit
        for model, id_ in zip(models_, ids, strict=True):
            self.writes.ids.setdefault(model, []).append(id_)

    def flush(self) -> None:
        """The queued writes and the entries, in one statement on PostgreSQL (ADR 0046)."""
        connection = connections[self.using]
        statements = self.writes.statements()
        alive = {id(hook[1]) for hook in connection.run_on_commit}  # (savepoint ids, func, robust)
        entries = [entry for entry, marker in self.entries if id(marker) in alive]
        self.entries = []
        if entries:
            if not self._head_holds():
                self._lock_and_read()
            # An entry written straight away inside the block (`AuditEntry.save`) moved the head on.
            head = written_head(self.using) or self.head
            for entry in entries:
                entry.seal(head)
                head = (entry.seq, entry.digest)
            fields = [f for f in AuditEntry._meta.local_concrete_fields if f is not AuditEntry._meta.pk]
            rows = [{f.attname: f.get_db_prep_save(f.pre_save(e, True), connection) for f in fields} for e in entries]
            sql, params = insert_statement(connection, AuditEntry, rows)
            statements.append((sql + " RETURNING " + connection.ops.quote_name(AuditEntry._meta.pk.column), params))
        if not statements:
            return
        with connection.cursor() as cursor:
            for sql, params in combined(statements, connection.vendor):
                cursor.execute(sql, params)
            returned = cursor.fetchall() if entries else []
        for entry, (pk,) in zip(entries, returned, strict=True):
            entry.pk = pk
            entry._state.adding, entry._state.db = False, self.using
        if entries:
            remember_head(self.using, (entries[-1].seq, entries[-1].digest))


@contextmanager
def audited_atomic(using: str | None = None) -> Iterator[None]:
    """`transaction.atomic()` for an action that writes several audit entries (issue 14, P4; ADR 0032).

    `record()` inside the block queues its entry instead of writing it; the block writes all of them
    with one multi-row INSERT as its last statement, just before its COMMIT (or RELEASE, when nested
    in an outer transaction), chained in the order recorded. An exception rolls the block back and
    nothing is written, as before. A block inside another `audited_atomic()` leaves its entries to the
    outer one. Outside such a block `record()` writes at once, as always.
    """
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    with transaction.atomic(using=alias):
        if getattr(connection, "_piazza_audit_pending", None) is not None:  # the outer block writes them
            yield
            return
        pending = _Pending(alias)
        connection._piazza_audit_pending = pending  # type: ignore[attr-defined]
        connection._piazza_write_queue = pending.writes  # type: ignore[attr-defined]
        try:
            yield
            pending.flush()
        finally:
            connection._piazza_audit_pending = None  # type: ignore[attr-defined]
            connection._piazza_write_queue = None  # type: ignore[attr-defined]


def reserve_ids(*models_: type[models.Model], using: str | None = None) -> None:
    """Fetch now the ids of rows the `audited_atomic()` block will queue with `need_id=True`.

    On PostgreSQL, when the block holds no chain head yet, the ids come with the chain's lock and
    head (`piazza_audit_chain_head`) in one round trip: call it where the block's first `record()`
    would take that lock anyway, with no row lock taken between here and there, so the block's
    lock order does not change (ADR 0032, 0046). Elsewhere (SQLite, outside a block) nothing is
    fetched: `queue_insert(need_id=True)` then writes at once or fetches its own id."""
    alias = using or DEFAULT_DB_ALIAS
    pending = getattr(connections[alias], "_piazza_audit_pending", None)
    if pending is not None and connections[alias].in_atomic_block:
        pending.reserve_ids(models_)
