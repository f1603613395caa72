"""Demo content: this year's and last year's fee schedules, members in the Bologna circoli
(new and renewed, a few paid with one card to show the anomaly report), a congress."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.utils import timezone

from piazza.membership.actions import applicant as applicant_actions
from piazza.membership.actions import card as card_actions
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.actions import review as review_actions
from piazza.membership.actions import transfer as transfer_actions
from piazza.membership.models import AlboElection, Delivery, FeeSchedule, Membership, PaymentMethod
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Kind, Level, Territory

FIRST = [
    ("Giulia", "F"),
    ("Marco", "M"),
    ("Anna", "F"),
    ("Luca", "M"),
    ("Sara", "F"),
    ("Paolo", "M"),
    ("Elena", "F"),
    ("Franco", "M"),
    ("Chiara", "F"),
    ("Davide", "M"),
    ("Marta", "F"),
    ("Giorgio", "M"),
]
LAST = [
    "Rossi",
    "Bianchi",
    "Verdi",
    "Ferrari",
    "Russo",
    "Esposito",
    "Romano",
    "Gallo",
    "Conti",
    "Greco",
    "Marino",
    "Bruno",
    "Ricci",
    "Lombardi",
    "Moretti",
    "Barbieri",
]


def _schedule(year: int) -> FeeSchedule:
    return FeeSchedule.objects.get_or_create(
        year=year,
        defaults={
            "base_fee_cents": 1500,
            "national_surcharge_cents": 500 if year <= 2023 else 0,
            "regional_deadline": dt.date(year, 1, 10),
            "opens_at": dt.datetime(year - 1, 11, 1, tzinfo=timezone.get_current_timezone()),
            "closes_at": dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=timezone.get_current_timezone()),
        },
    )[0]


def seed(*, people: int, stdout: Any) -> None:
    if Membership.objects.exists():
        return
    rng = random.Random(7)
    this_year = timezone.localdate().year
    for year in (this_year - 1, this_year):
        _schedule(year)
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    circoli = list(Territory.objects.filter(parent=bologna, level=Level.CIRCOLO, kind=Kind.TERRITORIAL))
    if not circoli:
        return
    comune = Comune.objects.get(istat_code="037006")
    count = max(12, min(people // 5, 120))
    made = 0
    for i in range(count):
        first, sex = FIRST[i % len(FIRST)]
        last = LAST[(i * 7) % len(LAST)]
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 55))
        circolo = rng.choice(circoli)
        data = applicant_actions.JoinData(
            first_name=first,
            last_name=last,
            birth_date=birth,
            sex=sex,
            birth_comune=comune,
            codice_fiscale=make_codice_fiscale(
                first_name=first, last_name=last, sex=sex, birth_date=birth, belfiore=comune.belfiore
            ),
            residence_street=f"Via dell'Indipendenza {i + 1}",
            residence_comune=comune,
            email=f"iscritto{i}@example.org",
            declarations_accepted=True,
            art9_authorised=True,
        )
        residence_ok = circolo.comuni.filter(pk=comune.pk).exists()
        if not residence_ok:
            continue
        for year in [this_year - 1, this_year] if i % 3 else [this_year]:
            when = dt.datetime(year, rng.randint(1, 3), rng.randint(1, 28), 10, tzinfo=timezone.get_current_timezone())
            try:
                m = join_actions.apply_for_membership(
                    actor=None,
                    data=data,
                    circolo=circolo,
                    year=year,
                    now=when,
                    is_renewal=year == this_year and i % 3 != 0,
                )
                m = payment_actions.mark_paid(
                    actor=None,
                    membership=m,
                    method=PaymentMethod.CARD,
                    paid_at=when,
                    fingerprint="demo-shared-card" if i < 4 and year == this_year else "",
                    enforce_limits=False,
                )
                card_actions.deliver_card(actor=None, membership=m, delivery=Delivery.ONLINE, now=when)
                made += 1
            except Exception as exc:
                stdout.write(f"  tesseramento demo: saltata un'iscrizione ({exc})\n")
    review_actions.detect_anomalies(actor=None, federation=bologna, year=this_year)
    # The screens of transfers (M23) and of the Albo elections have something to show.
    member = Membership.objects.filter(year=this_year, circolo__in=circoli).select_related("circolo").first()
    destination = next((c for c in circoli if member is not None and c.pk != member.circolo_id), None)
    if member is not None and destination is not None:
        transfer_actions.request_transfer(
            actor=None, membership=member, to_circolo=destination, reason="Domicilio per lavoro nel quartiere"
        )
    now = timezone.now()
    AlboElection.objects.get_or_create(
        name=f"Primarie {this_year + 1}",
        defaults={
            "territory": Territory.objects.get(level=Level.NATIONAL),
            "fee_cents": 200,
            "opens_at": now - dt.timedelta(days=1),
            "closes_at": now + dt.timedelta(days=60),
        },
    )
    stdout.write(f"Tesseramento: {made} iscrizioni dimostrative (anni {this_year - 1}–{this_year}).\n")
