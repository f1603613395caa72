"""Donations: submission, matching preview, outcomes."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from piazza.compliance import receipts as compliance_receipts
from piazza.compliance.companies import (
    LegalGiverInput,
    canonical_entity_code,
    check_legal_giver,
    record_legal_giver,
)
from piazza.compliance.models import LegalGiver
from piazza.compliance.rules import (
    ATTESTATION_VERSION,
    admit_contribution,
    annual_total_cents,
    check_annual_cap,
    entity_annual_total_cents,
    lock_contributor,
    may_accept,
    missing_attestations,
    rules_on,
)
from piazza.core.audit import audited_atomic, record, reserve_ids
from piazza.core.errors import refuse, refusing
from piazza.core.i18n import deferred
from piazza.core.money import Money, format_eur
from piazza.core.outbound import announce
from piazza.core.prepared import prepared_read
from piazza.core.tasks import enqueue_on_commit
from piazza.core.write_queue import queue_insert, queue_save
from piazza.funding.lines import donation_line
from piazza.funding.matching import PoolRules, PoolState, match_for_gift, preview_matches, top_up_for_campaign
from piazza.funding.models import (
    SMALL_GIFT_CENTS,
    Campaign,
    CampaignKind,
    CampaignOutcome,
    Donation,
    DonationStatus,
    Frequency,
    FundraisingPage,
    MatchingPool,
    MatchStatus,
    PoolMatch,
    PoolMode,
    UpdateSubscription,
)
from piazza.funding.queries import forget_thermometer, open_pools
from piazza.funding.tasks import tell_donor_over_limit
from piazza.ledger.accounts import get_account
from piazza.ledger.models import Account
from piazza.payments.actions import lifecycle as lifecycle_payments
from piazza.payments.actions import recurring as recurring_payments
from piazza.payments.actions.recurring import charge_saved_method
from piazza.payments.models import Payment
from piazza.payments.providers.registry import get_provider
from piazza.people.actions.notices import attach_notice_acceptances, note_notice_acceptance
from piazza.people.actions.person import add_timeline_entry, find_or_create_person
from piazza.people.codice_fiscale import canonical_codice_fiscale
from piazza.people.models import Channel, NoticeVersion, Person, Source
from piazza.territory.models import Comune

from ._pool_funds import _bump_counter, _release, _reserve

# --- Donations ------------------------------------------------------------------------------


@dataclass
class DonationInput:
    """What the donor typed, already cleaned by the form (or the API)."""

    amount_cents: int
    frequency: str
    first_name: str
    last_name: str
    codice_fiscale: str
    email: str
    address: str
    postal_code: str
    comune: Comune
    attestations: list[str]
    publication: str  # "accept" or "object" (rule F2)
    idempotency_key: str
    cover_fee: bool = False
    on_wall: bool = False
    message: str = ""
    updates: bool = False
    refcode: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    shown_match_cents: int | None = None
    page: FundraisingPage | None = None
    provider: str = ""  # "" = the card provider in force (`card_provider()`)
    return_url: str = ""  # "" = the donation's thank-you page
    remember_method: bool = False  # save the card for one-click gifts (never pre-selected)
    notice: NoticeVersion | None = None  # the privacy notice version the form showed (GDPR art. 13)
    # Rule F13: a gift on behalf of a company or an association; the person above is its legal
    # representative. None for a natural person's own gift.
    legal_giver: LegalGiverInput | None = None


@dataclass
class Submitted:
    donation: Donation
    replayed: bool
    next_url: str


def fee_cover_cents(campaign: Campaign, amount_cents: int) -> int:
    """The estimated processing cost a donor may add (per-campaign parameters)."""
    return (amount_cents * campaign.fee_cover_bps + 9_999) // 10_000 + campaign.fee_cover_fixed_cents


def _distinct_donors(campaign: Campaign) -> int:
    from piazza.funding.queries import unique_donors

    return unique_donors(campaign.pk)


def preview_match_cents(campaign: Campaign, amount_cents: int, person_id: int | None = None) -> int:
    """What the pools would add to this gift now ("your €10 becomes €20"); reads only."""
    return preview_matches_for(campaign, [amount_cents], person_id)[amount_cents]


def preview_matches_for(campaign: Campaign, amounts: Iterable[int], person_id: int | None = None) -> dict[int, int]:
    """The same for several amounts at once (the presets of the form): the pools are read once."""
    from piazza.funding.queries import pool_matched, pools_for

    amounts = list(amounts)
    pools = pools_for(campaign)
    if not pools:
        return dict.fromkeys(amounts, 0)
    donors = _distinct_donors(campaign)
    pairs = [
        (
            pool_rules(p),
            PoolState(
                remaining=p.remaining_cents,
                matched_for_donor=pool_matched(p, person_id=person_id) if person_id and p.cap_per_donor_cents else 0,
                matched_for_campaign=pool_matched(p, campaign_id=campaign.pk) if p.cap_per_campaign_cents else 0,
            ),
        )
        for p in pools
    ]
    return {amount: sum(preview_matches(pairs, amount, donors)) for amount in amounts}


def pool_rules(pool: MatchingPool) -> PoolRules:
    return PoolRules(
        ratio_num=pool.ratio_num,
        ratio_den=pool.ratio_den,
        cap_per_donation=pool.cap_per_donation_cents,
        cap_per_donor=pool.cap_per_donor_cents,
        cap_per_campaign=pool.cap_per_campaign_cents,
        small_gift_max=pool.small_gift_max_cents,
        min_distinct_donors=pool.min_distinct_donors,
        mode=pool.mode,
        top_up_threshold_pct=pool.top_up_threshold_pct,
        exclusive=pool.exclusive,
    )


def _refuse_gift(message: Any, *, campaign: Campaign, code: str, field: str | None = None) -> None:
    refuse("funding.submit_donation", message, actor=None, territory=campaign.territory, code=code, field=field)


# Issue 10, rule G1: what a named person gave this year is theirs to know. When only the
# donor's history (not the amount typed) makes a gift exceed a limit, the form says so without
# figures and the details go to the address on record of the person with that codice fiscale.
OVER_LIMIT_MESSAGES = {
    "annual_cap": _(
        "Questa donazione supera il limite annuale consentito per una persona: ti abbiamo scritto "
        "all'indirizzo registrato con l'importo che puoi ancora donare."
    ),
    "publication_objection": _(
        "Con questa donazione l'importo donato nell'anno supererebbe la soglia oltre la "
        "quale la legge chiede la pubblicazione del nome: accetta la pubblicazione, oppure "
        "leggi il messaggio che ti abbiamo scritto all'indirizzo registrato con l'importo "
        "che puoi ancora donare senza."
    ),
}


def _refuse_over_limit(
    campaign: Campaign, known: Person | None, total_cents: int, *, code: str, alone: bool, message: Any
) -> None:
    """Refuse a gift over the F6 cap or the F2 threshold, revealing nothing about anyone.

    `alone`: the typed amount would pass by itself, so the donor's history decided. Then the
    answer has no figures and the person on record is told by email (a task, after the refusal's
    audit entry); otherwise `message` speaks of the typed amount only."""
    if alone and known is not None:
        enqueue_on_commit(tell_donor_over_limit, int(known.pk), int(campaign.pk), total_cents, code)
        message = OVER_LIMIT_MESSAGES[code]
    field = "publication" if code == "publication_objection" else "custom_amount"
    _refuse_gift(message, campaign=campaign, code=code, field=field)


def gift_accounts(campaign: Campaign, amount: Money) -> list[tuple[Account, Money]]:
    """Where a gift is booked: the campaign's share accounts (splits), or the mandatario (F10)."""
    if campaign.kind == CampaignKind.CANDIDATE:
        assert campaign.candidacy is not None
        account = get_account(
            "mandatario", owner=campaign.candidacy, territory=campaign.territory, key=f"campaign:{campaign.pk}"
        )
        return [(account, amount)]
    splits = list(campaign.splits.select_related("recipient"))
    if not splits:
        return [(get_account("campaign", owner=campaign, territory=campaign.territory, key="gifts"), amount)]
    shares = amount.allocate([s.percent for s in splits])
    return [
        (get_account("campaign", owner=campaign, territory=s.recipient, key=f"gifts:{s.recipient_id}"), share)
        for s, share in zip(splits, shares, strict=True)
        if share.cents
    ]


def submit_donation(*, actor: Any, campaign: Campaign, data: DonationInput) -> Submitted:
    """Check every rule, then record a pending donation and start its payment.

    Refusals (closed campaign, minimum, F4 attestations, F6 cap, F2 objection, a pool that
    ran out since the page was shown) happen before anything is written; a replayed
    Idempotency-Key returns the first donation and never charges twice (convention 6).
    Reads first, then one transaction (P4). F6/F2 are checked again when the money arrives
    (`donation_succeeded`), under a per-donor lock, so simultaneous gifts cannot beat the cap.
    """
    replayed = _replayed_submission(campaign, data.idempotency_key)
    if replayed is not None:
        return replayed
    if not campaign.is_open_for_gifts():
        _refuse_gift(_("Questa raccolta è chiusa e non accetta più donazioni."), campaign=campaign, code="closed")
    if data.amount_cents < campaign.min_gift_cents:
        _refuse_gift(
            _("La donazione minima per questa raccolta è %(min)s.") % {"min": format_eur(campaign.min_gift_cents)},
            campaign=campaign,
            code="below_minimum",
            field="custom_amount",
        )
    if data.frequency == Frequency.MONTHLY and not campaign.allow_monthly:
        _refuse_gift(
            _("Questa raccolta accetta solo donazioni una tantum."),
            campaign=campaign,
            code="monthly",
            field="frequency",
        )
    if data.legal_giver is not None:  # rule F13: the entity's own attestations and resolution
        if data.frequency != Frequency.ONE_OFF:
            _refuse_gift(
                _("Le aziende e le associazioni donano una volta sola, con la delibera che approva l'importo."),
                campaign=campaign,
                code="legal_monthly",
                field="frequency",
            )
        check_legal_giver(
            action="funding.submit_donation", actor=actor, territory=campaign.territory, giver=data.legal_giver
        )
    missing = missing_attestations(data.attestations) if data.legal_giver is None else []
    if missing:  # rule F4
        _refuse_gift(
            _("Per legge puoi donare solo dopo aver confermato tutte le dichiarazioni: mancano %(n)d conferme.")
            % {"n": len(missing)},
            campaign=campaign,
            code="attestations",
            field=f"attest_{missing[0]}",
        )
    fee = fee_cover_cents(campaign, data.amount_cents) if data.cover_fee else 0
    total = data.amount_cents + fee
    rules = rules_on()
    canonical = canonical_codice_fiscale(data.codice_fiscale)
    known = _person_by_code.first(canonical)
    year = timezone.localdate().year
    if data.legal_giver is not None:  # rule F13: the entity's own year, never its representative's
        code = canonical_entity_code(data.legal_giver.entity_code)
        already = entity_annual_total_cents(code, year, campaign.territory.path, rules)
    else:
        already = annual_total_cents(int(known.pk), year, campaign.territory.path, rules) if known else 0
    # The letter about what is left to give is about a person's own year; a company's is not theirs.
    told = known if data.legal_giver is None else None
    if not check_annual_cap(already, total, rules).allowed:  # rule F6 (scope per F14)
        _refuse_over_limit(
            campaign,
            told,
            total,
            code="annual_cap",
            alone=check_annual_cap(0, total, rules).allowed,
            message=_(
                "Per legge una persona può donare al partito al massimo %(cap)s in un anno: "
                "scegli un importo più basso."
            )
            % {"cap": format_eur(rules.annual_cap_cents)},
        )
    objects = data.publication == "object"
    if not may_accept(already + total, objects, rules):  # rule F2
        _refuse_over_limit(
            campaign,
            told,
            total,
            code="publication_objection",
            alone=may_accept(total, objects, rules),
            message=_(
                "Con questa donazione superi %(t)s nell'anno: per legge il tuo nome sarà "
                "pubblicato e il partito non può accettare denaro da chi si oppone. Scegli un "
                "importo più basso o accetta la pubblicazione."
            )
            % {"t": format_eur(rules.publication_threshold_cents)},
        )
    if data.shown_match_cents:
        now_match = preview_match_cents(campaign, data.amount_cents, int(known.pk) if known else None)
        if now_match < data.shown_match_cents:
            _refuse_gift(
                _(
                    "Nel frattempo il fondo di co-finanziamento si è esaurito: la tua donazione ora vale "
                    "%(now)s invece di %(shown)s. Non ti abbiamo addebitato nulla: conferma di nuovo se vuoi "
                    "donare lo stesso."
                )
                % {
                    "now": format_eur(data.amount_cents + now_match),
                    "shown": format_eur(data.amount_cents + data.shown_match_cents),
                },
                campaign=campaign,
                code="pool_exhausted",
            )
    try:
        # create_payment may refuse inside the block: audited after its rollback (issue 11, item 23).
        with refusing("funding.submit_donation", actor, campaign.territory), audited_atomic():
            donation, payment = _record_donation(actor, campaign, data, fee, known)
    except IntegrityError:
        # A simultaneous submit with the same Idempotency-Key (a double click, a reload) won
        # the unique key between our read above and this insert: answer with its donation.
        replayed = _replayed_submission(campaign, data.idempotency_key)
        if replayed is None:
            raise
        return replayed
    return Submitted(donation, False, reverse("payments:pay", args=[payment.token]))


@prepared_read(Person)
def _person_by_code(canonical: str) -> QuerySet[Person]:
    """The donor known by this canonical codice fiscale, not merged away (compiled once, ADR 0043)."""
    return Person.objects.filter(codice_fiscale_canonical=canonical, merged_into__isnull=True).order_by("pk")[:1]


@prepared_read(Donation)
def _donation_by_key(idempotency_key: str) -> QuerySet[Donation]:
    """The donation sent with this Idempotency-Key, with its campaign (compiled once, ADR 0043)."""
    return Donation.objects.filter(idempotency_key=idempotency_key).select_related("campaign").order_by("pk")[:1]


def _replayed_submission(campaign: Campaign, idempotency_key: str) -> Submitted | None:
    """The first donation sent with this Idempotency-Key, as a replay (convention 6); None if none."""
    existing = _donation_by_key.first(idempotency_key)
    if existing is None:
        return None
    if existing.campaign_id != campaign.pk:
        _refuse_gift(
            _("Questo modulo è già stato usato per un'altra raccolta: ricarica la pagina."),
            campaign=campaign,
            code="replay_other_campaign",
        )
    return Submitted(existing, True, _payment_url(existing))


def card_provider() -> str:
    """The card provider in force: Stripe when configured, else the sandbox (never in production)."""
    for preferred in ("stripe", "sandbox"):
        try:
            if get_provider(preferred).is_available():
                return preferred
        except LookupError:
            continue
    return "sandbox"


def _record_donation(
    actor: Any, campaign: Campaign, data: DonationInput, fee: int, known: Person | None
) -> tuple[Donation, Any]:
    """The pending donation and its payment (monthly: a recurring schedule and its first payment).

    Their rows are queued and written with the block's last statement (ADR 0046): nothing in the
    block reads them back. The ids of the donation and of its payment come with the audit chain's
    lock and head, taken here before any row is locked (the payment's entry takes them a moment
    later anyway). A clash of the Idempotency-Key now surfaces at the end of the block, where
    `submit_donation` answers it as before."""
    reserve_ids(Donation, Payment)
    donation = Donation(
        campaign=campaign,
        page=data.page,
        person=known,
        user=actor if getattr(actor, "is_authenticated", False) else None,
        amount_cents=data.amount_cents,
        fee_cover_cents=fee,
        currency=campaign.currency,
        frequency=data.frequency,
        first_name=data.first_name,
        last_name=data.last_name,
        codice_fiscale=data.codice_fiscale,
        email=data.email,
        address=data.address,
        postal_code=data.postal_code,
        comune=data.comune,
        attestations=sorted(data.attestations),
        attestation_version=ATTESTATION_VERSION,
        publication_acknowledged=data.publication == "accept",
        on_wall=data.on_wall,
        message=data.message,
        refcode=data.refcode,
        utm_source=data.utm_source,
        utm_medium=data.utm_medium,
        utm_campaign=data.utm_campaign,
        idempotency_key=data.idempotency_key,
        manage_token=secrets.token_urlsafe(32),
    )
    queue_insert(donation, need_id=True)
    if data.notice is not None:
        # Linked to the donor when the gift is paid (a typed codice fiscale proves nobody, convention 16).
        note_notice_acceptance(version=data.notice, channel=Channel.WEB, source=donation)
    if data.legal_giver is not None:  # rule F13
        record_legal_giver(
            actor=actor,
            contribution=donation,
            territory=campaign.territory,
            giver=data.legal_giver,
            action="funding.legal_giver",
        )
    if data.updates:
        UpdateSubscription.objects.get_or_create(
            campaign=campaign, email=data.email.lower(), defaults={"token": secrets.token_urlsafe(32)}
        )
    allocations = gift_accounts(campaign, Money(data.amount_cents, campaign.currency))
    if fee:
        allocations.append((get_account("territory", territory=campaign.territory), Money(fee, campaign.currency)))
    common: dict[str, Any] = {
        "actor": None,
        "amount": Money(data.amount_cents + fee, campaign.currency),
        "allocations": allocations,
        "provider": data.provider or card_provider(),
        "description": f"Donazione: {campaign.title}"[:200],
        "creation_key": f"donation:{donation.pk}",
        "payable": donation,
        "payer": known,
        "payer_name": f"{data.first_name} {data.last_name}",
        "payer_email": data.email,
        "territory": campaign.territory,
        "return_url": data.return_url or donation_status_url(donation),
    }
    if data.frequency == Frequency.MONTHLY:
        _schedule, payment = recurring_payments.create_recurring(interval="monthly", **common)
    else:
        # No rail imposed (`provider` empty) and no card to save: the donor chooses how to pay on
        # the payment page (issue 11 item 1).
        # The key is the id of the donation inserted just above: nothing can hold it (issue 14, P4).
        payment = lifecycle_payments.create_payment(
            save_method=data.remember_method,
            new_key=True,
            **common,
            metadata={
                "client_key": data.idempotency_key,
                "method_step": not data.provider and not data.remember_method,
            },
        )
    donation.payment_id = payment.pk
    queue_save(donation, ["payment_id"])  # merged into the donation's queued INSERT
    record(
        "funding.submit_donation",
        actor=actor,
        obj=donation,
        territory=campaign.territory,
        data={
            "amount_cents": data.amount_cents,
            "fee_cover_cents": fee,
            "frequency": data.frequency,
            "refcode": data.refcode,
            "attestations": ATTESTATION_VERSION,
            "notice": data.notice.code if data.notice is not None else "",
            "payment": payment.pk,
        },
    )
    return donation, payment


def give_again(
    *, actor: Any, campaign: Campaign, previous: Donation, method: Any, amount_cents: int, idempotency_key: str
) -> Submitted:
    """One-click gift from a browser holding a device token for `method` (convention 16).

    The donor details and the F4 attestations are those of `previous`, the gift whose payment
    saved the card in that browser, confirmed by the click (the button says so); if the
    attestation texts changed since, the full form is needed. Every rule of `submit_donation`
    applies; then the saved card is charged at once.
    """
    if (
        previous.status != DonationStatus.SUCCEEDED
        or previous.payment is None
        or previous.payment.saved_method_id != method.pk
    ):
        raise ValueError("give_again: the previous gift did not save this method")
    if previous.attestation_version != ATTESTATION_VERSION:
        _refuse_gift(
            _(
                "Le dichiarazioni richieste dalla legge sono cambiate dalla tua ultima donazione: usa il "
                "modulo completo qui sotto."
            ),
            campaign=campaign,
            code="one_click_attestations",
        )
        raise AssertionError  # unreachable: refuse() raises
    data = DonationInput(
        amount_cents=amount_cents,
        frequency=Frequency.ONE_OFF,
        first_name=previous.first_name,
        last_name=previous.last_name,
        codice_fiscale=previous.codice_fiscale,
        email=previous.email,
        address=previous.address,
        postal_code=previous.postal_code,
        comune=previous.comune,
        attestations=list(previous.attestations),
        publication="accept" if previous.publication_acknowledged else "object",
        idempotency_key=idempotency_key,
        on_wall=previous.on_wall,
        provider=method.provider,
        refcode="one_click",
    )
    submitted = submit_donation(actor=actor, campaign=campaign, data=data)
    payment = submitted.donation.payment
    if submitted.replayed or payment is None:
        return submitted

    charge_saved_method(actor=None, payment=payment, method=method, client_key=f"oneclick:{idempotency_key}")
    payment.refresh_from_db()
    submitted.donation.refresh_from_db()
    next_url = donation_status_url(submitted.donation) if payment.is_booked else submitted.next_url
    return Submitted(submitted.donation, False, next_url)


def _payment_url(donation: Donation) -> str:
    """Where a replayed submission goes: the same payment page (it forwards once paid)."""
    payment = donation.payment
    return reverse("payments:pay", args=[payment.token]) if payment is not None else donation_status_url(donation)


def donation_status_url(donation: Donation) -> str:
    return reverse("funding:donation", args=[donation.manage_token])


def _small(amount_cents: int) -> int:
    return amount_cents if amount_cents <= SMALL_GIFT_CENTS else 0


def _reserve_matches(donation: Donation, *, pools_open: bool = True) -> int:
    """Per-gift pools, then top-up pools, in their order; each pool row locked (id order: no deadlock).

    Returns the cents reserved; the caller adds them to the counters in its single bump, after
    these locks (always pools, then one counter slot: no lock-order cycle between donations).
    `pools_open=False`: the caller's read found no open pool at all, so none is read here.
    """
    from piazza.funding.queries import pool_matched, pools_for, unique_donors

    campaign = donation.campaign
    candidates = pools_for(campaign) if pools_open else []
    if not candidates:
        return 0
    locked = {
        p.pk: p
        for p in MatchingPool.objects.select_for_update().filter(pk__in=[p.pk for p in candidates]).order_by("pk")
    }
    donors = unique_donors(campaign.pk)
    total = 0
    stopped = False
    for candidate in candidates:
        pool = locked[candidate.pk]
        rules = pool_rules(pool)
        if pool.mode != PoolMode.PER_GIFT or stopped:
            continue
        state = PoolState(
            remaining=pool.remaining_cents,
            matched_for_donor=pool_matched(pool, person_id=donation.person_id) if pool.cap_per_donor_cents else 0,
            matched_for_campaign=pool_matched(pool, campaign_id=campaign.pk) if pool.cap_per_campaign_cents else 0,
        )
        amount = match_for_gift(rules, state, donation.amount_cents, donors)
        if amount:
            _reserve(pool, campaign, amount, donation=donation)
            total += amount
            if pool.exclusive:
                stopped = True
    if total:
        Donation.objects.filter(pk=donation.pk).update(matched_cents=F("matched_cents") + total)
    from piazza.funding.queries import counter_totals

    # The counters do not include this gift and its matches yet (bumped once by the caller).
    raised = sum(counter_totals(campaign.pk)[k] for k in ("gifts", "matched")) + donation.amount_cents + total
    topped = 0
    for candidate in candidates:
        pool = locked[candidate.pk]
        if (
            pool.mode != PoolMode.TOP_UP
            or PoolMatch.objects.filter(pool=pool, campaign=campaign, donation__isnull=True).exists()
        ):
            continue
        pool.refresh_from_db(fields=["reserved_cents", "settled_cents"])
        state = PoolState(
            remaining=pool.remaining_cents, matched_for_campaign=pool_matched(pool, campaign_id=campaign.pk)
        )
        amount = top_up_for_campaign(pool_rules(pool), state, raised, campaign.goal_cents, donors)
        if amount:
            _reserve(pool, campaign, amount, donation=None)
            raised += amount
            topped += amount
    return total + topped


REFUSAL_REASONS = {
    "annual_cap": _("Superato il tetto annuo per donatore previsto dalla legge: l'importo ti è stato restituito."),
    "publication_objection": _(
        "Con questa donazione avresti superato la soglia di pubblicazione, alla quale ti "
        "sei opposto/a: l'importo ti è stato restituito."
    ),
    "campaign_failed": _("La raccolta non ha raggiunto il minimo (tutto o niente): l'importo ti è stato restituito."),
}


def donation_succeeded(donation_id: int, *, payment_id: int | None = None, provider: str = "") -> Donation:
    """Payable handler: the money arrived. Idempotent: a second call changes nothing.

    Rules F6 and F2 are judged again here, with the donor's row locked (compliance
    `admit_contribution`): of two gifts succeeding together, the one that would exceed the cap
    is refused and refunded, never counted. A late gift to a failed all-or-nothing campaign too.

    No savepoint inside the payment's transaction (issue 14, P4): a failure here aborts the
    payment's success as a whole, which is what it must do. `provider`: the rail the money came
    by, for the receipt's method (read from the donation's payment when not given).
    """
    with transaction.atomic(savepoint=False):
        donation = (
            Donation.objects.select_for_update(of=("self",))
            .select_related("campaign__territory", "person__residence_comune")  # not locked, read with it
            # Rule F13 and the receipt's line (F3), in the same read (issue 14, P4).
            .annotate(
                legal_entity_code=Subquery(_legal_giver().values("entity_code")[:1]),
                legal_name=Subquery(_legal_giver().values("legal_name")[:1]),
                legal_resolution_on=Subquery(_legal_giver().values("resolution_date")[:1]),
                # Whether any matching pool is open at all: with none (the usual case) the pools
                # are not read again after the rules (issue 14, P4; ADR 0048).
                pools_open=Exists(open_pools()),
                **({} if provider else {"payment_provider": F("payment__provider")}),
            )
            .get(pk=donation_id)
        )
        if donation.status in (DonationStatus.SUCCEEDED, DonationStatus.REFUSED, DonationStatus.REFUNDED):
            return donation
        campaign = donation.campaign
        legal_code = getattr(donation, "legal_entity_code", None) or ""  # F13: a legal person gives as itself
        lock_contributor(f"entity:{legal_code}" if legal_code else canonical_codice_fiscale(donation.codice_fiscale))
        if donation.person_id is None:
            donation.person = _donor_person(donation)
            donation.save(update_fields=["person"])
        assert donation.person_id is not None
        attach_notice_acceptances(source=donation, person=donation.person)  # type: ignore[arg-type]
        admission = admit_contribution(
            donation.person_id,
            donation.total_cents,
            campaign.territory.path,
            objects_to_publication=not donation.publication_acknowledged,
            entity_code=legal_code,
        )
        refusal = "campaign_failed" if campaign.outcome == CampaignOutcome.FAILED else admission.code
        if refusal:
            return _refuse_received(donation, refusal, payment_id)
        donation.status = DonationStatus.SUCCEEDED
        donation.succeeded_at = timezone.now()
        donation.failure_reason = ""
        donation.save(update_fields=["status", "succeeded_at", "failure_reason"])
        matched = _reserve_matches(donation, pools_open=donation.pools_open)  # type: ignore[attr-defined]
        # One counter slot per transaction, taken after the pool locks (no lock-order cycle).
        _bump_counter(
            donation.campaign_id,
            gifts=donation.amount_cents,
            count=1,
            small=_small(donation.amount_cents),
            matched=matched,
        )
        add_timeline_entry(
            donation.person,  # type: ignore[arg-type]
            kind="donation",
            actor=None,
            summary=deferred(
                gettext_noop("Donazione di %(amount)s a «%(campaign)s»"),
                amount=format_eur(donation.amount_cents),
                campaign=campaign.title,
            ),
            data={"donation": donation.pk, "campaign": donation.campaign_id},
        )
        record(
            "funding.donation_succeeded",
            actor=None,
            obj=donation,
            territory=campaign.territory,
            data={"amount_cents": donation.amount_cents, "payment": payment_id},
        )
        announce(
            "donation.succeeded",
            object_id=donation.pk,
            territory_path=lambda: campaign.territory.path,
            person_id=donation.person_id,
        )
        from piazza.funding import tasks

        # Rule F3: the numbered receipt, last in the transaction (its counter row stays locked until
        # the commit), emailed with the thank-you after it.
        line = donation_line(
            donation,
            provider=provider or getattr(donation, "payment_provider", None) or "",
            legal_name=getattr(donation, "legal_name", None) or "",
            entity_code=legal_code,
            resolution_on=getattr(donation, "legal_resolution_on", None),
        )
        compliance_receipts.issue_receipts_for(
            # Pending or failed until the UPDATE above, under the donation's lock: no receipt yet.
            "funding.donation",
            donation.pk,
            actor=None,
            donor=donation.person,
            lines=[line],
            first_time=True,
        )
        enqueue_on_commit(tasks.send_receipt, donation.pk)
        transaction.on_commit(lambda: forget_thermometer(donation.campaign_id))
    return donation


def _legal_giver() -> QuerySet[LegalGiver, Any]:
    """Rule F13: the legal person behind the donation (`legal_giver_of`, one per gift), for
    subqueries of the donation's locked read (issue 14: one round trip less at success)."""
    return LegalGiver.objects.filter(
        contribution_type=ContentType.objects.get_for_model(Donation),
        contribution_id=Cast(OuterRef("pk"), output_field=CharField()),
    ).order_by("pk")


def _donor_person(donation: Donation) -> Person:
    """The donor in the people database, found (same codice fiscale, email…) or created."""
    return find_or_create_person(
        actor=None,
        source=Source.DONATION,
        data={
            "first_name": donation.first_name,
            "last_name": donation.last_name,
            "codice_fiscale": donation.codice_fiscale,
            "emails": [donation.email],
            "residence_street": donation.address,
            "residence_cap": donation.postal_code,
            "residence_comune": donation.comune,
        },
    )


def _refuse_received(donation: Donation, code: str, payment_id: int | None) -> Donation:
    """Paid but not acceptable: never counted, refunded after the commit (outside any transaction)."""
    from piazza.funding import tasks

    donation.status = DonationStatus.REFUSED
    donation.failure_reason = str(REFUSAL_REASONS[code])[:250]
    donation.save(update_fields=["status", "failure_reason"])
    record(
        "funding.donation_refused",
        actor=None,
        obj=donation,
        territory=donation.campaign.territory,
        data={"code": code, "amount_cents": donation.total_cents, "payment": payment_id},
    )
    enqueue_on_commit(tasks.refund_refused, donation.pk)
    return donation


def instalment_succeeded(*, parent_id: int, payment_id: int) -> Donation:
    """A later month of a monthly gift was charged: its own donation row (idempotent per payment)."""
    with transaction.atomic():
        parent = Donation.objects.get(pk=parent_id)
        child = Donation.objects.filter(payment_id=payment_id).first()
        if child is None:
            child = Donation.objects.create(
                campaign_id=parent.campaign_id,
                page_id=parent.page_id,
                person_id=parent.person_id,
                # The month's gift is what this payment took, less the fee cover chosen at the start
                # (the donor may have changed the amount since: `change_monthly_amount`).
                user_id=parent.user_id,
                amount_cents=_instalment_gift_cents(parent, payment_id),
                fee_cover_cents=parent.fee_cover_cents,
                currency=parent.currency,
                frequency=Frequency.MONTHLY,
                parent=parent,
                first_name=parent.first_name,
                last_name=parent.last_name,
                codice_fiscale=parent.codice_fiscale,
                email=parent.email,
                address=parent.address,
                postal_code=parent.postal_code,
                comune_id=parent.comune_id,
                attestations=parent.attestations,
                attestation_version=parent.attestation_version,
                publication_acknowledged=parent.publication_acknowledged,
                on_wall=parent.on_wall,
                refcode=parent.refcode,
                utm_source=parent.utm_source,
                utm_medium=parent.utm_medium,
                utm_campaign=parent.utm_campaign,
                idempotency_key=f"instalment:{payment_id}",
                manage_token=secrets.token_urlsafe(32),
                payment_id=payment_id,
            )
        return donation_succeeded(child.pk, payment_id=payment_id)


def _instalment_gift_cents(parent: Donation, payment_id: int) -> int:
    from piazza.payments.models import Payment

    charged = Payment.objects.filter(pk=payment_id).values_list("amount_cents", flat=True).first()
    return int(charged) - parent.fee_cover_cents if charged else parent.amount_cents


def donation_failed(donation_id: int, *, reason: str = "") -> Donation:
    with transaction.atomic():
        donation = Donation.objects.select_for_update().get(pk=donation_id)
        if donation.status != DonationStatus.PENDING and donation.status != DonationStatus.FAILED:
            return donation
        donation.status = DonationStatus.FAILED
        donation.failure_reason = reason[:250]
        donation.save(update_fields=["status", "failure_reason"])
        record("funding.donation_failed", actor=None, obj=donation, data={"reason": reason[:250]})
    return donation


def donation_refunded(donation_id: int, *, reason: str = "") -> Donation:
    """Payable handler: the money went back. Counters go down, matches are released."""
    with transaction.atomic():
        donation = Donation.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=donation_id)
        if donation.status == DonationStatus.REFUSED:  # never counted: nothing to take back
            donation.status = DonationStatus.REFUNDED
            donation.refunded_at = timezone.now()
            donation.save(update_fields=["status", "refunded_at"])
            record(
                "funding.donation_refunded",
                actor=None,
                obj=donation,
                territory=donation.campaign.territory,
                data={"reason": reason[:250], "refused": True},
            )
            return donation
        if donation.status != DonationStatus.SUCCEEDED:
            return donation
        donation.status = DonationStatus.REFUNDED
        donation.refunded_at = timezone.now()
        donation.save(update_fields=["status", "refunded_at"])
        matches = list(PoolMatch.objects.filter(donation=donation, status=MatchStatus.RESERVED))
        pools = {
            p.pk: p
            for p in MatchingPool.objects.select_for_update().filter(pk__in=[m.pool_id for m in matches]).order_by("pk")
        }
        for match in matches:
            _release(match, f"rimborso della donazione {donation.pk}")
        _bump_counter(
            donation.campaign_id,
            gifts=-donation.amount_cents,
            count=-1,
            small=-_small(donation.amount_cents),
            matched=-sum(m.amount_cents for m in matches),
        )
        if matches:
            Donation.objects.filter(pk=donation.pk).update(matched_cents=0)
        record(
            "funding.donation_refunded",
            actor=None,
            obj=donation,
            territory=donation.campaign.territory,
            data={"reason": reason[:250], "released_pools": sorted(pools)},
        )
        announce(
            "donation.refunded",
            object_id=donation.pk,
            territory_path=lambda: donation.campaign.territory.path,
            person_id=donation.person_id,
        )
        transaction.on_commit(lambda: forget_thermometer(donation.campaign_id))
    return donation
