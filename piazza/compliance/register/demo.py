"""Demo content of the donor register (`seed_demo`, after funding): two services in kind above the
threshold in the Bologna federation, an election period in Emilia-Romagna, the national register
refreshed and published once (by the demo national treasurer), then a third contribution in kind
so the board shows one entry due. In development, a self-signed demo certificate for the PDF.
Re-running adds nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from piazza.compliance.models import ElectionPeriodKind, RegisterPublication
from piazza.compliance.register.actions import (
    declare_election_period,
    publish_register,
    record_in_kind,
    refresh_register,
)
from piazza.compliance.register.pdf import make_self_signed, signing_credentials
from piazza.people.models import Person
from piazza.territory.models import Level, Territory

NATIONAL_TREASURER = "tesoreria"
FEDERATION_TREASURER = "tesoriera"
NATIONAL_ADMIN = "nazionale"
GIFTS = [
    ("Stampa di 3.000 volantini per la festa del circolo", 65_000, 40),
    ("Service audio e palco per il comizio di chiusura", 120_000, 25),
    ("Sala convegni per l'assemblea provinciale", 80_000, 3),
]


def _evidence() -> ContentFile[bytes]:
    return ContentFile(b"%PDF-1.4\n% preventivo dimostrativo\n%%EOF\n", name="preventivo.pdf")


def seed(*, people: int, stdout: Any) -> None:
    if settings.PIAZZA_ENV == "development" and signing_credentials() is None:
        make_self_signed(Path(settings.REGISTER_DEMO_SIGNING_DIR), "piazza - certificato DIMOSTRATIVO")
        stdout.write("  registro: certificato di firma dimostrativo in var/register-signing/\n")
    bologna = Territory.objects.filter(level=Level.FEDERATION, code="037").first()
    national = Territory.objects.filter(level=Level.NATIONAL).first()
    if bologna is None or national is None or RegisterPublication.objects.exists():
        return
    users = get_user_model().objects
    fed_treasurer = users.filter(username=FEDERATION_TREASURER).first()
    treasurer = users.filter(username=NATIONAL_TREASURER).first()
    admin = users.filter(username=NATIONAL_ADMIN).first()
    donors = list(
        Person.objects.filter(
            territory__path__startswith=bologna.path, erased_at__isnull=True, merged_into__isnull=True
        ).order_by("pk")[:3]
    )
    if fed_treasurer is None or len(donors) < 3:
        return
    today = timezone.localdate()
    year = today.year
    emilia = bologna.parent
    if admin is not None and emilia is not None:
        declare_election_period(
            actor=admin,
            territory=emilia,
            kind=ElectionPeriodKind.ELECTION,
            election_day=today + dt.timedelta(days=120),
            description="Elezioni regionali dell'Emilia-Romagna (dimostrazione)",
        )

    def give(index: int) -> None:
        description, cents, days_ago = GIFTS[index]
        received = max(today - dt.timedelta(days=days_ago), dt.date(year, 1, 1))
        record_in_kind(
            actor=fed_treasurer,
            person=donors[index],
            territory=bologna,
            description=description,
            value_cents=cents,
            received_on=received,
            evidence=_evidence(),
            publication_accepted=True,
        )

    give(0)
    give(1)
    refresh_register(actor=None, year=year)
    if treasurer is not None:
        publish_register(actor=treasurer, entity=national, year=year)
    give(2)
    refresh_register(actor=None, year=year)
    stdout.write(f"  registro dei contributi {year}: 3 contributi in natura, una versione pubblicata\n")
