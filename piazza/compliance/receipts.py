"""Numbered receipts (rule F3, issue 13): one per contribution line, gap-free per issuing entity per
year, immutable; refunds and chargebacks issue a numbered cancellation (nota di storno).

The apps holding the money call the two actions on their success and refund paths, inside the
transaction that records the money (funding's donation handler, membership's `mark_paid`,
`after_online_payment`, the Albo fee): `issue_receipts_for(source, source_id)` reads the row's
contribution lines (`contributions.lines_of`, the same lines as the register and the tax statements
read) and issues one receipt per line; `cancel_receipts_for(...)` issues the cancellations of a
refund or a lost dispute. Both are idempotent: a replayed webhook issues nothing twice (unique
constraints back the reads).

Gap-free numbering: a counter row per (issuing entity, year), read with SELECT … FOR UPDATE and
bumped in the same transaction. A rollback gives the number back, so the next contribution takes
it: no gap, and the unique constraint (entity, year, number) makes a duplicate impossible. The cost
is that contributions to one issuing entity commit one after the other from the moment their
receipt is numbered; the actions run last in their transaction to keep that short (measured in
docs/benchmarks.md, section "receipts").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.compliance.contributions import ContributionLine, lines_of
from piazza.compliance.models import Receipt, ReceiptCounter, ReceiptKind
from piazza.compliance.rules import FinanceRules, rules_on
from piazza.core.audit import Actor, record
from piazza.core.write_queue import nextval_sql, queue_insert
from piazza.people.models import Person
from piazza.territory.models import Territory

# How a payment method is named on the receipt (the codes of `contributions.ContributionLine`).
METHOD_NAMES = {
    "card": _("carta di pagamento"),
    "paypal": _("PayPal"),
    "bank_transfer": _("bonifico bancario"),
    "sepa_dd": _("addebito diretto SEPA"),
    "pos": _("POS (carta presso il circolo)"),
    "cash": _("contanti"),
}

# Rules F7/F8: the words printed on the receipt, copied into it at issue (a later change of
# wording never changes a receipt already issued). No amounts or percentages: those are the
# parameters of the annual tax statement.
TAX_NOTE_TRACEABLE = (
    "Versamento con mezzo tracciabile che identifica chi lo ha effettuato: può dare diritto alla "
    "detrazione d'imposta per le erogazioni liberali ai partiti politici (art. 11 del DL 149/2013), "
    "nei limiti e alle condizioni di legge, come indicato nella dichiarazione annuale."
)
TAX_NOTE_UNTRACEABLE = (
    "Versamento non tracciabile (contanti) o che non identifica chi lo ha effettuato: non dà diritto "
    "alla detrazione d'imposta per le erogazioni liberali ai partiti politici (art. 11 del DL 149/2013)."
)


def tax_note(traceable: bool) -> str:
    """Rule F8: whether this payment can carry the F7 tax credit, and why, in the receipt's words."""
    return TAX_NOTE_TRACEABLE if traceable else TAX_NOTE_UNTRACEABLE


def method_name(code: str) -> str:
    return str(METHOD_NAMES.get(code, code))


# --- the issuing entity and the number ---------------------------------------------------------


def issuing_levels(rules: FinanceRules) -> list[str]:
    return [part.strip() for part in rules.receipt_issuing_levels.split(",") if part.strip()]


def issuing_entities(paths: Iterable[str], rules: FinanceRules) -> tuple[dict[str, int], dict[int, Territory]]:
    """Rule F3: for each receiving territory path, the id of its nearest ancestor-or-self at a level
    that issues receipts (a circolo's money is receipted by its federation); with the territories
    of those paths read on the way. One query."""
    paths = list(paths)
    chains = {path: [int(part) for part in path.strip("/").split("/") if part] for path in paths}
    wanted = set(issuing_levels(rules))
    ids = {pk for chain in chains.values() for pk in chain}
    territories = {int(t.pk): t for t in Territory.objects.filter(pk__in=ids)}
    found: dict[str, int] = {}
    for path, chain in chains.items():
        entity = next((pk for pk in reversed(chain) if pk in territories and territories[pk].level in wanted), None)
        if entity is None:
            raise LookupError(f"no territory issuing receipts above {path!r} (levels {sorted(wanted)})")
        found[path] = entity
    return found, territories


BUMP_COUNTER_SQL = (
    "UPDATE compliance_receiptcounter SET last_number = last_number + 1 "
    "WHERE entity_id = %s AND year = %s RETURNING last_number"
)


def _bump_counter_sql() -> str:
    """PostgreSQL: the new receipt's id comes back with its number (ADR 0046: no round trip of its own)."""
    if connection.vendor != "postgresql":
        return BUMP_COUNTER_SQL
    return f"{BUMP_COUNTER_SQL}, {nextval_sql(Receipt)}"


def _take_number(entity_id: int, year: int) -> tuple[int, int | None]:
    """The next number of (entity, year): the counter row locked until the caller's transaction ends.

    One statement (issue 14, P4): `UPDATE … SET last_number = last_number + 1 … RETURNING` takes the
    row lock and bumps the counter together, on PostgreSQL and SQLite alike; a concurrent issuer
    waits on the row and then adds one to the number it committed (READ COMMITTED re-reads the
    row it waited for), so numbers stay gap-free and unique (ADR 0020). First use of a year: the
    row is created in a savepoint; a concurrent creator's row wins and is then bumped like any
    other (no number is lost either way). Returns the number and, on PostgreSQL, the id of the receipt
    to insert (from its table's sequence, in the same statement; None on SQLite)."""
    if connection.get_autocommit():  # as select_for_update() refused: the lock must outlive this statement
        raise TransactionManagementError("a receipt number is taken inside the transaction recording the money")
    with connection.cursor() as cursor:
        cursor.execute(_bump_counter_sql(), [entity_id, year])
        row = cursor.fetchone()
        if row is None:
            try:
                with transaction.atomic():
                    ReceiptCounter.objects.create(entity_id=entity_id, year=year, last_number=0)
            except IntegrityError:
                pass  # created meanwhile by another transaction, now committed
            cursor.execute(_bump_counter_sql(), [entity_id, year])
            row = cursor.fetchone()
    assert row is not None
    return int(row[0]), (int(row[1]) if len(row) > 1 else None)


@dataclass(frozen=True)
class Donor:
    person_id: int | None
    name: str
    codice_fiscale: str
    address: str


def _donors(person_ids: Iterable[int | None], known: Iterable[Person] = ()) -> dict[int, Donor]:
    """The donors named on receipts; `known` people (already read by the caller, with their
    residence comune) are not read again (issue 14)."""
    found = {int(p.pk): _donor(p) for p in known}
    ids = {pk for pk in person_ids if pk is not None and pk not in found}
    if ids:
        for p in Person.objects.filter(pk__in=ids).select_related("residence_comune"):
            found[int(p.pk)] = _donor(p)
    return found


def _donor(p: Person) -> Donor:
    comune = p.residence_comune.name if p.residence_comune else ""
    place = " ".join(part for part in (p.residence_cap, comune) if part)
    address = ", ".join(part for part in (p.residence_street, place) if part)
    return Donor(int(p.pk), p.full_name[:200], p.codice_fiscale, address[:300])


def _new_receipt(
    *, kind: str, entity_id: int, territory_id: int, now: dt.datetime, rules: FinanceRules, **fields: Any
) -> Receipt:
    year = timezone.localdate(now).year
    number, receipt_id = _take_number(entity_id, year)
    receipt = Receipt(
        id=receipt_id,
        kind=kind,
        entity_id=entity_id,
        territory_id=territory_id,
        year=year,
        number=number,
        display_number=rules.receipt_number_format.format(year=year, number=number)[:30],
        issued_at=now,
        **fields,
    )
    # Nothing reads a receipt back in the transaction issuing it; a second receipt for a line (the
    # `receipt_one_per_line` constraint) is not caught, it fails the transaction, now at its end.
    queue_insert(receipt, need_id=True)
    return receipt


# --- the actions ---------------------------------------------------------------------------------


def issue_receipts_for(
    source: str,
    source_id: int,
    *,
    actor: Actor,
    donor: Person | None = None,
    lines: Sequence[ContributionLine] | None = None,
    first_time: bool = False,
) -> list[Receipt]:
    """Rule F3: a numbered receipt for each contribution line of one row (a donation, a month of a
    monthly gift, a fee with its M8 shares, an Albo fee). Call it inside the transaction recording
    the money, as late as possible (the counter rows stay locked until it commits).

    Idempotent: lines already receipted are skipped, so a replayed webhook issues nothing. Returns
    the receipts issued now. `donor`: the person the caller holds (read with its residence comune),
    used as read instead of reading the donor again. `lines`: the row's lines as the caller built
    them from the row it holds under its lock (what `lines_of` would read again; issue 14, P4).
    `first_time`: the caller moved the row to kept in this transaction, under the row's lock, so it
    has no receipt yet and none is looked for; the `receipt_one_per_line` constraint still refuses
    a second one (the transaction fails, nothing is issued twice)."""
    with transaction.atomic(savepoint=False):
        lines = [line for line in (lines_of(source, source_id) if lines is None else lines) if line.amount_cents > 0]
        if not lines:
            return []
        done = (
            set()
            if first_time
            else set(
                Receipt.objects.filter(source=source, source_id=source_id, kind=ReceiptKind.RECEIPT).values_list(
                    "territory_id", flat=True
                )
            )
        )
        lines = [line for line in lines if line.territory_id not in done]
        if not lines:
            return []
        now = timezone.now()
        rules = rules_on(timezone.localdate(now))
        entities, territories = issuing_entities({line.territory_path for line in lines}, rules)
        donors = _donors((line.person_id for line in lines), [donor] if donor is not None else [])
        # One lock order for every transaction (entity id): two fees sharing entities never deadlock.
        lines.sort(key=lambda line: (entities[line.territory_path], line.territory_id))
        issued = [_issue_line(line, entities[line.territory_path], donors, now=now, rules=rules) for line in lines]
        for receipt in issued:
            receipt.territory = territories[receipt.territory_id]
            receipt.entity = territories[receipt.entity_id]
        record(
            "compliance.issue_receipts",
            actor=actor,
            obj=issued[0],
            territory=issued[0].territory,
            data={"source": source, "source_id": source_id, "numbers": [r.display_number for r in issued]},
        )
    return issued


def _issue_line(
    line: ContributionLine, entity_id: int, donors: dict[int, Donor], *, now: dt.datetime, rules: FinanceRules
) -> Receipt:
    donor = donors.get(line.person_id) if line.person_id is not None and not line.anonymous else None
    if line.entity_code:  # rule F13: the company's money, receipted to the company, not its representative
        donor = Donor(line.person_id, line.legal_name, line.entity_code, "")
    return _new_receipt(
        kind=ReceiptKind.RECEIPT,
        entity_id=entity_id,
        territory_id=line.territory_id,
        now=now,
        rules=rules,
        source=line.source,
        source_id=line.source_id,
        donor_person_id=line.person_id,
        donor_name=donor.name if donor else "",
        donor_codice_fiscale=donor.codice_fiscale if donor else "",
        donor_address=donor.address if donor else "",
        amount_cents=line.amount_cents,
        received_at=line.received_at,
        method=line.method,
        purpose=line.purpose[:200],
        traceable=line.traceable,
        tax_note=tax_note(line.traceable),
    )


def cancel_receipts_for(
    source: str,
    source_id: int,
    *,
    actor: Actor,
    key: str,
    amount_cents: int | None = None,
    reason: str = "",
) -> list[Receipt]:
    """Rule F3, convention 10: a refund (full or partial) or a chargeback issues numbered
    cancellations (note di storno) in the issuing entity's sequence, each referring to the receipt
    it cancels and the amount; the receipt itself is never edited.

    `key` names the reversal ("refund:<id>", "dispute:<id>"): the same key twice issues nothing.
    `amount_cents` None cancels whatever is left; a part is spread over the row's receipts in
    proportion (an M8 fee has one per receiving share), the rounding on the largest."""
    with transaction.atomic(savepoint=False):
        originals = list(
            Receipt.objects.filter(source=source, source_id=source_id, kind=ReceiptKind.RECEIPT).order_by("pk")
        )
        if not originals:
            return []
        cancellations = Receipt.objects.filter(cancels__in=originals, kind=ReceiptKind.CANCELLATION)
        if cancellations.filter(cancel_key=key).exists():
            return []
        taken = {
            int(row["cancels_id"]): int(row["total"])
            for row in cancellations.values("cancels_id").annotate(total=Sum("amount_cents"))
        }
        left = {r.pk: r.amount_cents - taken.get(r.pk, 0) for r in originals}
        shares = _shares(left, amount_cents)
        now = timezone.now()
        rules = rules_on(timezone.localdate(now))
        issued = []
        for original in sorted(originals, key=lambda r: (r.entity_id, r.pk)):
            cents = shares.get(original.pk, 0)
            if cents <= 0:
                continue
            issued.append(
                _new_receipt(
                    kind=ReceiptKind.CANCELLATION,
                    entity_id=original.entity_id,
                    territory_id=original.territory_id,
                    now=now,
                    rules=rules,
                    source=source,
                    source_id=source_id,
                    donor_person_id=original.donor_person_id,
                    donor_name=original.donor_name,
                    donor_codice_fiscale=original.donor_codice_fiscale,
                    donor_address=original.donor_address,
                    amount_cents=cents,
                    received_at=original.received_at,
                    method=original.method,
                    purpose=f"Storno della ricevuta n. {original.display_number}"[:200],
                    traceable=original.traceable,
                    tax_note=original.tax_note,
                    cancels=original,
                    cancel_key=key[:60],
                    reason=reason[:200],
                )
            )
        if issued:
            record(
                "compliance.cancel_receipts",
                actor=actor,
                obj=issued[0],
                territory=issued[0].territory,
                data={
                    "source": source,
                    "source_id": source_id,
                    "key": key[:60],
                    "numbers": [r.display_number for r in issued],
                    "cancels": [r.cancels.display_number for r in issued if r.cancels is not None],
                    "amount_cents": sum(r.amount_cents for r in issued),
                },
            )
    return issued


def _shares(left: dict[int, int], amount_cents: int | None) -> dict[int, int]:
    """What each receipt gives up: all that is left, or `amount_cents` in proportion to what is left."""
    total = sum(max(cents, 0) for cents in left.values())
    if amount_cents is None or amount_cents >= total:
        return {pk: cents for pk, cents in left.items() if cents > 0}
    shares = {pk: amount_cents * cents // total for pk, cents in left.items() if cents > 0}
    largest = max(shares, key=lambda pk: (left[pk], -pk))
    shares[largest] += amount_cents - sum(shares.values())
    return shares


# --- reads ---------------------------------------------------------------------------------------


def receipts_of_source(source: str, source_ids: Iterable[int]) -> QuerySet[Receipt]:
    """The receipts and cancellations of some rows of one source (a donation and its months)."""
    return Receipt.objects.filter(source=source, source_id__in=list(source_ids)).select_related("cancels")


def person_ids_of(person: Any) -> list[int]:
    """The person and the records merged into them: receipts keep the id they were issued to."""
    return [int(person.pk), *Person.objects.filter(merged_into=person).values_list("pk", flat=True)]


def receipts_of_person(person: Any) -> QuerySet[Receipt]:
    return (
        Receipt.objects.filter(donor_person_id__in=person_ids_of(person))
        .select_related("entity", "cancels")
        .order_by("-issued_at", "-id")
    )


def search_receipts(qs: QuerySet[Receipt], query: str) -> QuerySet[Receipt]:
    """The register's search: a receipt number ("2026/000123" or "123"), a name or a codice fiscale."""
    query = query.strip()
    if not query:
        return qs
    words = Q(display_number__iexact=query) | Q(donor_codice_fiscale__iexact=query)
    if query.isdigit():
        words |= Q(number=int(query))
    words |= Q(donor_name__icontains=query)
    return qs.filter(words)
