"""Every write to the compliance parameters and candidacies (convention 1).

Both are add-only: a new reading of the law is a new `FinanceRuleSet` from a date (donations
are judged by the parameters in force on their date, so the past is never edited), and a
candidacy's mandatario and account (rule F10) are registered once. The Django admin calls
these actions; it cannot edit or delete a row (issue 10, finding 14).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from piazza.compliance.candidate_books import document_problem, document_suffix
from piazza.compliance.candidates import (
    EXPENSES_KEY,
    EXPENSES_KIND,
    candidacy_level,
    donor_totals,
    spending_cap_cents,
    spent_cents,
)
from piazza.compliance.models import (
    Candidacy,
    CandidateExpense,
    DeclarationStatus,
    ElectionKind,
    ExpenseCategory,
    FinanceRuleSet,
    JointDeclaration,
    validate_iban,
)
from piazza.core.audit import Actor, acting_user, record
from piazza.core.errors import refuse
from piazza.core.money import Money, format_eur
from piazza.ledger.accounts import get_account
from piazza.ledger.actions import post_transaction
from piazza.ledger.models import Cause
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Person
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

RULE_ROLES = {Role.ADMINISTRATOR, Role.TREASURY}
CANDIDACY_ROLES = {Role.ADMINISTRATOR, Role.ORGANISATION}


def add_finance_rule_set(*, actor: Actor, rule_set: FinanceRuleSet) -> FinanceRuleSet:
    """Save a new, not yet saved set of parameters in force from `rule_set.valid_from`."""
    action = "compliance.add_rule_set"
    national = Territory.objects.get(level=Level.NATIONAL)
    if not has_role_at(actor, national, RULE_ROLES):
        refuse(
            action,
            _("Solo l'amministrazione o la tesoreria nazionale cambiano i parametri del finanziamento."),
            actor=actor,
            territory=national,
            code="out_of_scope",
            permission=True,
        )
    if rule_set.pk is not None:
        refuse(
            action,
            _("I parametri in vigore non si modificano: aggiungi una nuova versione da una data."),
            actor=actor,
            territory=national,
            code="edit_refused",
        )
    if FinanceRuleSet.objects.filter(valid_from=rule_set.valid_from).exists():
        refuse(
            action,
            _("Esistono già parametri in vigore dal %(date)s: scegli un'altra data.")
            % {"date": f"{rule_set.valid_from:%d/%m/%Y}"},
            actor=actor,
            territory=national,
            code="duplicate_date",
            field="valid_from",
        )
    rule_set.full_clean()
    with transaction.atomic():
        rule_set.save()
        record(
            action,
            actor=actor,
            obj=rule_set,
            territory=national,
            data={
                "valid_from": rule_set.valid_from.isoformat(),
                "annual_cap_cents": rule_set.annual_cap_cents,
                "publication_threshold_cents": rule_set.publication_threshold_cents,
                "cap_scope": rule_set.cap_scope,
                "fees_count": rule_set.fees_count,
            },
        )
    return rule_set


def register_candidacy(*, actor: Actor, candidacy: Candidacy) -> Candidacy:
    """Save a new candidacy with its mandatario (F10), within the actor's territory."""
    action = "compliance.register_candidacy"
    territory = candidacy.territory
    if not has_role_at(actor, territory, CANDIDACY_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if candidacy.pk is not None:
        refuse(
            action,
            _("Una candidatura registrata non si modifica da qui."),
            actor=actor,
            territory=territory,
            code="edit_refused",
        )
    candidacy.full_clean()
    with transaction.atomic():
        candidacy.save()
        record(
            action,
            actor=actor,
            obj=candidacy,
            territory=territory,
            data={
                "candidate": candidacy.candidate_name,
                "election": candidacy.election,
                "mandatario": candidacy.mandatario_name,
            },
        )
    return candidacy


# --- the candidate journey in the back office (rules F10–F12) -----------------------------------

# Who registers candidacies and names mandatari: organisation and administration, at the level the
# election kind names (`candidates.candidacy_level`) or above. Treasurers also book expenses and
# file joint declarations.
CANDIDACY_MONEY_ROLES = CANDIDACY_ROLES | {Role.TREASURY}
DECLARATION_TYPES = {".pdf", ".jpg", ".jpeg", ".png"}
DECLARATION_MAX_BYTES = 10 * 1024 * 1024


def _require(action: str, actor: Actor, territory: Territory, roles: Iterable[str], message: str | Promise) -> None:
    if not has_role_at(actor, territory, roles):
        refuse(action, message, actor=actor, territory=territory, code="out_of_scope", permission=True)


def create_candidacy(
    *,
    actor: Actor,
    territory: Territory,
    election_kind: str,
    candidate: Person,
    election: str,
    constituency: str,
    residents: int = 0,
    elections_called_on: dt.date | None = None,
    election_day: dt.date | None = None,
    spending_cap_cents: int | None = None,
) -> Candidacy:
    """Register a candidacy at the level its election kind names, within the actor's territory.

    The mandatario is named afterwards (`name_mandatario`). Raises PermissionDenied out of scope,
    ValidationError (with the field) on bad input; writes nothing then.
    """
    action = "compliance.create_candidacy"
    _require(
        action,
        actor,
        territory,
        CANDIDACY_ROLES,
        _("Non hai un ruolo di organizzazione su %(t)s per registrare candidature.") % {"t": territory},
    )
    level = candidacy_level(election_kind)
    if territory.level != level:
        refuse(
            action,
            _(
                "Le candidature per le elezioni «%(kind)s» si registrano al livello «%(level)s»: scegli "
                "una struttura di quel livello."
            )
            % {"kind": ElectionKind(election_kind).label, "level": Level(level).label},
            actor=actor,
            territory=territory,
            code="wrong_level",
            field="territory",
        )
    if not candidate.first_name or not candidate.codice_fiscale:
        refuse(
            action,
            _("Nell'anagrafica del candidato mancano nome o codice fiscale: completala in Persone."),
            actor=actor,
            territory=territory,
            code="candidate_incomplete",
            field="candidate",
        )
    if elections_called_on and election_day and election_day < elections_called_on:
        refuse(
            action,
            _("Il giorno delle elezioni non può precedere la data di indizione."),
            actor=actor,
            territory=territory,
            code="dates",
            field="election_day",
        )
    if spending_cap_cents is not None and spending_cap_cents <= 0:
        refuse(
            action,
            _("Il tetto di spesa deve essere maggiore di zero (lascialo vuoto per quello di legge)."),
            actor=actor,
            territory=territory,
            code="cap",
            field="spending_cap",
        )
    if Candidacy.objects.filter(election=election.strip(), candidate_person=candidate).exists():
        refuse(
            action,
            _("%(name)s ha già una candidatura per «%(e)s».") % {"name": candidate.full_name, "e": election.strip()},
            actor=actor,
            territory=territory,
            code="duplicate",
            field="candidate",
        )
    candidacy = Candidacy(
        territory=territory,
        election_kind=election_kind,
        candidate_person=candidate,
        candidate_name=candidate.full_name,
        election=election.strip(),
        constituency=constituency.strip(),
        residents=residents,
        elections_called_on=elections_called_on,
        election_day=election_day,
        spending_cap_cents=spending_cap_cents,
    )
    candidacy.full_clean()
    with transaction.atomic():
        candidacy.save()
        record(
            action,
            actor=actor,
            obj=candidacy,
            territory=territory,
            data={
                "candidate": candidacy.candidate_name,
                "election": candidacy.election,
                "kind": election_kind,
                "cap_cents": spending_cap_cents,
            },
        )
    return candidacy


def name_mandatario(
    *, actor: Actor, candidacy: Candidacy, person: Person, iban: str, user: AbstractBaseUser | None = None
) -> Candidacy:
    """Name (or replace) the candidacy's mandatario and the one account they use (rule F10).

    One mandatario serves one candidate per election and one account serves one mandatario: a
    clash is refused with the other candidacy named. The audit entry keeps who was replaced.
    """
    action = "compliance.name_mandatario"
    territory = candidacy.territory
    _require(
        action, actor, territory, CANDIDACY_ROLES, _("Non hai un ruolo di organizzazione su %(t)s.") % {"t": territory}
    )
    code = canonical_codice_fiscale(person.codice_fiscale or "")
    if not code:
        refuse(
            action,
            _("%(name)s non ha un codice fiscale in anagrafica: il mandatario deve averlo.")
            % {"name": person.full_name},
            actor=actor,
            territory=territory,
            code="no_codice_fiscale",
            field="codice_fiscale",
        )
    if candidacy.candidate_person_id is not None and candidacy.candidate_person_id == person.pk:
        refuse(
            action,
            _("Il candidato non può essere il proprio mandatario."),
            actor=actor,
            territory=territory,
            code="self_mandatario",
            field="codice_fiscale",
        )
    iban = "".join(iban.split()).upper()
    try:
        validate_iban(iban)
    except ValidationError as exc:
        refuse(action, exc.messages[0], actor=actor, territory=territory, code="invalid_iban", field="iban")
    others = Candidacy.objects.filter(election=candidacy.election).exclude(pk=candidacy.pk)
    clash = others.filter(mandatario_codice_fiscale=code).first()
    if clash is not None:
        refuse(
            action,
            _("%(name)s è già mandatario di %(other)s in questa elezione: un mandatario serve un solo candidato.")
            % {"name": person.full_name, "other": clash.candidate_name},
            actor=actor,
            territory=territory,
            code="mandatario_taken",
            field="codice_fiscale",
        )
    clash = others.filter(mandatario_iban=iban).first()
    if clash is not None:
        refuse(
            action,
            _("Questo conto è già il conto del mandatario di %(other)s: ogni mandatario usa un conto suo.")
            % {"other": clash.candidate_name},
            actor=actor,
            territory=territory,
            code="iban_taken",
            field="iban",
        )
    previous = candidacy.mandatario_name
    with transaction.atomic():
        locked = Candidacy.objects.select_for_update().get(pk=candidacy.pk)
        locked.mandatario_person = person
        locked.mandatario_name = person.full_name
        locked.mandatario_codice_fiscale = code
        locked.mandatario_iban = iban
        locked.mandatario_user = user
        locked.full_clean()
        locked.save()
        record(
            action,
            actor=actor,
            obj=locked,
            territory=territory,
            data={"mandatario": locked.mandatario_name, "replaced": previous or None},
        )
    return locked


def book_candidate_expense(
    *,
    actor: Actor,
    candidacy: Candidacy,
    description: str,
    supplier: str,
    amount: Money,
    incurred_on: dt.date,
    idempotency_key: str,
    category: ExpenseCategory | None = None,
    receipt: File | None = None,
) -> CandidateExpense:
    """Book an electoral expense to the mandatario's account (Dr mandatario / Cr expenses owed).

    Rule F11: refused when it would take the expenses past the spending cap — judged under a lock
    on the candidacy, so two expenses booked at once cannot beat it. Idempotent on the key.
    The category (one of the declaration's, a parameter list) and the receipt (PDF/JPG/PNG,
    private storage) go with it; without them the declaration lists the expense as incomplete.
    """
    action = "compliance.book_expense"
    territory = candidacy.territory
    _require(
        action,
        actor,
        territory,
        CANDIDACY_MONEY_ROLES,
        _("Non hai un ruolo di organizzazione o tesoreria su %(t)s.") % {"t": territory},
    )
    done = CandidateExpense.objects.filter(idempotency_key=idempotency_key).first()
    if done is not None:
        return done
    if not candidacy.has_mandatario:  # rule F10
        refuse(
            action,
            _("Prima nomina il mandatario: le spese passano solo dal suo conto."),
            actor=actor,
            territory=territory,
            code="no_mandatario",
        )
    if amount.cents <= 0:
        refuse(
            action,
            _("L'importo deve essere maggiore di zero."),
            actor=actor,
            territory=territory,
            code="bad_amount",
            field="amount",
        )
    if not description.strip() or not supplier.strip():
        refuse(
            action,
            _("Scrivi fornitore e descrizione della spesa."),
            actor=actor,
            territory=territory,
            code="description",
            field="description",
        )
    if category is not None and not category.active:
        refuse(
            action,
            _("La categoria «%(c)s» non è più in uso: scegline un'altra.") % {"c": category.label},
            actor=actor,
            territory=territory,
            code="category",
            field="category",
        )
    if receipt is not None:
        problem = document_problem(receipt)
        if problem is not None:
            refuse(action, problem, actor=actor, territory=territory, code="receipt", field="receipt")
    over: tuple[int, int] | None = None
    with transaction.atomic():
        Candidacy.objects.select_for_update().get(pk=candidacy.pk)  # serialise expenses per candidacy
        cap = spending_cap_cents(candidacy)
        spent = spent_cents(candidacy)
        if spent + amount.cents > cap:
            over = (cap, spent)
        else:
            expense = CandidateExpense.objects.create(
                candidacy=candidacy,
                description=description.strip()[:200],
                supplier=supplier.strip()[:150],
                amount_cents=amount.cents,
                incurred_on=incurred_on,
                idempotency_key=idempotency_key,
                booked_by=acting_user(actor),
                category=category,
            )
            if receipt is not None:
                expense.receipt.save(f"spesa-{expense.pk}{document_suffix(receipt)}", receipt, save=False)
            mandatario = get_account("mandatario", owner=candidacy, territory=territory, key=EXPENSES_KEY)
            owed = get_account(EXPENSES_KIND, owner=candidacy, territory=territory)
            expense.ledger_transaction = post_transaction(
                actor=actor,
                cause=Cause.TRANSFER,
                memo=f"Spesa elettorale: {expense.supplier}"[:255],
                entries=[(mandatario, amount), (owed, -amount)],
                idempotency_key=f"candidate:expense:{expense.pk}",
                about=expense,
                audit=False,
            )
            expense.save(update_fields=["ledger_transaction", "receipt"])
            record(
                action,
                actor=actor,
                obj=expense,
                territory=territory,
                data={
                    "candidacy": candidacy.pk,
                    "amount_cents": amount.cents,
                    "spent_cents": spent + amount.cents,
                    "cap_cents": cap,
                    "category": category.code if category else None,
                    "receipt": expense.receipt.name or None,
                },
            )
    if over is not None:  # refused outside the atomic block, so the refusal's audit entry stays (rule F11)
        cap, spent = over
        refuse(
            action,
            _(
                "Spesa rifiutata: con %(amount)s le spese arriverebbero a %(total)s, oltre il tetto di spesa "
                "di %(cap)s (restano %(left)s). Nessuna spesa è stata registrata."
            )
            % {
                "amount": format_eur(amount.cents),
                "total": format_eur(spent + amount.cents),
                "cap": format_eur(cap),
                "left": format_eur(max(cap - spent, 0)),
            },
            actor=actor,
            territory=territory,
            code="spending_cap",
            field="amount",
        )
    return expense


# The first bytes of each accepted type: a renamed executable is not a signed PDF.
DECLARATION_MAGIC = {
    ".pdf": (b"%PDF-",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
}


def _looks_like(document: File, suffix: str) -> bool:
    document.seek(0)
    head = document.read(8)
    document.seek(0)
    return bool(head) and head.startswith(DECLARATION_MAGIC[suffix])


def add_joint_declaration(
    *,
    actor: Actor,
    candidacy: Candidacy,
    donor: Person,
    document: File,
    signed_on: dt.date,
    status: str = DeclarationStatus.SIGNED,
    filed_on: dt.date | None = None,
) -> JointDeclaration:
    """Rule F12: store the joint declaration signed by a donor above the threshold and the candidate.

    One per donor per candidacy: uploading again replaces the document and status (audited).
    """
    action = "compliance.add_joint_declaration"
    territory = candidacy.territory
    _require(
        action,
        actor,
        territory,
        CANDIDACY_MONEY_ROLES,
        _("Non hai un ruolo di organizzazione o tesoreria su %(t)s.") % {"t": territory},
    )
    if donor.pk not in {d.person_id for d in donor_totals(candidacy)}:
        refuse(
            action,
            _("%(name)s non risulta tra chi ha donato a questa candidatura.") % {"name": donor.full_name},
            actor=actor,
            territory=territory,
            code="not_a_donor",
            field="donor",
        )
    name = str(getattr(document, "name", "") or "")
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if document is None or suffix not in DECLARATION_TYPES or not _looks_like(document, suffix):
        refuse(
            action,
            _("Carica la dichiarazione firmata in PDF, JPG o PNG."),
            actor=actor,
            territory=territory,
            code="document_type",
            field="document",
        )
    if int(getattr(document, "size", 0) or 0) > DECLARATION_MAX_BYTES:
        refuse(
            action,
            _("Il file supera 10 MB: scansionalo a una risoluzione più bassa."),
            actor=actor,
            territory=territory,
            code="document_size",
            field="document",
        )
    if signed_on > timezone.localdate():
        refuse(
            action,
            _("La data della firma non può essere nel futuro."),
            actor=actor,
            territory=territory,
            code="signed_on",
            field="signed_on",
        )
    if status == DeclarationStatus.FILED and filed_on is None:
        refuse(
            action,
            _("Indica la data del deposito della dichiarazione."),
            actor=actor,
            territory=territory,
            code="filed_on",
            field="filed_on",
        )
    with transaction.atomic():
        declaration = JointDeclaration.objects.select_for_update().filter(candidacy=candidacy, donor=donor).first()
        replaced = declaration is not None
        if declaration is None:
            declaration = JointDeclaration(candidacy=candidacy, donor=donor)
        declaration.document.save(f"dichiarazione-{candidacy.pk}-{donor.pk}{suffix}", document, save=False)
        declaration.status = status
        declaration.signed_on = signed_on
        declaration.filed_on = filed_on if status == DeclarationStatus.FILED else None
        declaration.uploaded_by = acting_user(actor)
        declaration.save()
        record(
            action,
            actor=actor,
            obj=declaration,
            territory=territory,
            data={"candidacy": candidacy.pk, "donor": donor.pk, "status": status, "replaced": replaced},
        )
    return declaration
