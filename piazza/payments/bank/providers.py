"""The two bank rails as payment providers (convention 4), registered by the bank app.

- `bank_transfer`: the payer gets our IBAN, an RF reference and a QR code; the money is seen
  in a CAMT statement, matched to the expected transfer, and the payment succeeds.
- `sepa_dd`: the payer signs a SEPA mandate on the payment page (explicit consent text); each
  charge is a collection in the creditor's next pain.008 batch; the payment succeeds when the
  batch credit is seen on the statement; a later return (R-transaction) is a lost dispute.

"The provider" of these rails is our own bank: `start` records what we expect (idempotent by
the attempt's key), `fetch` reads what the statements said. Ledger: the bank side books
Dr bank / Cr the rail's clearing account; `payments` books Dr clearing / Cr allocations, so
the clearing account returns to zero once both sides have seen the money.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.payments.providers.base import (
    Capability,
    ChargeResult,
    Outcome,
    PaymentProvider,
    RemoteDispute,
    RemoteState,
    SavedMethodInfo,
)

if TYPE_CHECKING:
    from piazza.payments.bank.models import BankAccount
    from piazza.payments.models import Payment, PaymentAttempt, SavedMethod
    from piazza.territory.models import Territory

MANDATE_CONSENT = _(
    "Sottoscrivendo questo mandato autorizzi %(creditor)s (identificativo creditore %(ci)s) a richiedere alla tua "
    "banca l'addebito del tuo conto e la tua banca a procedere in conformità alle istruzioni ricevute. Hai diritto "
    "al rimborso dalla tua banca alle condizioni del tuo contratto, entro 8 settimane dalla data di addebito. "
    "Riceverai un avviso prima di ogni addebito."
)


def creditor_for(payment: Payment, *, needs_creditor_id: bool) -> BankAccount | None:
    """The bank account of the nearest territory (the payment's, or an ancestor) that has one."""
    from piazza.payments.bank.models import BankAccount

    accounts = BankAccount.objects.select_related("territory")
    if needs_creditor_id:
        accounts = accounts.exclude(creditor_id="")
    path = payment.territory.path if payment.territory is not None else ""
    candidates = [a for a in accounts.order_by("-territory__depth") if path.startswith(a.territory.path)]
    if candidates:
        return candidates[0]
    return accounts.filter(territory__depth=0).first()


def has_account_for(territory: Territory | None, *, needs_creditor_id: bool) -> bool:
    """A party bank account at `territory` or above it (else a national one), as `creditor_for`
    finds it: where the bank rails can be offered to payers (issue 11 item 1)."""
    from piazza.payments.bank.models import BankAccount

    accounts = BankAccount.objects.all()
    if needs_creditor_id:
        accounts = accounts.exclude(creditor_id="")
    if territory is None:
        return accounts.filter(territory__depth=0).exists()
    ids = [int(part) for part in territory.path.strip("/").split("/") if part]
    return accounts.filter(Q(territory_id__in=ids) | Q(territory__depth=0)).exists()


class BankTransferProvider(PaymentProvider):
    identifier = "bank_transfer"
    verbose_name = _("Bonifico bancario")
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ONE_OFF})

    def is_available(self) -> bool:
        from piazza.payments.bank.models import BankAccount

        return BankAccount.objects.exists()

    def is_available_for(self, territory: Territory | None, currency: str = "EUR") -> bool:
        return currency == "EUR" and has_account_for(territory, needs_creditor_id=False)

    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        from piazza.payments.bank.actions import matching as matching_actions

        account = creditor_for(payment, needs_creditor_id=False)
        if account is None:
            return ChargeResult(outcome=Outcome.FAILED, failure_code="bank_transfer_unavailable")
        expected = matching_actions.expect_transfer(
            actor=None,
            account=account,
            amount=payment.amount,
            payer_name=payment.payer_name or payment.payer_email,
            payer_email=payment.payer_email,
            description=payment.description,
            credit_account=get_account("provider_clearing", key=self.identifier, currency=payment.currency),
            creation_key=f"payment:{payment.pk}",
            payment=payment,
        )
        return ChargeResult(
            outcome=Outcome.REQUIRES_ACTION,
            reference=expected.reference,
            action_url=reverse("bank:pay_by_transfer", args=[payment.token]),
        )

    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        from piazza.payments.bank.models import ExpectedTransfer, TransferStatus

        expected = ExpectedTransfer.objects.filter(payment=payment).first()
        if expected is None:
            return RemoteState(outcome=Outcome.PENDING)
        if expected.status in (TransferStatus.PAID, TransferStatus.OVERPAID):
            return RemoteState(outcome=Outcome.SUCCEEDED, reference=expected.reference)
        if expected.status == TransferStatus.CANCELLED:
            return RemoteState(outcome=Outcome.CANCELED, reference=expected.reference)
        return RemoteState(outcome=Outcome.PENDING, reference=expected.reference)


class MandateCheckoutForm(forms.Form):
    debtor_name = forms.CharField(label=_("Intestatario del conto"), max_length=140)
    debtor_iban = forms.CharField(label=_("IBAN"), max_length=42, help_text=_("27 caratteri per un conto italiano."))
    consent = forms.BooleanField(
        label=_("Autorizzo l'addebito diretto SEPA alle condizioni qui sopra"),
        error_messages={"required": _("Per pagare con addebito diretto devi autorizzare il mandato.")},
    )


class SepaDirectDebitProvider(PaymentProvider):
    identifier = "sepa_dd"
    verbose_name = _("Addebito diretto SEPA")
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ONE_OFF,
            Capability.RECURRING,
            Capability.SAVED_METHOD,
            Capability.MANDATE,
        }
    )

    def is_available(self) -> bool:
        from piazza.payments.bank.models import BankAccount

        return BankAccount.objects.exclude(creditor_id="").exists()

    def is_available_for(self, territory: Territory | None, currency: str = "EUR") -> bool:
        return currency == "EUR" and has_account_for(territory, needs_creditor_id=True)

    def checkout_form(self) -> type[forms.Form]:
        return MandateCheckoutForm

    def consent_text(self, account: BankAccount) -> str:
        return str(MANDATE_CONSENT) % {"creditor": account.name, "ci": account.creditor_id}

    def _due_date(self, account: BankAccount) -> datetime.date:
        """The first TARGET2 business day after the pre-notification lead, plus a day of margin."""
        from piazza.payments.bank.actions.collections import earliest_collection_date

        return earliest_collection_date(account.prenotification_days + 1)

    def start(self, payment: Payment, attempt: PaymentAttempt, data: dict[str, Any], return_url: str) -> ChargeResult:
        from piazza.payments.bank.actions import mandates as mandates_actions
        from piazza.payments.bank.models import MandateChannel

        account = creditor_for(payment, needs_creditor_id=True)
        if account is None:
            return ChargeResult(outcome=Outcome.FAILED, failure_code="sepa_dd_unavailable")
        mandate = mandates_actions.sign_mandate(
            actor=None,
            creditor=account,
            debtor_name=str(data.get("debtor_name", "")),
            debtor_iban=str(data.get("debtor_iban", "")),
            debtor_email=payment.payer_email,
            signed_on=timezone.localdate(),
            channel=MandateChannel.ONLINE,
            consent_text=self.consent_text(account) if data.get("consent") else "",
        )
        return self._collect(payment, attempt, mandate, first=True)

    def _collect(self, payment: Payment, attempt: PaymentAttempt, mandate: Any, *, first: bool) -> ChargeResult:
        from piazza.payments.bank.actions import collections as collections_actions
        from piazza.payments.bank.iban import mask_iban

        collection = collections_actions.schedule_collection(
            actor=None,
            mandate=mandate,
            amount=payment.amount,
            due_date=self._due_date(mandate.creditor),
            description=payment.description,
            creation_key=attempt.provider_key,
            recurring=payment.save_method or payment.schedule_id is not None,
            payment=payment,
            credit_account=get_account("provider_clearing", key=self.identifier, currency=payment.currency),
        )
        return ChargeResult(
            outcome=Outcome.PENDING,
            reference=collection.end_to_end_id,
            saved_method=SavedMethodInfo(mandate.reference, label=f"SEPA {mask_iban(mandate.debtor_iban)}")
            if first
            else None,
        )

    def charge_saved(self, payment: Payment, attempt: PaymentAttempt, method: SavedMethod) -> ChargeResult:
        from piazza.payments.bank.models import Mandate

        mandate = Mandate.objects.filter(reference=method.method_reference).first()
        if mandate is None or not mandate.usable:
            return ChargeResult(outcome=Outcome.FAILED, failure_code="mandate_revoked")
        return self._collect(payment, attempt, mandate, first=False)

    def fetch(self, payment: Payment, attempt: PaymentAttempt | None = None) -> RemoteState:
        from piazza.payments.bank.models import Collection, CollectionStatus

        collection = Collection.objects.filter(payment=payment).order_by("-id").first()
        if collection is None:
            return RemoteState(outcome=Outcome.PENDING)
        if collection.status == CollectionStatus.CANCELLED:
            return RemoteState(outcome=Outcome.CANCELED, reference=collection.end_to_end_id)
        if collection.status == CollectionStatus.COLLECTED:
            return RemoteState(outcome=Outcome.SUCCEEDED, reference=collection.end_to_end_id)
        if collection.status == CollectionStatus.FAILED and collection.ledger_transaction_id is not None:
            # Collected, then returned by the debtor's bank: for payments, a lost dispute.
            return RemoteState(
                outcome=Outcome.SUCCEEDED,
                reference=collection.end_to_end_id,
                disputes=[
                    RemoteDispute(
                        reference=f"{collection.end_to_end_id}:{collection.return_reason}",
                        amount=collection.amount,
                        fee=Money.zero(collection.currency),
                        status="lost",
                        reason=collection.return_reason,
                    )
                ],
            )
        return RemoteState(outcome=Outcome.PENDING, reference=collection.end_to_end_id)
