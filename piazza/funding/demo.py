"""Demo content of the funding app (`seed_demo`, after the people seeder): live campaigns at
circolo, federation and national level, a national matching pool for Emilia-Romagna, a
peer-to-peer page, and gifts paid through the sandbox card provider — the real flow, so the
thermometers, the ledger and the payer pages agree. Re-running adds nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from piazza.compliance.rules import ATTESTATION_KEYS
from piazza.funding.actions import campaigns as campaigns_actions
from piazza.funding.actions import donations as donations_actions
from piazza.funding.actions import pools as pools_actions
from piazza.funding.models import Campaign, Frequency, FundingModel, PoolMode
from piazza.payments.actions.lifecycle import pay
from piazza.payments.models import Payment
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Level, Role, RoleAssignment, Territory

FIRST = [
    ("Giulia", "F"),
    ("Luca", "M"),
    ("Anna", "F"),
    ("Paolo", "M"),
    ("Sara", "F"),
    ("Marco", "M"),
    ("Chiara", "F"),
    ("Davide", "M"),
    ("Elena", "F"),
    ("Matteo", "M"),
]
LAST = ["Rossi", "Bianchi", "Ferrari", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno"]
AMOUNTS = [500, 1000, 1000, 2500, 2500, 2500, 5000, 5000, 10000, 25000]
SLUGS = ("demo-tetto-casa-del-popolo", "demo-feste-de-l-unita-bologna", "demo-scuola-di-politica")


def seed(*, people: int, stdout: Any) -> None:
    if Campaign.objects.filter(slug__in=SLUGS).exists():
        stdout.write("Raccolte demo: già presenti.")
        return
    users = get_user_model().objects
    secretary, treasurer, national_admin = (users.get(username=u) for u in ("segretario", "tesoriera", "nazionale"))
    national = Territory.objects.get(level=Level.NATIONAL)
    emilia = Territory.objects.get(level=Level.REGION, code="08")
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    centro = Territory.objects.get(parent=bologna, name="Circolo PD Bologna Centro")
    # A national campaign is approved by another national official than its author.
    approver, created = users.get_or_create(
        username="tesoreria.nazionale", defaults={"first_name": "Franco", "last_name": "Galli"}
    )
    if created:
        approver.set_unusable_password()
        approver.save(update_fields=["password"])
    RoleAssignment.objects.get_or_create(user=approver, territory=national, role=Role.TREASURY, revoked_at=None)

    deadline = timezone.now() + dt.timedelta(days=40)
    roof = _campaign(
        secretary,
        treasurer,
        centro,
        SLUGS[0],
        "Un tetto nuovo per la Casa del Popolo",
        "Le tegole perdono: ripariamo il tetto prima dell'inverno.",
        800_000,
        deadline,
        [("Tegole e lattoneria", 520_000), ("Ponteggio", 180_000), ("Manodopera", 100_000)],
    )
    feste = _campaign(
        treasurer,
        national_admin,
        bologna,
        SLUGS[1],
        "Feste de l'Unità 2026 a Bologna",
        "Palco, cucine e volontari: la festa si fa insieme.",
        2_500_000,
        deadline + dt.timedelta(days=20),
        [("Palco e audio", 1_200_000), ("Cucine", 900_000), ("Sicurezza", 400_000)],
        funding_model=FundingModel.ALL_OR_NOTHING,
        minimum_cents=1_500_000,
    )
    school = _campaign(
        national_admin,
        approver,
        national,
        SLUGS[2],
        "Scuola di politica per under 30",
        "Borse di studio per 200 ragazze e ragazzi da tutta Italia.",
        5_000_000,
        deadline + dt.timedelta(days=60),
        [("Borse di studio", 4_000_000), ("Sale e viaggi", 1_000_000)],
    )
    pools_actions.open_pool(
        actor=national_admin,
        territory=national,
        name="Raddoppio Emilia-Romagna",
        budget_cents=500_000,
        eligible_root=emilia,
        cap_per_donation_cents=5_000,
        small_gift_max_cents=10_000,
    )
    # Issue 17: a quadratic round over every campaign, shared by how many people give to each.
    pools_actions.open_pool(
        actor=national_admin,
        territory=national,
        name="Round quadratico d'autunno",
        budget_cents=300_000,
        mode=PoolMode.QUADRATIC,
        closes_at=timezone.now() + dt.timedelta(days=20),
        cap_per_campaign_cents=150_000,
        min_distinct_donors=5,
        donor_ceiling_cents=25_000,
        priority=200,
    )
    page = pools_actions.create_fundraising_page(
        campaign=roof,
        first_name="Chiara",
        last_name="Ricci",
        email="chiara.ricci@example.org",
        display_name="Chiara",
        title="Salgo sul tetto anch'io",
        story="Ci ho passato l'infanzia: aiutami.",
        goal_cents=50_000,
        team_name="Giovani Democratici Bologna",
    )
    pools_actions.moderate_page(actor=secretary, page=page, approve=True)

    comune = Comune.objects.get(istat_code="037006")
    rnd = random.Random(2026)
    gifts = 0
    for campaign, count in ((roof, 24), (feste, 16), (school, 20)):
        for i in range(count):
            gifts += _gift(campaign, comune, rnd, i, page=page if campaign == roof and i % 4 == 0 else None)
    stdout.write(
        "  raccolte demo: 3 attive, 1 fondo di co-finanziamento, 1 round quadratico, 1 pagina personale, "
        f"{gifts} donazioni"
    )


def _campaign(
    author: Any,
    approver: Any,
    territory: Territory,
    slug: str,
    title: str,
    summary: str,
    goal: int,
    deadline: dt.datetime,
    budget: list[tuple[str, int]],
    **extra: Any,
) -> Campaign:
    campaign = campaigns_actions.create_campaign(
        actor=author,
        territory=territory,
        title=title,
        summary=summary,
        goal_cents=goal,
        deadline=deadline,
        story_markdown=f"**{summary}**\n\nOgni euro è rendicontato: trovi qui sotto le voci di spesa.",
        **extra,
    )
    Campaign.objects.filter(pk=campaign.pk).update(slug=slug)
    campaign.refresh_from_db()
    for label, cents in budget:
        campaigns_actions.add_budget_line(actor=author, campaign=campaign, label=label, amount_cents=cents)
    campaigns_actions.add_faq(
        actor=author,
        campaign=campaign,
        question="Perché mi chiedete il codice fiscale?",
        answer="Per la ricevuta e perché la legge sul finanziamento della politica lo richiede.",
    )
    campaigns_actions.submit_campaign(actor=author, campaign=campaign)
    campaigns_actions.approve_campaign(actor=approver, campaign=campaign)
    return campaigns_actions.launch_campaign(actor=author, campaign=campaign)


def _card_of(code: str) -> str:
    """A demo donor's own card fingerprint: derived from their code, revealing nothing of it."""
    return hashlib.sha256(f"piazza-demo-card:{code}".encode()).hexdigest()[:16]


def _gift(campaign: Campaign, comune: Comune, rnd: random.Random, i: int, page: Any = None) -> int:
    """One donor's gift through the real flow: the donation action, then the sandbox card."""
    first, sex = FIRST[rnd.randrange(len(FIRST))]
    last = LAST[rnd.randrange(len(LAST))]
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(20_000))
    code = make_codice_fiscale(first_name=first, last_name=last, sex=sex, birth_date=birth, belfiore=comune.belfiore)
    data = donations_actions.DonationInput(
        amount_cents=rnd.choice(AMOUNTS),
        frequency=Frequency.MONTHLY if i % 7 == 3 else Frequency.ONE_OFF,
        first_name=first,
        last_name=last,
        codice_fiscale=code,
        email=f"{first}.{last}.{i}@example.org".lower(),
        address=f"Via Indipendenza {i + 1}",
        postal_code="40121",
        comune=comune,
        attestations=list(ATTESTATION_KEYS),
        publication="accept",
        idempotency_key=uuid.uuid4().hex,
        on_wall=rnd.random() < 0.6,
        message="Forza!" if i % 5 == 0 else "",
        refcode=rnd.choice(["whatsapp", "newsletter", "", "facebook"]),
        page=page,
        provider="sandbox",
    )
    donation = donations_actions.submit_donation(actor=None, campaign=campaign, data=data).donation
    assert donation.payment is not None
    pay(
        actor=None,
        payment=donation.payment,
        client_key=uuid.uuid4().hex,
        data={"card_number": "4242424242424242", "expiry": "12/30", "cvc": "123"},
        return_url="",
    )
    # The sandbox has one succeeding credit card, so every demo gift would share its fingerprint
    # and a quadratic round would rightly count all demo donors as one person (issue 17). Each
    # demo donor stands for someone paying with their own card: give the payment its own.
    payment = Payment.objects.get(pk=donation.payment.pk)
    payment.metadata = {**(payment.metadata or {}), "instrument_fingerprint": f"sandbox:demo-{_card_of(code)}"}
    payment.save(update_fields=["metadata"])
    return 1
