"""Rule F13: contributions from legal persons (companies, associations).

A legal person gives with the resolution of its board attached; public bodies, companies under
public control and companies with more than a threshold of public capital (20%, a parameter in
`FinanceRuleSet`) may not give. The giver attests each point; the keys and the version of their
texts are recorded with the contribution, as the F4 attestations are for natural persons.

Compliance provides the rules (`check_legal_giver`, before anything is written) and the record
(`record_legal_giver`, inside the caller's transaction); funding's form and action call them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import iva

from piazza.compliance.candidate_books import document_problem, document_suffix, rule_set_on
from piazza.compliance.models import GiverKind, LegalGiver
from piazza.core.audit import Actor, record
from piazza.core.errors import refuse

# Bump the version whenever a text changes: it is stored with each contribution.
LEGAL_ATTESTATION_VERSION = "2026-12"
LEGAL_ATTESTATIONS: list[tuple[str, Any]] = [
    ("not_public_body", gettext_lazy("Dichiaro che chi dona non è un ente pubblico.")),
    (
        "not_public_control",
        gettext_lazy("Dichiaro che chi dona non è controllato da enti pubblici, direttamente o indirettamente."),
    ),
    (
        "board_resolution",
        gettext_lazy("Dichiaro che il contributo è stato deliberato dall'organo sociale competente."),
    ),
    (
        "not_foreign",
        gettext_lazy("Dichiaro che chi dona è soggetto a imposte in Italia e non versa per conto di enti esteri."),
    ),
]
LEGAL_ATTESTATION_KEYS = [key for key, _text in LEGAL_ATTESTATIONS]
LEGAL_KINDS = (GiverKind.COMPANY, GiverKind.ASSOCIATION)


def canonical_entity_code(value: str) -> str:
    """A VAT number or a legal person's codice fiscale (11 digits, same check digit), compacted."""
    return str(iva.compact(value or "")).removeprefix("IT")


def entity_code_problem(value: str) -> str | None:
    """Why `value` is not a valid Italian VAT number / legal-person codice fiscale (python-stdnum)."""
    try:
        iva.validate(canonical_entity_code(value))
    except StdnumError:
        return _("Partita IVA o codice fiscale dell'ente non valido: sono 11 cifre, controlla la visura camerale.")
    return None


def public_capital_threshold(day: dt.date | None = None) -> Decimal:
    return Decimal(rule_set_on(day or timezone.localdate()).public_capital_threshold_percent)


@dataclass
class LegalGiverInput:
    """What the legal representative typed for the entity, cleaned by the form."""

    kind: str
    legal_name: str
    entity_code: str
    public_capital_percent: Decimal
    resolution: File | None
    resolution_date: dt.date | None
    attestations: list[str] = field(default_factory=list)


def missing_legal_attestations(given: Iterable[str]) -> list[str]:
    given_set = set(given)
    return [key for key in LEGAL_ATTESTATION_KEYS if key not in given_set]


def check_legal_giver(
    *, action: str, actor: Actor, territory: Any, giver: LegalGiverInput, on: dt.date | None = None
) -> None:
    """Rule F13: refuse (with the reason and the field) a legal person that may not give, before
    anything is written. Returns when the giver is admissible."""
    day = on or timezone.localdate()
    threshold = public_capital_threshold(day)

    def no(message: str, code: str, field_name: str) -> None:
        refuse(action, message, actor=actor, territory=territory, code=code, field=field_name)

    if giver.kind not in LEGAL_KINDS:
        no(_("Scegli se doni a nome di un'azienda o di un'associazione."), "giver_kind", "giver_kind")
    if not giver.legal_name.strip():
        no(_("Scrivi la ragione sociale come nella visura camerale."), "legal_name", "legal_name")
    problem = entity_code_problem(giver.entity_code)
    if problem is not None:
        no(problem, "entity_code", "entity_code")
    if "not_public_body" not in giver.attestations:
        no(
            _("Gli enti pubblici non possono finanziare i partiti: se chi dona non è un ente pubblico, dichiaralo."),
            "public_body",
            "legal_attest_not_public_body",
        )
    if not Decimal(0) <= giver.public_capital_percent <= Decimal(100):
        no(_("La quota di capitale pubblico è una percentuale tra 0 e 100."), "public_capital", "public_capital")
    if giver.public_capital_percent > threshold:
        no(
            _(
                "Non possiamo accettare il contributo: le società con più del %(t)s%% di capitale pubblico "
                "non possono finanziare i partiti (la quota indicata è %(p)s%%)."
            )
            % {"t": f"{threshold.normalize():f}", "p": f"{giver.public_capital_percent.normalize():f}"},
            "public_capital",
            "public_capital",
        )
    if "not_public_control" not in giver.attestations:
        no(
            _(
                "Le società controllate da enti pubblici non possono finanziare i partiti: se chi dona non lo è, "
                "dichiaralo."
            ),
            "public_control",
            "legal_attest_not_public_control",
        )
    missing = missing_legal_attestations(giver.attestations)
    if missing:
        no(
            _("Per legge servono tutte le dichiarazioni dell'ente: mancano %(n)d conferme.") % {"n": len(missing)},
            "legal_attestations",
            f"legal_attest_{missing[0]}",
        )
    if giver.resolution is None:
        no(
            _("Allega la delibera dell'organo sociale che approva il contributo (PDF, JPG o PNG)."),
            "resolution",
            "resolution",
        )
    problem = document_problem(giver.resolution)
    if problem is not None:
        no(problem, "resolution", "resolution")
    if giver.resolution_date is None or giver.resolution_date > day:
        no(_("Indica la data della delibera (non nel futuro)."), "resolution_date", "resolution_date")


def record_legal_giver(
    *, actor: Actor, contribution: models.Model, territory: Any, giver: LegalGiverInput, action: str
) -> LegalGiver:
    """Store the legal person behind `contribution` with its resolution and attestations (F13).
    Call inside the caller's transaction, after `check_legal_giver`."""
    assert giver.resolution is not None and giver.resolution_date is not None
    found = LegalGiver(
        kind=giver.kind,
        legal_name=giver.legal_name.strip()[:200],
        entity_code=canonical_entity_code(giver.entity_code),
        public_capital_percent=giver.public_capital_percent,
        resolution_date=giver.resolution_date,
        attestations=sorted(giver.attestations),
        attestation_version=LEGAL_ATTESTATION_VERSION,
        threshold_percent=public_capital_threshold(),
        contribution_type=ContentType.objects.get_for_model(contribution),
        contribution_id=str(contribution.pk),
        territory=territory,
    )
    found.resolution.save(
        f"delibera-{found.entity_code}-{contribution.pk}{document_suffix(giver.resolution)}",
        giver.resolution,
        save=False,
    )
    found.save()
    record(
        action,
        actor=actor,
        obj=found,
        territory=territory,
        data={
            "kind": giver.kind,
            "entity_code": found.entity_code,
            "public_capital_percent": str(giver.public_capital_percent),
            "attestations": LEGAL_ATTESTATION_VERSION,
            "contribution": f"{contribution._meta.label_lower}:{contribution.pk}",
        },
    )
    return found


def legal_giver_of(contribution: models.Model) -> LegalGiver | None:
    return LegalGiver.objects.for_object(contribution).first()


def legal_givers_of(model: type[models.Model], ids: Iterable[Any]) -> list[LegalGiver]:
    """The legal persons behind those of `ids` (contributions of `model`) that came from one (F11, F13)."""
    content_type = ContentType.objects.get_for_model(model)
    return list(LegalGiver.objects.filter(contribution_type=content_type, contribution_id__in=[str(i) for i in ids]))
