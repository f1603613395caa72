"""Demo content of the compliance app (`seed_demo`): one municipal candidacy in the Bologna
federation with its mandatario elettorale (rule F10), so the candidate campaign select (offered to
the federation's officials and to its circoli) and the mandatario's team role can be tried, and
the «Candidature» section has something to show. Re-running adds nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from piazza.compliance.models import Candidacy, ElectionKind
from piazza.core.audit import record
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Level, Territory

ELECTION = "Elezioni comunali di Bologna 2027"
MANDATARIO_IBAN = "IT46U0306909606100000077777"
MANDATARIO_USERNAME = "mandataria"


def seed(*, people: int, stdout: Any) -> None:
    bologna = Territory.objects.filter(level=Level.FEDERATION, code="037").first()
    if bologna is None or Candidacy.objects.filter(election=ELECTION).exists():
        return
    comune = Comune.objects.get(istat_code="037006")
    users = get_user_model().objects
    mandataria, created = users.get_or_create(
        username=MANDATARIO_USERNAME, defaults={"first_name": "Laura", "last_name": "Neri"}
    )
    if created:
        mandataria.set_unusable_password()
        mandataria.save(update_fields=["password"])
    candidacy = Candidacy(
        territory=bologna,
        election_kind=ElectionKind.MUNICIPAL,
        candidate_name="Giovanna Esposito",
        election=ELECTION,
        constituency="Comune di Bologna",
        residents=387_971,
        elections_called_on=dt.date(2027, 3, 15),
        election_day=dt.date(2027, 5, 30),
        mandatario_name="Laura Neri",
        mandatario_user=mandataria,
        mandatario_iban=MANDATARIO_IBAN,
        mandatario_codice_fiscale=make_codice_fiscale(
            first_name="Laura", last_name="Neri", sex="F", birth_date=dt.date(1979, 6, 2), belfiore=comune.belfiore
        ),
    )
    candidacy.full_clean()
    with transaction.atomic():
        candidacy.save()
        record(
            "compliance.register_candidacy",
            actor=None,
            obj=candidacy,
            territory=bologna,
            data={"candidate": candidacy.candidate_name, "mandatario": candidacy.mandatario_name},
        )
    stdout.write(f"  candidatura demo: {candidacy.candidate_name}, mandataria {candidacy.mandatario_name}\n")
