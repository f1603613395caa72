"""Write the audit log (rule G4). Every action and every view/export of personal data calls this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction

from piazza.core.context import current_origin
from piazza.core.models import AuditEntry, AuditKind, chain_head, remember_head, written_head


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

    def flush(self) -> None:
        connection = connections[self.using]
        alive = {id(hook[1]) for hook in connection.run_on_commit}  # (savepoint ids, func, robust)
        entries = [entry for entry, marker in self.entries if id(marker) in alive]
        self.entries = []
        if not entries:
            return
        if not self._head_holds():
            self._lock_and_read()
        # An entry written straight away inside the block (`AuditEntry.save`) moved the head on.
        head = written_head(self.using) or self.head
        for entry in entries:
            entry.seal(head)
            head = (entry.seq, entry.digest)
        AuditEntry.objects.using(self.using).bulk_create(entries)
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
        try:
            yield
            pending.flush()
        finally:
            connection._piazza_audit_pending = None  # type: ignore[attr-defined]
