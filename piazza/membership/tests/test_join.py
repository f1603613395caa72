"""Joining (M2, M4, M10–M15), states (M13), cards, and every bad input of the issue."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions.card import block_card, deliver_card, lift_card_block
from piazza.membership.actions.join import apply_for_membership
from piazza.membership.actions.payment import mark_paid, record_payment_at_circolo
from piazza.membership.cards import is_valid_card_number
from piazza.membership.models import (
    Channel,
    Delivery,
    Membership,
    PaymentMethod,
    Status,
    Supporter,
)
from piazza.people.codice_fiscale import OMOCODIA_LETTERS
from piazza.people.models import Citizenship, Person

from .conftest import YEAR, join, join_data, now_in_year, paid

pytestmark = pytest.mark.usefixtures("schedule")


def _refused(action="membership.apply"):
    return AuditEntry.objects.filter(action=action, kind=AuditKind.DENIED)


def _nothing_saved():
    assert not Membership.objects.exists()
    assert not Person.objects.exists()


def test_m13_applied_then_paid_then_effective(tree, secretary):
    m = join(tree)
    assert m.status == Status.APPLIED and m.card_number == ""
    assert m.fee_cents == 2000 and m.art9_text_version and m.art9_authorised_at == now_in_year()  # M4
    m = mark_paid(actor=None, membership=m, method=PaymentMethod.CARD, paid_at=now_in_year())
    assert m.status == Status.PAID and is_valid_card_number(m.card_number)
    assert m.effective_at is None  # M13: paid is not effective
    m = deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    assert m.status == Status.EFFECTIVE and m.effective_at is not None
    assert Person.objects.get(pk=m.person_id).voting_circolo == tree.bologna_centro  # M11


def test_m1_every_member_is_in_the_albo(tree):
    m = join(tree)
    assert Supporter.objects.get(person=m.person).source == Supporter.Source.MEMBER


def test_m13_card_not_delivered_before_payment(tree, secretary):
    m = join(tree)
    with pytest.raises(ValidationError, match="dopo il pagamento"):
        deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    assert Membership.objects.get(pk=m.pk).status == Status.APPLIED


def test_card_numbers_unique_per_year(tree):
    cards = {paid(tree).card_number for _ in range(15)}
    assert len(cards) == 15


def test_m7_reduced_fee_for_a_20_year_old(tree):
    m = join(tree, birth_date=dt.date(YEAR - 20, 6, 1))
    assert m.fee_cents == 1000 and m.fee_explanation["reduced"] is True


# --- bad input: each refused with a clear message, nothing saved, the attempt audited ---


def test_bad_input_15_year_old(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, birth_date=dt.date(YEAR - 15, 1, 1))
    assert "almeno 16 anni" in str(err.value) and f"Potrai iscriverti dal 01/01/{YEAR + 1}" in str(err.value)
    _nothing_saved()
    assert _refused().exists()


def test_m2_min_age_is_a_parameter(tree):
    from piazza.membership.models import MembershipRules

    MembershipRules.objects.create(territory=tree.emilia, min_age=14)
    assert join(tree, birth_date=dt.date(YEAR - 15, 1, 1)).status == Status.APPLIED


def test_bad_input_eu_citizen_not_resident(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, tree.online, citizenship=Citizenship.EU, residence_comune=None)
    assert "residenti in Italia" in str(err.value)
    _nothing_saved()
    assert _refused().exists()


def test_m2_eu_citizen_resident_may_join(tree):
    assert join(tree, citizenship=Citizenship.EU).status == Status.APPLIED


def test_m2_non_eu_needs_a_residence_permit(tree):
    with pytest.raises(ValidationError, match="permesso di soggiorno"):
        join(tree, citizenship=Citizenship.NON_EU_PERMIT)
    assert join(tree, citizenship=Citizenship.NON_EU_PERMIT, has_residence_permit=True).pk


def test_bad_input_member_of_another_party(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, member_of_other_party=True)
    assert "altro partito" in str(err.value)
    _nothing_saved()
    assert _refused().exists()


def test_m15_declarations_and_m4_authorisation_required(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, declarations_accepted=False, art9_authorised=False)
    assert set(err.value.message_dict) >= {"declarations_accepted", "art9_authorised"}
    _nothing_saved()


def _omocodia(code: str) -> str:
    from codicefiscale import codicefiscale as cflib

    chars = list(code)
    chars[14] = OMOCODIA_LETTERS[int(chars[14])]
    root = "".join(chars[:15])
    return root + cflib.encode_cin(root)


def test_bad_input_second_membership_same_year_any_omocodia_form(tree):
    first = join(tree)
    data = join_data(first=first.person.first_name, last=first.person.last_name, birth_date=first.person.birth_date)
    data.codice_fiscale = _omocodia(first.person.codice_fiscale)
    assert data.codice_fiscale != first.person.codice_fiscale
    with pytest.raises(ValidationError) as err:
        apply_for_membership(actor=None, data=data, circolo=tree.online, year=YEAR, now=now_in_year())
    # Online, the answer says nothing about the existing membership (issue 10, rule G1).
    assert "ti abbiamo scritto all'indirizzo registrato" in str(err.value)
    assert "Circolo PD Bologna Centro" not in str(err.value) and "stato" not in str(err.value)
    assert Membership.objects.count() == 1
    assert _refused().filter(data__code="already_member").exists()


def test_a_new_year_is_a_new_membership(tree, schedule):
    first = join(tree)
    schedule.pk = None
    schedule.year = YEAR + 1
    schedule.closes_at = None
    schedule.save()
    data = join_data(first=first.person.first_name, last=first.person.last_name, birth_date=first.person.birth_date)
    m = apply_for_membership(
        actor=None, data=data, circolo=tree.bologna_centro, year=YEAR + 1, now=now_in_year() + dt.timedelta(days=300)
    )
    assert m.person_id == first.person_id


def test_bad_input_join_after_the_cut_off(tree, schedule):
    closes = schedule.closes_at
    join(tree, now=closes)  # the last second is still in
    with pytest.raises(ValidationError) as err:
        join(tree, now=closes + dt.timedelta(seconds=1))
    assert f"si è chiuso il 31/12/{YEAR} 23:59:59" in str(err.value)
    assert Membership.objects.count() == 1
    assert _refused().filter(data__code="after_cut_off").exists()


def test_bad_input_circolo_outside_the_persons_options(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, tree.modena_nord)
    assert "non copre il tuo comune di residenza" in str(err.value)
    _nothing_saved()
    assert _refused().filter(data__code="circolo_not_allowed").exists()


def test_m10_online_circolo_open_to_all(tree):
    from piazza.territory.models import Comune

    milano = Comune.objects.get(istat_code="015146")
    assert join(tree, tree.online, residence_comune=milano).status == Status.APPLIED


def test_invalid_codice_fiscale_refused(tree):
    with pytest.raises(ValidationError) as err:
        join(tree, codice_fiscale="RSSMRA80A01A944X")
    assert "codice_fiscale" in err.value.message_dict
    _nothing_saved()


# --- at the circolo: traceable or cash, M24 ---


def test_secretary_records_a_traceable_payment_and_books_the_ledger(tree, secretary, check_ledger):
    from piazza.ledger.accounts import get_account
    from piazza.ledger.queries import balance

    m = apply_for_membership(
        actor=secretary,
        data=join_data(),
        circolo=tree.bologna_centro,
        channel=Channel.CIRCOLO,
        year=YEAR,
        now=now_in_year(),
        registered_by=secretary,
    )
    m = record_payment_at_circolo(actor=secretary, membership=m, method=PaymentMethod.POS, reference="POS 1234")
    assert m.status == Status.PAID
    national = balance(get_account("territory", owner=tree.national, territory=tree.national))
    federation = balance(get_account("territory", owner=tree.bologna, territory=tree.bologna))
    assert national.cents == 400 and federation.cents == 1600  # M8: 80% of the €5 national surcharge


def test_m8_regional_surcharge_split_booked(tree, secretary, schedule, check_ledger):
    from piazza.ledger.accounts import get_account
    from piazza.ledger.queries import balance
    from piazza.membership.models import RegionalSurcharge

    RegionalSurcharge.objects.create(schedule=schedule, region=tree.emilia, amount_cents=1000)
    m = join(tree)
    assert m.fee_cents == 3000
    record_payment_at_circolo(actor=secretary, membership=m, method=PaymentMethod.BANK_TRANSFER, reference="CRO 9")
    region = balance(get_account("territory", owner=tree.emilia, territory=tree.emilia))
    national = balance(get_account("territory", owner=tree.national, territory=tree.national))
    assert region.cents == 800 and national.cents == 400 + 200


def test_cash_refused_unless_the_federation_allows_it(tree, secretary):
    m = join(tree)
    with pytest.raises(ValidationError, match="contanti"):
        record_payment_at_circolo(actor=secretary, membership=m, method=PaymentMethod.CASH)
    assert Membership.objects.get(pk=m.pk).status == Status.APPLIED


def test_cash_with_receipt_where_allowed(tree, secretary, cash_allowed, check_ledger):
    m = record_payment_at_circolo(actor=secretary, membership=join(tree), method=PaymentMethod.CASH)
    assert m.cash_receipt_number.startswith(f"{YEAR}/")  # rule F3: the numbered receipt's number


def test_traceable_payment_needs_a_reference(tree, secretary):
    with pytest.raises(ValidationError, match="riferimento"):
        record_payment_at_circolo(actor=secretary, membership=join(tree), method=PaymentMethod.POS)


def test_m24_one_instrument_beyond_the_limit_refused_and_flagged(tree):
    from piazza.membership.models import AnomalyFlag, FlagKind

    for _ in range(3):
        paid(tree, fingerprint="fp-shared")
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_INSTRUMENT)
    assert flag.people.count() == 3
    m = join(tree)
    with pytest.raises(ValidationError, match="al massimo 3"):
        mark_paid(actor=None, membership=m, method=PaymentMethod.CARD, fingerprint="fp-shared")
    assert Membership.objects.get(pk=m.pk).status == Status.APPLIED


def test_m9_blocked_card_is_not_delivered_until_lifted(tree, secretary):
    m = paid(tree)
    block = block_card(
        actor=secretary, person=m.person, territory=tree.bologna_centro, reason="Contributi da eletto 2025 non versati"
    )
    with pytest.raises(ValidationError, match="Contributi da eletto"):
        deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO)
    lift_card_block(actor=secretary, block=block, note="Versati il 2/4")
    assert deliver_card(actor=secretary, membership=m, delivery=Delivery.CIRCOLO).status == Status.EFFECTIVE


def test_other_circolo_secretary_cannot_deliver(tree):
    from django.core.exceptions import PermissionDenied

    from piazza.territory.models import Role
    from piazza.territory.testing import make_official

    other = make_official("navile", tree.bologna_navile, [Role.MEMBERSHIP])
    m = paid(tree)
    with pytest.raises(PermissionDenied):
        deliver_card(actor=other, membership=m, delivery=Delivery.CIRCOLO)


def test_join_is_timestamped_to_the_second(tree):
    now = timezone.make_aware(dt.datetime(YEAR, 1, 31, 11, 59, 59))
    assert join(tree, now=now).applied_at == now
