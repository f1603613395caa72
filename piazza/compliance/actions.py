"""Every write to the compliance parameters and candidacies (convention 1).

Both are add-only: a new reading of the law is a new `FinanceRuleSet` from a date (donations
are judged by the parameters in force on their date, so the past is never edited), and a
candidacy's mandatario and account (rule F10) are registered once. The Django admin calls
these actions; it cannot edit or delete a row (issue 10, finding 14).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from piazza.compliance.models import Candidacy, FinanceRuleSet
from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

RULE_ROLES = {Role.ADMINISTRATOR, Role.TREASURY}
CANDIDACY_ROLES = {Role.ADMINISTRATOR, Role.ORGANISATION}


def add_finance_rule_set(*, actor: Actor, rule_set: FinanceRuleSet) -> FinanceRuleSet:
    """Save a new, not yet saved set of parameters in force from `rule_set.valid_from`."""
    action = "compliance.add_rule_set"
    national = Territory.objects.get(level=Level.NATIONAL)
    if not has_role_at(actor, national, RULE_ROLES):
        refuse(action, _("Solo l'amministrazione o la tesoreria nazionale cambiano i parametri del finanziamento."),
               actor=actor, territory=national, code="out_of_scope", permission=True)
    if rule_set.pk is not None:
        refuse(action, _("I parametri in vigore non si modificano: aggiungi una nuova versione da una data."),
               actor=actor, territory=national, code="edit_refused")
    if FinanceRuleSet.objects.filter(valid_from=rule_set.valid_from).exists():
        refuse(action, _("Esistono già parametri in vigore dal %(date)s: scegli un'altra data.")
               % {"date": f"{rule_set.valid_from:%d/%m/%Y}"}, actor=actor, territory=national,
               code="duplicate_date", field="valid_from")
    rule_set.full_clean()
    with transaction.atomic():
        rule_set.save()
        record(action, actor=actor, obj=rule_set, territory=national, data={
            "valid_from": rule_set.valid_from.isoformat(), "annual_cap_cents": rule_set.annual_cap_cents,
            "publication_threshold_cents": rule_set.publication_threshold_cents, "cap_scope": rule_set.cap_scope,
            "fees_count": rule_set.fees_count})
    return rule_set


def register_candidacy(*, actor: Actor, candidacy: Candidacy) -> Candidacy:
    """Save a new candidacy with its mandatario (F10), within the actor's territory."""
    action = "compliance.register_candidacy"
    territory = candidacy.territory
    if not has_role_at(actor, territory, CANDIDACY_ROLES):
        refuse(action, _("Non hai un ruolo di organizzazione su %(t)s.") % {"t": territory}, actor=actor,
               territory=territory, code="out_of_scope", permission=True)
    if candidacy.pk is not None:
        refuse(action, _("Una candidatura registrata non si modifica da qui."), actor=actor, territory=territory,
               code="edit_refused")
    candidacy.full_clean()
    with transaction.atomic():
        candidacy.save()
        record(action, actor=actor, obj=candidacy, territory=territory, data={
            "candidate": candidacy.candidate_name, "election": candidacy.election,
            "mandatario": candidacy.mandatario_name})
    return candidacy
