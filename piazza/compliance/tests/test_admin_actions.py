"""Finance rules and candidacies change only through compliance.actions: the admin adds through
them (with an audit entry) and cannot change or delete a row (issue 10, finding 14)."""

import datetime as dt

import pytest
from django.urls import reverse

from piazza.compliance.models import Candidacy, FinanceRuleSet
from piazza.core.models import AuditEntry
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db

RULES = {
    "valid_from": "2027-01-01",
    "publication_threshold_cents": 50_000,
    "annual_cap_cents": 10_000_000,
    "cap_scope": "party",
    "fees_count": "on",
    "candidate_exemption_cents": 250_000,
    "candidate_cap_base_cents": 5_200_000,
    "candidate_cap_per_resident_cents": 1,
    "itemise_threshold_cents": 50_000,
    "joint_declaration_threshold_cents": 250_000,
    "register_deadline_months": 1,
    "election_deadline_days": 15,
    "election_period_months": 6,
    "receipt_issuing_levels": "national,region,federation",  # rule F3
    "receipt_number_format": "{year}/{number:06d}",
    # rules F7/F8 (tax statements); fees not ticked: they are not deductible by default
    "tax_credit_rate_bp": 2600,
    "tax_credit_floor_cents": 3_000,
    "tax_credit_ceiling_cents": 3_000_000,
    "tax_credit_levels": "national,region,federation",
    "declaration_months": 3,
    "public_capital_threshold_percent": "20",
    "note": "legge",
}


def candidacy_data(tree, **over):
    data = {
        "territory": tree.bologna.pk,
        "election_kind": "national",
        "candidate_name": "Anna Verdi",
        "election": "Politiche 2027",
        "constituency": "Bologna 1",
        "residents": 300_000,
        "mandatario_name": "Luca Bianchi",
        "mandatario_codice_fiscale": "BNCLCU80A01A944X",
        "mandatario_iban": "IT60X0542811101000000123456",
    }
    data.update(over)
    return data


def test_rule_set_is_added_through_the_action_and_never_edited(tree, national_admin):
    client = verified_client(national_admin)
    response = client.post(reverse("admin:compliance_financeruleset_add"), RULES)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule_set = FinanceRuleSet.objects.get(valid_from=dt.date(2027, 1, 1))
    assert AuditEntry.objects.filter(action="compliance.add_rule_set", object_id=str(rule_set.pk)).exists()
    url = reverse("admin:compliance_financeruleset_change", args=[rule_set.pk])
    assert client.get(url).status_code == 200  # opens, read-only
    assert client.post(url, {**RULES, "annual_cap_cents": 1}).status_code == 403
    rule_set.refresh_from_db()
    assert rule_set.annual_cap_cents == 10_000_000
    delete = reverse("admin:compliance_financeruleset_delete", args=[rule_set.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert FinanceRuleSet.objects.filter(pk=rule_set.pk).exists()


def test_candidacy_is_registered_through_the_action_and_never_edited(tree, national_admin):
    client = verified_client(national_admin)
    response = client.post(reverse("admin:compliance_candidacy_add"), candidacy_data(tree))
    assert response.status_code == 302, response.content.decode()[:2000]
    candidacy = Candidacy.objects.get()
    assert AuditEntry.objects.filter(action="compliance.register_candidacy", object_id=str(candidacy.pk)).exists()
    url = reverse("admin:compliance_candidacy_change", args=[candidacy.pk])
    assert client.get(url).status_code == 200
    moved = candidacy_data(tree, territory=tree.modena.pk, mandatario_iban="IT02L1234512345123456789012")
    assert client.post(url, moved).status_code == 403
    candidacy.refresh_from_db()
    assert (candidacy.territory_id, candidacy.mandatario_iban) == (tree.bologna.pk, "IT60X0542811101000000123456")
