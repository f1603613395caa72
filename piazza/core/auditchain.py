"""Verify the audit chain (issue 10, finding 11; docs/adr/0014): find the first broken link.

Read-only: walks the entries in chain order and checks, for each one, that it was signed
with a key we hold, that its content still matches its signature, that no entry is missing
before it and that it links to the one before. Entries older than the chain (no `seq`) are
checked one by one. The last head seen intact (kept in the shared cache by the periodic
task) also catches entries cut off the end of the chain.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.cache import cache
from django.utils import timezone

from piazza.core.models import AuditEntry, audit_keys

HEAD_CACHE_KEY = "audit:chain:last-verified-head"
REDACTION_ACTION = "core.redact_audit"
BATCH = 2000


class Problem(StrEnum):
    MISSING = "missing"  # an entry has been removed (a gap in the sequence, or the tail cut off)
    ALTERED = "altered"  # an entry's content, or its link to the one before, has changed
    WRONG_KEY = "wrong_key"  # signed with a key we do not hold


@dataclass(frozen=True)
class Break:
    problem: Problem
    entry_id: int | None
    seq: int | None
    at: dt.datetime | None
    detail: str

    def describe(self) -> str:
        when = timezone.localtime(self.at).strftime("%Y-%m-%d %H:%M:%S") if self.at else "?"
        where = f"voce n. {self.entry_id} (anello {self.seq}, {when})" if self.entry_id else f"dopo l'anello {self.seq}"
        return f"{where}: {self.detail}"


@dataclass
class ChainReport:
    checked: int = 0
    unchained: int = 0
    head_seq: int | None = None
    head_digest: str = ""
    broken: Break | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.broken is None


def _check_unchained(report: ChainReport, using: str) -> None:
    for entry in AuditEntry.objects.using(using).filter(seq__isnull=True).order_by("id").iterator(BATCH):
        report.unchained += 1
        if not entry.verify():
            report.broken = Break(
                Problem.ALTERED,
                entry.pk,
                None,
                entry.at,
                "il contenuto non corrisponde alla firma (voce precedente alla catena, modificata "
                "dopo la scrittura o firmata con una chiave che non abbiamo) / content does not "
                "match its signature",
            )
            return


def redaction_seals(using: str = "default") -> dict[int, str]:
    """Entry id → digest of its personal columns after redaction, from the chained entries that
    recorded each redaction (`core.redact_audit`, docs/dev/erasure.md)."""
    seals: dict[int, str] = {}
    for data in AuditEntry.objects.using(using).filter(action=REDACTION_ACTION).values_list("data", flat=True):
        for entry_id, digest in dict((data or {}).get("entries", {})).items():
            seals[int(entry_id)] = str(digest)
    return seals


def _check_entry(
    entry: AuditEntry, expected_seq: int, prev_digest: str, keys: dict[str, str], seals: dict[int, str]
) -> Break | None:
    if entry.key_id not in keys:
        return Break(
            Problem.WRONG_KEY,
            entry.pk,
            entry.seq,
            entry.at,
            f"firmata con una chiave che non abbiamo (impronta {entry.key_id or '—'}): "
            "AUDIT_HMAC_KEY è cambiata senza elencare la vecchia in AUDIT_HMAC_PREVIOUS_KEYS, "
            "oppure la voce è stata falsificata / signed with a key we do not hold",
        )
    seq = entry.seq or 0
    if expected_seq < seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
        return Break(
            Problem.MISSING,
            entry.pk,
            entry.seq,
            entry.at,
            f"mancano le voci della catena prima di questa (anelli {missing}): sono state "
            "cancellate / entries before this one are missing",
        )
    if not entry.verify():
        return Break(
            Problem.ALTERED,
            entry.pk,
            entry.seq,
            entry.at,
            "il contenuto non corrisponde alla firma: la voce è stata modificata dopo la "
            "scrittura / content does not match its signature",
        )
    if entry.personal_digest:
        # The chain seals a digest of the personal columns: they must still match it, or, once
        # redacted by an erasure, match what the chained redaction entry sealed for them.
        sealed = seals.get(entry.pk, "") if entry.redacted_at is not None else entry.personal_digest
        if not hmac.compare_digest(sealed, entry.compute_personal_digest()):
            return Break(
                Problem.ALTERED,
                entry.pk,
                entry.seq,
                entry.at,
                "la voce è stata modificata dopo la scrittura: i suoi dati non corrispondono all'impronta "
                "sigillata nella catena (né a quella registrata dalla loro pseudonimizzazione) / personal "
                "columns do not match their sealed digest",
            )
    if entry.prev_digest != prev_digest:
        return Break(
            Problem.ALTERED,
            entry.pk,
            entry.seq,
            entry.at,
            "non si aggancia alla voce precedente: la catena è stata riscritta da qui / "
            "does not link to the entry before it",
        )
    return None


def verify_chain(*, using: str = "default", known_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole log; the report names the first broken link, if any."""
    report = ChainReport()
    _check_unchained(report, using)
    if report.broken:
        return report
    keys = audit_keys()
    seals = redaction_seals(using)
    expected, prev = 1, ""
    for entry in AuditEntry.objects.using(using).filter(seq__isnull=False).order_by("seq").iterator(BATCH):
        report.broken = _check_entry(entry, expected, prev, keys, seals)
        if report.broken:
            return report
        report.checked += 1
        expected, prev = (entry.seq or 0) + 1, entry.digest
        report.head_seq, report.head_digest = entry.seq, entry.digest
    if known_head is not None and (report.head_seq or 0) < known_head[0]:
        report.broken = Break(
            Problem.MISSING,
            None,
            report.head_seq or 0,
            None,
            f"mancano le ultime voci: la catena arrivava all'anello {known_head[0]} "
            f"(impronta {known_head[1][:16]}…) a un controllo precedente / the end of the chain "
            "has been cut off",
        )
    return report


def last_verified_head() -> tuple[int, str] | None:
    head = cache.get(HEAD_CACHE_KEY)
    return (int(head[0]), str(head[1])) if head else None


def remember_head(report: ChainReport) -> None:
    """Keep the head of an intact chain outside the database, to catch a cut-off tail later."""
    if report.ok and report.head_seq is not None:
        cache.set(HEAD_CACHE_KEY, (report.head_seq, report.head_digest), timeout=None)
