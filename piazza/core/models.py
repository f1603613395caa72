"""Core models: the append-only audit log (rule G4) and shared abstract bases."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditKind(models.TextChoices):
    WRITE = "write", _("Modifica")
    VIEW = "view", _("Consultazione di dati personali")
    EXPORT = "export", _("Esportazione")
    AUTH = "auth", _("Accesso")
    DENIED = "denied", _("Tentativo respinto")


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def within_paths(self, paths: list[str]) -> AuditEntryQuerySet:
        """Entries attached to any of the given territory subtrees (materialised paths)."""
        condition = models.Q(pk__in=[])
        for path in paths:
            condition |= models.Q(territory_path__startswith=path)
        return self.filter(condition)


# Key of the PostgreSQL transaction-level advisory lock that serialises appends to the chain.
AUDIT_CHAIN_LOCK = 0x70696173  # "pias"


def audit_key_id(key: str) -> str:
    """A public fingerprint of an HMAC key: tells which key signed an entry, reveals nothing of it."""
    return hmac.new(key.encode(), b"piazza-audit-key-id", hashlib.sha256).hexdigest()[:16]


def audit_keys() -> dict[str, str]:
    """Key fingerprint → key, for the current key and any previous ones (verification only)."""
    keys = [settings.AUDIT_HMAC_KEY, *getattr(settings, "AUDIT_HMAC_PREVIOUS_KEYS", [])]
    return {audit_key_id(key): key for key in keys if key}


class AuditEntry(models.Model):
    """One line of the audit log. Never updated or deleted: a database trigger refuses it.

    The entries form a hash chain (issue 10, finding 11; docs/adr/0014): entry number `seq`
    carries `prev_digest`, the digest of entry `seq - 1`, and its own `digest` is an HMAC,
    with the key fingerprinted in `key_id`, of its content, `seq` and `prev_digest`. An entry
    edited, removed or inserted behind the application's back breaks the chain at that point
    (`piazza.core.auditchain.verify_chain`, `manage.py check_audit`). Appends are serialised
    (an advisory transaction lock on PostgreSQL, the write lock on SQLite), and `seq` is unique,
    so concurrent writers never fork the chain. Entries written before the chain existed have
    no `seq` and are verified one by one.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=10, choices=AuditKind.choices, default=AuditKind.WRITE)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    territory_id = models.BigIntegerField(null=True, blank=True)
    territory_path = models.CharField(max_length=255, blank=True, db_index=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_digest = models.CharField(max_length=64, blank=True, editable=False)
    key_id = models.CharField(max_length=16, blank=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    # The chain covers a digest of the columns that may name a person (REDACTABLE), so that erasure
    # can pseudonymise them in place and the chain still verifies (docs/dev/erasure.md). Empty on
    # entries written before that (their digest covers the columns themselves: never redacted).
    personal_digest = models.CharField(max_length=64, blank=True, editable=False)
    redacted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("voce del registro attività")
        verbose_name_plural = _("registro attività")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    REDACTABLE = ("actor_label", "ip", "user_agent", "data")

    @staticmethod
    def digest_of_personal(actor_label: str, ip: str, user_agent: str, data: Any) -> str:
        """SHA-256 of the redactable columns: what the chain seals of them."""
        payload = {"actor_label": actor_label, "ip": ip, "user_agent": user_agent, "data": data}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def compute_personal_digest(self) -> str:
        return self.digest_of_personal(self.actor_label, self.ip, self.user_agent, self.data)

    def content_for_digest(self) -> bytes:
        if self.personal_digest:  # the redactable columns enter through their digest
            sealed: dict[str, Any] = {
                "at": self.at.isoformat(),
                "actor": self.actor_id,
                "kind": self.kind,
                "action": self.action,
                "object_type": self.object_type,
                "object_id": self.object_id,
                "territory_id": self.territory_id,
                "territory_path": self.territory_path,
                "channel": self.channel,
                "personal": self.personal_digest,
                "seq": self.seq,
                "prev": self.prev_digest,
            }
            return json.dumps(sealed, sort_keys=True, default=str).encode()
        payload: dict[str, Any] = {
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "actor_label": self.actor_label,
            "kind": self.kind,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "territory_id": self.territory_id,
            "territory_path": self.territory_path,
            "ip": self.ip,
            "channel": self.channel,
            "data": self.data,
        }
        if self.seq is not None:  # chained entries also seal their place and the user agent
            payload.update(seq=self.seq, prev=self.prev_digest, user_agent=self.user_agent)
        return json.dumps(payload, sort_keys=True, default=str).encode()

    def compute_digest(self, key: str | None = None) -> str:
        secret = (key if key is not None else settings.AUDIT_HMAC_KEY).encode()
        return hmac.new(secret, self.content_for_digest(), hashlib.sha256).hexdigest()

    def signing_key(self) -> str | None:
        """The key this entry says it was signed with, if it is one we hold."""
        keys = audit_keys()
        if self.key_id:
            return keys.get(self.key_id)
        return settings.AUDIT_HMAC_KEY  # before the chain: the key of the day

    def verify(self) -> bool:
        key = self.signing_key()
        if key is None:
            return False
        if not self.key_id and self.seq is None:  # unchained: any key we hold may have signed it
            return any(hmac.compare_digest(self.digest, self.compute_digest(k)) for k in audit_keys().values())
        # The personal columns against their sealed digest (a redacted entry: against its seal, in the chain check).
        if (
            self.personal_digest
            and self.redacted_at is None
            and not hmac.compare_digest(self.personal_digest, self.compute_personal_digest())
        ):
            return False
        return hmac.compare_digest(self.digest, self.compute_digest(key))

    def _link(self, using: str) -> None:
        """Take the chain lock, read the head and seal this entry onto it (inside a transaction).

        Within one transaction the lock is already held after the first entry, so the head is
        the entry this transaction wrote last: later entries reuse it instead of locking and
        reading again (issue 14, P4). The remembered head is dropped at the first commit, rollback
        or savepoint rollback after it (`_transaction_head`): the next entry then locks and reads.
        """
        self.seal(chain_head(using))

    def seal(self, head: tuple[int | None, str] | None) -> None:
        """Sign this entry as the one after `head` (the chain's last entry, None for the first)."""
        self.seq, self.prev_digest = (int(head[0] or 0) + 1, head[1]) if head else (1, "")
        self.key_id = audit_key_id(settings.AUDIT_HMAC_KEY)
        self.personal_digest = self.compute_personal_digest()
        self.digest = self.compute_digest()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionDenied("Audit entries are append-only.")
        using = kwargs.get("using") or router.db_for_write(AuditEntry, instance=self)
        # The advisory lock lives until the surrounding transaction ends: make sure there is one.
        with transaction.atomic(using=using, savepoint=False):
            self._link(using)
            super().save(*args, **kwargs)
            _remember_head(connections[using], (self.seq, self.digest))

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("Audit entries are append-only.")


def chain_head(using: str) -> tuple[int | None, str] | None:
    """The chain's last (seq, digest), the chain lock held until the transaction ends: the head this
    transaction wrote last if it still holds (`_transaction_head`), else lock and read. On PostgreSQL
    both in one round trip (`piazza_audit_chain_head`, migration core 0006: a volatile function reads
    with a fresh snapshot after its lock, which one plain SELECT could not; issue 14, P4)."""
    connection = connections[using]
    head = _transaction_head(connection)
    if head is not None:
        return head
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT head_seq, head_digest FROM piazza_audit_chain_head(%s)", [AUDIT_CHAIN_LOCK])
            row = cursor.fetchone()
        return (int(row[0]), str(row[1])) if row is not None and row[0] is not None else None
    return (
        AuditEntry.objects.using(using).filter(seq__isnull=False).order_by("-seq").values_list("seq", "digest").first()
    )


def chain_head_and_ids(using: str, id_sql: list[str]) -> tuple[tuple[int | None, str] | None, list[int]]:
    """PostgreSQL: `chain_head()` and ids from table sequences (`nextval(…)` expressions) in one
    round trip (issue 14, P4; ADR 0046): the lock-and-head function's row carries the ids."""
    connection = connections[using]
    head = _transaction_head(connection)
    with connection.cursor() as cursor:
        if head is not None:
            cursor.execute("SELECT " + ", ".join(id_sql))
            return head, [int(v) for v in cursor.fetchone()]
        columns = ", ".join(["head_seq", "head_digest", *id_sql])
        # The columns are nextval() of table names from the models, never input.
        cursor.execute(f"SELECT {columns} FROM piazza_audit_chain_head(%s)", [AUDIT_CHAIN_LOCK])  # noqa: S608
        row = cursor.fetchone()
    found = (int(row[0]), str(row[1])) if row[0] is not None else None
    return found, [int(v) for v in row[2:]]


def written_head(using: str) -> tuple[int | None, str] | None:
    """The head this transaction wrote last, if it still holds (the chain lock held since)."""
    return _transaction_head(connections[using])


def remember_head(using: str, head: tuple[int | None, str]) -> None:
    _remember_head(connections[using], head)


def _transaction_head(connection: Any) -> tuple[int | None, str] | None:
    """The head this transaction wrote last, if it still holds: Django gives the connection a new
    `run_on_commit` list at every commit, rollback and savepoint rollback, so the list seen when
    the head was written is still there only if none of these happened since (see `_link`)."""
    remembered = getattr(connection, "_piazza_audit_head", None)
    if remembered is None:
        return None
    hooks, head = remembered
    if not connection.in_atomic_block or hooks is not connection.run_on_commit:
        connection._piazza_audit_head = None
        return None
    return head  # type: ignore[no-any-return]


def _remember_head(connection: Any, head: tuple[int | None, str]) -> None:
    connection._piazza_audit_head = (connection.run_on_commit, head)


class PeriodicRun(models.Model):
    """When a periodic task was last enqueued (see `piazza.core.periodic`)."""

    name = models.CharField(max_length=200, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
